/**
 * `retry(fn, options)`: call `fn` until it succeeds, with exponential backoff and full jitter
 * (delay = random × min(maxMs, baseMs × 2^(attempt-1)), as in "Exponential Backoff And Jitter", AWS 2015).
 *
 * - A `retryAfterMs` number on the thrown error (e.g. from an HTTP `Retry-After`) replaces the jittered delay.
 * - It never sleeps past the deadline: when the next attempt could not start before it, the last error is thrown.
 * - It stops at once when the signal fires, during an attempt or a backoff, and never retries an abort.
 */
import { deadlineAt, isAbort } from "./deadline.js";
import { sleep as realSleep, type Sleep } from "./sleep.js";

export interface RetryOptions {
  /** Total attempts, the first included (default 3). */
  attempts?: number;
  /** Backoff base in ms (default 100). */
  baseMs?: number;
  /** Backoff ceiling in ms (default 2000). */
  maxMs?: number;
  /** Whether this error is worth another attempt (default: every error that is not an abort). */
  retryOn?: (error: unknown, attempt: number) => boolean;
  /** Stops everything at once: the attempt in flight sees it, a backoff sleep ends. */
  signal?: AbortSignal;
  /** Absolute time (on `now`'s clock) after which no attempt starts. */
  deadline?: number;
  /** Called before each backoff with the attempt that failed and the delay chosen. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Injected for tests. */
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
}

/** The backoff before attempt `attempt + 1`: full jitter over an exponentially growing, capped window. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const window = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(random() * window);
}

/** The `retryAfterMs` hint an error carries, if any. */
function retryAfterOf(error: unknown): number | undefined {
  if (typeof error === "object" && error !== null && "retryAfterMs" in error) {
    const v = error.retryAfterMs;
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

/**
 * @example
 * const res = await retry(
 *   async (attempt, signal) => {
 *     const r = await fetch(url, { signal });
 *     if (r.status === 503) throw Object.assign(new Error("busy"), { retryAfterMs: 1_000 });
 *     return r;
 *   },
 *   { attempts: 4, baseMs: 100, maxMs: 2_000, signal, deadline: Date.now() + 10_000 },
 * );
 */
export async function retry<T>(
  fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T> | T,
  options: RetryOptions = {},
): Promise<T> {
  const {
    attempts = 3,
    baseMs = 100,
    maxMs = 2_000,
    retryOn = (error: unknown) => !isAbort(error),
    signal,
    sleep = realSleep,
    random = Math.random,
    now = Date.now,
  } = options;
  if (!(attempts >= 1) || !Number.isInteger(attempts)) throw new RangeError(`attempts must be ≥ 1, got ${attempts}`);
  const deadline = deadlineAt(options.deadline ?? Number.POSITIVE_INFINITY, now);
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw signal.reason;
    try {
      return await fn(attempt, signal);
    } catch (error) {
      if (signal?.aborted || attempt >= attempts || !retryOn(error, attempt)) throw error;
      const delayMs = retryAfterOf(error) ?? backoffDelay(attempt, baseMs, maxMs, random);
      if (delayMs >= deadline.remaining()) throw error;
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
