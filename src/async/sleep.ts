/**
 * `sleep(ms, signal)`: asyncio.sleep that an AbortSignal cancels at once, rejecting with the signal's reason.
 */

/**
 * Resolve after `ms` milliseconds, or reject with `signal.reason` as soon as the signal fires.
 *
 * @example
 * await sleep(100, AbortSignal.timeout(50)) // rejects with a TimeoutError after 50 ms
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The signature of `sleep`, so that retry and tests can inject a fake one. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
