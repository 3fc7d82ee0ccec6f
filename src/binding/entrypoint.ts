/**
 * `Edgeloop`: the named WorkerEntrypoint other Workers bind (`[[services]] binding = "EDGELOOP", service =
 * "edgeloop", entrypoint = "Edgeloop", props = { … }`). Who the caller acts as comes from the binding's props
 * (props.ts); there is no bearer token on this path. Two faces, both running the service's own app in this isolate,
 * so names, inputs, limits, validation and problems are the HTTP API's:
 *
 * - `fetch(request)`: the HTTP API over the binding; the typed client uses it with `createClient({ binding })`.
 * - RPC methods per family (`counter(name).increment()`, `lock(name).acquire()`, `fanout(requests)`, `jobs()`…):
 *   targets.ts; each answers its operation's JSON and throws its refusal with the problem in the message.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { bound } from "./auth";
import { call, json, type Send } from "./call";
import type { BindingProps } from "./props";
import {
  CounterTarget,
  FlowTarget,
  JobsTarget,
  LockTarget,
  RateLimitTarget,
  RoomTarget,
  SchedulesTarget,
  SemaphoreTarget,
} from "./targets";

/** The app the entrypoint runs each call through (functions/index.ts's `app.fetch`). */
export type Serve = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

type Json = Record<string, unknown>;

/**
 * The entrypoint class serving `serve` (made here, exported by functions/index.ts: the app lives there).
 *
 * @example
 * export const Edgeloop = edgeloopEntrypoint(app.fetch);
 */
export function edgeloopEntrypoint(serve: Serve) {
  return class Edgeloop extends WorkerEntrypoint<Env, BindingProps> {
    /** Runs a request through the app as this binding's caller (a JS private: not an RPC method). */
    readonly #send: Send = async (request) => serve(bound(request, this.ctx.props), this.env, this.ctx);

    /** The HTTP API, as `createClient({ binding: env.EDGELOOP })` calls it. */
    override fetch(request: Request): Promise<Response> {
      return this.#send(request);
    }

    /** Many upstream calls as one: `{ results, summary }`, as POST /v1/fanout answers. */
    fanout(requests: unknown, options: Json = {}): Promise<Json> {
      return json(this.#send, "/v1/fanout", { json: { ...options, requests } });
    }

    /** The fan-out's results as each settles: NDJSON bytes (a result a line, then the summary). */
    async fanoutStream(requests: unknown, options: Json = {}): Promise<ReadableStream<Uint8Array> | null> {
      const init = { json: { ...options, requests }, headers: { accept: "application/x-ndjson" } };
      return (await call(this.#send, "/v1/fanout", init)).body;
    }

    /** An upstream's pages: `{ pages, summary }`, as POST /v1/pages answers. */
    pages(spec: Json): Promise<Json> {
      return json(this.#send, "/v1/pages", { json: spec });
    }

    /** The pages as each is fetched, in page order: NDJSON bytes. */
    async pagesStream(spec: Json): Promise<ReadableStream<Uint8Array> | null> {
      const init = { json: spec, headers: { accept: "application/x-ndjson" } };
      return (await call(this.#send, "/v1/pages", init)).body;
    }

    counter(name: string): CounterTarget {
      return new CounterTarget(this.#send, name);
    }

    lock(name: string): LockTarget {
      return new LockTarget(this.#send, name);
    }

    semaphore(name: string, options: { limit: number }): SemaphoreTarget {
      return new SemaphoreTarget(this.#send, name, options.limit);
    }

    rateLimit(key: string, options: { limit: number; periodMs: number; burst?: number }): RateLimitTarget {
      return new RateLimitTarget(this.#send, key, options);
    }

    jobs(): JobsTarget {
      return new JobsTarget(this.#send);
    }

    schedules(): SchedulesTarget {
      return new SchedulesTarget(this.#send);
    }

    flow(key: string): FlowTarget {
      return new FlowTarget(this.#send, key);
    }

    room(name: string): RoomTarget {
      return new RoomTarget(this.#send, name);
    }
  };
}
