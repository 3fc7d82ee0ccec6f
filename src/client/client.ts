/**
 * `createClient`: the typed client of every family, for Node ≥ 20 and browsers. One transport (base URL, token,
 * fetch, the 429/503 retry rule) shared by fan-out, locks, semaphores, counters, rate limits, jobs, schedules, flow keys
 * and rooms.
 */
import { CounterClient } from "./counters.js";
import { createFanout, type Fanout } from "./fanout.js";
import { FlowClient } from "./flow.js";
import { seg, Transport, type TransportOptions } from "./http.js";
import { JobsClient } from "./jobs.js";
import { LockClient } from "./locks.js";
import { createPages, type Pages } from "./pages.js";
import { RateLimitClient, type RateLimitOptions } from "./ratelimits.js";
import { RoomClient, type RoomClientOptions } from "./rooms.js";
import { SchedulesClient } from "./schedules.js";
import { SemaphoreClient } from "./semaphores.js";
import { TokensClient } from "./tokens.js";
import type { TicketInput } from "./types.js";

export interface ClientOptions extends TransportOptions {
  /** A WebSocket implementation for rooms and `jobs.watch` where there is no global one (Node 20: the `ws` package). */
  WebSocket?: unknown;
}

export interface EdgeloopClient {
  /** Many upstream calls as one (`gather`), or streamed as they settle (`fanout.stream`, `as_completed`). */
  fanout: Fanout;
  /** An upstream's pages, fetched at the edge and streamed back in page order (`async for page in fetch_pages`). */
  pages: Pages;
  /** A lock (`asyncio.Lock`): `acquire` → a lease for `await using`, or `withLock(fn)`. */
  lock(name: string): LockClient;
  /** A semaphore of `limit` permits (`asyncio.Semaphore`): `acquire({ permits })`, or `withPermit(fn)`. */
  semaphore(name: string, options: { limit: number }): SemaphoreClient;
  /** An atomic counter: `get`, `increment`, `set`, `reset`, fenced by a lock's lease. */
  counter(name: string): CounterClient;
  /** A rate limit of `limit` per `periodMs` under `key`: `take(n)`, or `acquire(n)` to wait for it. */
  rateLimit(key: string, options: RateLimitOptions): RateLimitClient;
  /** Durable fan-outs and webhooks: create, follow (`watch`, `wait`), read every result, cancel, retry. */
  jobs: JobsClient;
  /** A flow-control key shared by jobs, fan-outs and crawls (`flow` on each): its state, pause, resume. */
  flow(key: string): FlowClient;
  /** Cron schedules, each creating a job at its fire times: create, list, get, pause, resume, delete. */
  schedules: SchedulesClient;
  /** A member of room `name` as `user` (a fresh single-use ticket for every connection). */
  room(name: string, user: string, options?: Partial<Omit<RoomClientOptions, "room" | "user">>): RoomClient;
  /** The scoped tokens (the root token only): create, list, get, revoke, rotate. */
  tokens: TokensClient;
}

/**
 * @example
 * import { createClient } from "edgeloop/client";
 * const client = createClient({ baseUrl: "http://127.0.0.1:8787", token: process.env.EDGELOOP_TOKEN });
 * await using lease = await client.lock("orders").acquire({ ttlMs: 10_000, waitMs: 5_000 });
 * await client.counter("orders").increment(1, { fence: lease });
 */
export function createClient(options: ClientOptions): EdgeloopClient {
  const transport = new Transport(options);
  const getTicket = async (room: string, user: string) =>
    (
      await transport.json<{ ticket: string }>(`/v1/rooms/${seg(room)}/tickets`, {
        json: { user, ttlSec: 60 } satisfies TicketInput,
        idempotent: true, // another ticket spends nothing
      })
    ).ticket;
  const room = (name: string, user: string, extra: Partial<Omit<RoomClientOptions, "room" | "user">> = {}) =>
    new RoomClient({ baseUrl: transport.baseUrl, getTicket, WebSocket: options.WebSocket, ...extra, room: name, user });
  return {
    fanout: createFanout(transport),
    pages: createPages(transport),
    lock: (name) => new LockClient(transport, name),
    semaphore: (name, { limit }) => new SemaphoreClient(transport, name, limit),
    counter: (name) => new CounterClient(transport, name),
    rateLimit: (key, limits) => new RateLimitClient(transport, key, limits),
    jobs: new JobsClient(transport, (name, user, wrap) =>
      room(name, user, { getTicket: (r, u) => wrap(() => getTicket(r, u)) }),
    ),
    flow: (key) => new FlowClient(transport, key),
    schedules: new SchedulesClient(transport),
    room,
    tokens: new TokensClient(transport),
  };
}
