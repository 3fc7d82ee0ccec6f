/**
 * Deadlines and timeouts as AbortSignals (asyncio.timeout / wait_for): a cancellable timer signal, combining
 * signals, classifying why a signal fired, and the time left before a deadline.
 *
 * A timer's reason is a `DOMException` named `TimeoutError` (as `AbortSignal.timeout` gives); a caller's cancel is
 * usually an `AbortError`. `AbortSignal.timeout` is not used because its timer cannot be cleared.
 */

/** A signal that fires with a `TimeoutError` after `ms`, and a `cancel()` that clears the timer. */
export interface Timer {
  readonly signal: AbortSignal;
  cancel(): void;
}

/**
 * Start a timer whose signal fires with `new DOMException(message, "TimeoutError")` after `ms` milliseconds.
 *
 * @example
 * const t = timer(200, "upstream timed out after 200 ms");
 * try { await fetch(url, { signal: t.signal }) } finally { t.cancel() }
 */
export function timer(ms: number, message = `timed out after ${ms} ms`): Timer {
  const controller = new AbortController();
  const handle = setTimeout(() => controller.abort(timeoutError(message)), Math.max(0, ms));
  return { signal: controller.signal, cancel: () => clearTimeout(handle) };
}

/** A `DOMException` named `TimeoutError`, the reason timer signals fire with. */
function timeoutError(message: string): DOMException {
  return new DOMException(message, "TimeoutError");
}

/** A `DOMException` named `AbortError`, the reason a plain `AbortController.abort()` gives. */
export function abortError(message = "The operation was aborted."): DOMException {
  return new DOMException(message, "AbortError");
}

/**
 * One signal that fires when any of the given ones does (undefined entries are skipped), via `AbortSignal.any`.
 *
 * @example
 * const signal = anySignal([request.signal, deadline.signal, attempt.signal]);
 */
export function anySignal(signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0] as AbortSignal;
  return AbortSignal.any(present);
}

/** True when `err` is a timeout (`TimeoutError`, as thrown by timer and `AbortSignal.timeout` signals). */
export function isTimeout(err: unknown): boolean {
  return errorName(err) === "TimeoutError";
}

/** True when `err` is a cancellation (`AbortError`). */
export function isAbort(err: unknown): boolean {
  return errorName(err) === "AbortError";
}

function errorName(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "name" in err && typeof err.name === "string") return err.name;
  return undefined;
}

/** An absolute deadline: milliseconds left (never negative) and whether it has passed, on an injectable clock. */
export interface Deadline {
  /** The clock time at which it expires (`Infinity` when there is none). */
  readonly at: number;
  remaining(): number;
  expired(): boolean;
}

/**
 * A deadline `ms` from now (none when `ms` is undefined).
 *
 * @example
 * const d = deadline(15_000);
 * if (d.remaining() < backoff) throw lastError; // do not sleep past it
 */
export function deadline(ms: number | undefined, now: () => number = Date.now): Deadline {
  const at = ms === undefined ? Number.POSITIVE_INFINITY : now() + ms;
  return deadlineAt(at, now);
}

/**
 * A deadline at an absolute time of `now`'s clock.
 *
 * @example
 * const d = deadlineAt(startedAt + options.deadlineMs);
 */
export function deadlineAt(at: number, now: () => number = Date.now): Deadline {
  return {
    at,
    remaining: () => Math.max(0, at - now()),
    expired: () => now() >= at,
  };
}
