/**
 * `EdgeloopError`: every refusal the service answers (an `application/problem+json` body) becomes one, carrying the
 * problem's fields; `LeaseLostError` is the reason a lease's signal fires when the lease is lost.
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

/** `Retry-After` in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1_000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
