/**
 * `EdgeloopError`: every refusal the service answers (an `application/problem+json` body, or a room's refusal of a
 * join or a message) becomes one, carrying the problem's fields; `LeaseLostError` is the reason a lease's signal fires
 * when the lease is lost; `RoomClosedError` what a room's pending work rejects with once its socket is closed for good.
 * `unreachable` turns a request that got no answer into an error naming where it went (never the token).
 */
import type { Problem } from "./types.js";

/**
 * An error answer of the service: the problem+json fields (`type`, `title`, `status`, `detail`, `errors`, and
 * extensions such as `waiters`, `highestToken`, `limit`), the `Retry-After` it gave, and the request id.
 *
 * @example
 * try {
 *   await client.counter("stock").increment(-1, { min: 0 });
 * } catch (err) {
 *   if (err instanceof EdgeloopError && err.type === "urn:edgeloop:problem:counter-out-of-bounds") soldOut();
 *   else throw err;
 * }
 */
export class EdgeloopError extends Error {
  override readonly name = "EdgeloopError";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: { path: string; message: string }[];
  /** The whole problem body, extensions included (`error.problem.waiters`, `error.problem.limit`…). */
  readonly problem: Problem;
  /** The answer's `Retry-After`, in ms, when it had one (429, 503). */
  readonly retryAfterMs?: number;
  /** The `x-request-id` of the answer, which the service's logs carry too. */
  readonly requestId?: string;

  constructor(problem: Problem, init: { retryAfterMs?: number; requestId?: string } = {}) {
    super(`${problem.status} ${problem.detail}`);
    this.problem = problem;
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    if (problem.errors) this.errors = problem.errors;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.requestId !== undefined) this.requestId = init.requestId;
  }

  /** The error of a response that is not ok: its problem+json, or a problem made up from its status and text. */
  static async from(res: Response): Promise<EdgeloopError> {
    const text = await res.text().catch(() => "");
    let problem: Problem | undefined;
    try {
      const body = JSON.parse(text) as Partial<Problem>;
      if (typeof body.type === "string" && typeof body.detail === "string") {
        problem = { ...body, type: body.type, detail: body.detail, title: body.title ?? "", status: res.status };
      }
    } catch {
      // not JSON: described below
    }
    problem ??= {
      type: "about:blank",
      title: res.statusText,
      status: res.status,
      detail: text.slice(0, 500) || `HTTP ${res.status}`,
    };
    const requestId = res.headers.get("x-request-id") ?? undefined;
    return new EdgeloopError(problem, { retryAfterMs: parseRetryAfter(res.headers.get("retry-after")), requestId });
  }
}

/** The reason a lease's `signal` fires: it could not be renewed (expired, or taken over) before it was released. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
}

/**
 * What a room's `ready`, `send()` and loops reject with once its socket is closed for good: by `close()`, or by the
 * service for a reason reconnecting would only repeat (1008 over the rate, 1009 a frame too large).
 */
export class RoomClosedError extends Error {
  override readonly name = "RoomClosedError";
  /** The WebSocket close code (1000 when the client closed it). */
  readonly code: number;
  readonly reason: string;

  constructor(code: number, reason: string) {
    super(`the room's socket closed (${code}${reason ? `: ${reason}` : ""})`);
    this.code = code;
    this.reason = reason;
  }
}

/**
 * A request that got no answer (connection refused, unknown host, TLS…): an error naming the URL it went to (without
 * its query) and what to check, the runtime's own error as its `cause`. The token is never in it.
 *
 * @example
 * unreachable("http://127.0.0.1:9999/v1/counters/c", err).message
 * // "could not reach http://127.0.0.1:9999/v1/counters/c (fetch failed: connect ECONNREFUSED 127.0.0.1:9999): check
 * //  the client's baseUrl and that the service is running"
 */
export function unreachable(url: string, cause: unknown): TypeError {
  const inner = cause instanceof Error && cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
  const why = cause instanceof Error ? `${cause.message}${inner}` : String(cause);
  return new TypeError(`could not reach ${url} (${why}): check the client's baseUrl and that the service is running`, {
    cause,
  });
}

/** `Retry-After` in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1_000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
