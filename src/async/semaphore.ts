/**
 * `Semaphore` (asyncio.Semaphore): at most `permits` holders at once, waiters served first-in first-out. A waiter
 * whose signal fires leaves the queue at once and rejects with the signal's reason, so cancelled work never takes a
 * permit.
 */

interface Waiter {
  grant(): void;
}

export class Semaphore {
  readonly permits: number;
  #available: number;
  readonly #waiters: Waiter[] = [];

  /**
   * @param permits how many holders at once (a positive integer, or `Infinity` for no bound)
   * @example
   * const sem = new Semaphore(6);
   * await sem.withPermit(() => fetch(url));
   */
  constructor(permits: number) {
    if (!(permits >= 1) || (!Number.isInteger(permits) && permits !== Number.POSITIVE_INFINITY)) {
      throw new RangeError(`Semaphore permits must be a positive integer or Infinity, got ${permits}`);
    }
    this.permits = permits;
    this.#available = permits;
  }

  /** Permits free right now. */
  get available(): number {
    return this.#available;
  }

  /** Callers queued for a permit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Take a permit now if one is free (and nobody is queued ahead). */
  tryAcquire(): boolean {
    if (this.#available > 0 && this.#waiters.length === 0) {
      this.#available--;
      return true;
    }
    return false;
  }

  /**
   * Wait for a permit. Rejects with `signal.reason` if the signal fires first; the waiter is then removed from the
   * queue and takes no permit.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Give a permit back: the oldest waiter gets it, or it becomes free. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) {
      next.grant();
      return;
    }
    if (this.permits === Number.POSITIVE_INFINITY) return;
    if (this.#available >= this.permits) throw new Error("Semaphore released more times than acquired");
    this.#available++;
  }

  /**
   * Run `fn` holding a permit, released however `fn` ends.
   *
   * @example
   * const body = await sem.withPermit(async () => (await fetch(url)).text(), request.signal);
   */
  async withPermit<T>(fn: () => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
