/**
 * The client's one way to call the service: URL, bearer token, JSON in and out, problem+json into `EdgeloopError`,
 * and the one retry rule, after the answer's `Retry-After` plus jitter (or a full-jitter backoff without one), within
 * the attempts and the total wait the caller allows:
 *
 * - a 429 is tried again: the service refuses with it before anything is applied;
 * - a 503 only for a call that applying twice cannot change (`idempotent`), or a 503 that says nothing was applied
 *   (`too-many-waiters`): a Durable Object reset mid-call answers 503 too, and the call may have been applied.
 *
 * Nothing else is retried.
 */
import { retry } from "../async/retry.js";
import { EdgeloopError, unreachable } from "./errors.js";

/** How 429 and 503 answers are retried (503 only for idempotent calls): `false` never. */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 3). */
  attempts?: number;
  /** Total time spent waiting between attempts, in ms (default 10 000): a longer `Retry-After` is not waited for. */
  maxWaitMs?: number;
}

/** A service binding to edgeloop's `Edgeloop` entrypoint (`env.EDGELOOP` in a Worker): only its `fetch` is used. */
export interface BindingLike {
  fetch(input: string | Request, init?: RequestInit): Promise<Response>;
}

/** Where calls through a binding are addressed when no `baseUrl` is given: the binding ignores the host. */
export const BINDING_ORIGIN = "https://edgeloop.internal";

export interface TransportOptions {
  /**
   * The service, e.g. `http://127.0.0.1:8787`; in a page served by the service, omit it (the page's origin). With a
   * `binding`, the service's public URL if rooms (and `jobs.watch`) are used: their WebSockets go there.
   */
  baseUrl?: string;
  /**
   * Call edgeloop through a service binding (`env.EDGELOOP`) instead of over the network: no token, the caller is
   * who the binding's props say (docs/binding.md).
   */
  binding?: BindingLike;
  /** The API token or a scoped token, sent as `Authorization: Bearer …`; omit it only for the demo routes. */
  token?: string;
  /** With the root token: act in this namespace (`Edgeloop-Namespace`), as its scoped tokens do. */
  namespace?: string;
  /** A fetch implementation (default: the global one), e.g. to add headers or route calls elsewhere. */
  fetch?: typeof fetch;
  retry?: RetryPolicy | false;
}

export interface CallOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  /** The JSON body. */
  json?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  accept?: string;
  signal?: AbortSignal;
  /**
   * Sending the call twice has the effect of sending it once, so a 503 (which may come after the call was applied)
   * is retried. Default: true for GET, PUT and DELETE (RFC 9110 §9.2.2), false for POST.
   */
  idempotent?: boolean;
}

/** The 503s sent before anything was applied: retried whatever the call. */
const NOT_APPLIED = new Set(["urn:edgeloop:problem:too-many-waiters"]);

/** Methods whose calls are idempotent unless they say otherwise (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** Thrown inside the retry loop so its delay is the server's `Retry-After` plus jitter. */
class Retryable extends Error {
  readonly error: EdgeloopError;
  readonly retryAfterMs: number | undefined;

  constructor(error: EdgeloopError, retryAfterMs: number | undefined) {
    super(error.message);
    this.error = error;
    this.retryAfterMs = retryAfterMs;
  }
}

const pageOrigin = (): string | undefined => (globalThis as { location?: { origin: string } }).location?.origin;

/** `ms` plus up to half of it again (at least 100 ms of spread), so clients told the same time do not all return. */
const jittered = (ms: number) => ms + Math.floor(Math.random() * Math.max(100, ms / 2));

export class Transport {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly namespace: string | undefined;
  readonly fetch: typeof fetch;
  readonly #retry: { attempts: number; maxWaitMs: number };

  constructor(options: TransportOptions) {
    const { binding } = options;
    const baseUrl = options.baseUrl ?? (binding ? BINDING_ORIGIN : pageOrigin());
    if (!baseUrl) throw new TypeError("createClient needs a baseUrl outside a page");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.namespace = options.namespace;
    this.fetch =
      options.fetch ??
      (binding ? (input, init) => binding.fetch(input as string, init) : (input, init) => fetch(input, init));
    const policy = options.retry === false ? { attempts: 1 } : (options.retry ?? {});
    this.#retry = { attempts: policy.attempts ?? 3, maxWaitMs: policy.maxWaitMs ?? 10_000 };
    if (!(this.#retry.attempts >= 1)) throw new RangeError("retry.attempts must be at least 1");
  }

  url(path: string, query: CallOptions["query"] = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const search = params.toString() === "" ? "" : `?${params}`;
    return `${this.baseUrl}${path}${search}`;
  }

  /** Send a request; the response when it is ok, else an `EdgeloopError` (after the retries the rule allows). */
  async send(path: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: options.accept ?? "application/json", ...options.headers };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (this.namespace !== undefined) headers["edgeloop-namespace"] = this.namespace;
    if (options.json !== undefined) headers["content-type"] = "application/json";
    const method = options.method ?? (options.json === undefined ? "GET" : "POST");
    const idempotent = options.idempotent ?? IDEMPOTENT_METHODS.has(method);
    const init: RequestInit = {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      signal: options.signal,
    };
    const url = this.url(path, options.query);
    try {
      return await retry(
        async () => {
          const res = await this.fetch(url, init);
          if (res.ok) return res;
          const error = await EdgeloopError.from(res);
          const again = res.status === 429 || (res.status === 503 && (idempotent || NOT_APPLIED.has(error.type)));
          if (!again) throw error;
          throw new Retryable(error, error.retryAfterMs === undefined ? undefined : jittered(error.retryAfterMs));
        },
        {
          attempts: this.#retry.attempts,
          baseMs: 250,
          maxMs: 5_000,
          deadline: Date.now() + this.#retry.maxWaitMs,
          signal: options.signal,
          retryOn: (err) => err instanceof Retryable,
        },
      );
    } catch (err) {
      if (err instanceof Retryable) throw err.error;
      // No answer at all (fetch's TypeError): say where the request went, without its query (it may carry a fence).
      throw err instanceof TypeError ? unreachable(`${this.baseUrl}${path}`, err) : err;
    }
  }

  /** Send a request and read its JSON answer. */
  async json<T>(path: string, options: CallOptions = {}): Promise<T> {
    return (await (await this.send(path, options)).json()) as T;
  }
}

/** A path segment: a name, percent-encoded. */
export const seg = (name: string): string => encodeURIComponent(name);
