/**
 * A FIFO queue of parked callers, as asyncio.Lock keeps its waiters: each `wait()` returns a promise that the owner
 * of the queue settles in arrival order (`shift`), removes early (`cancel`), or that times out on its own. A waiter
 * that times out leaves a gap the owner did not cause, so the queue tells it (`afterTimeout`): the ones behind may
 * now be served (a semaphore's smaller request that was only blocked by a larger one ahead).
 * Runtime-neutral: no Cloudflare imports, so lock and semaphore decisions can be unit-tested without workerd.
 */

interface Entry<T, R> {
  data: T;
  resolve: (value: R) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface WaitQueueOptions {
  /**
   * Called after a waiter timed out and left the line (its promise already settled with `onTimeout()`), so the
   * owner can re-run its hand-over for the waiters behind it. Not called for `shift`, `cancel` or `drain`: the owner
   * made those changes and knows.
   */
  afterTimeout?: (id: string) => void;
}

export interface Parked<T> {
  id: string;
  data: T;
}

/**
 * @example
 * const q = new WaitQueue<{ owner: string }, string>();
 * const granted = q.wait("w1", { owner: "a" }, 1000, () => "timed out");
 * q.shift()?.settle("granted"); // resolves `granted` with "granted"
 *
 * // An owner whose waiters may fit out of turn wakes the line when one gives up:
 * const line = new WaitQueue<Request, Result>({ afterTimeout: () => void handOver() });
 */
export class WaitQueue<T, R> {
  // A Map iterates in insertion order: the first key is the oldest waiter.
  readonly #entries = new Map<string, Entry<T, R>>();
  readonly #afterTimeout: ((id: string) => void) | undefined;

  constructor(options: WaitQueueOptions = {}) {
    this.#afterTimeout = options.afterTimeout;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Park `data` under `id` until it is shifted or cancelled, or for `timeoutMs`, then resolve with `onTimeout()`. */
  wait(id: string, data: T, timeoutMs: number, onTimeout: () => R): Promise<R> {
    if (this.#entries.has(id)) throw new Error(`waiter ${id} is already queued`);
    return new Promise<R>((resolve) => {
      const entry: Entry<T, R> = { data, resolve, timer: undefined };
      entry.timer = setTimeout(() => {
        if (this.#entries.get(id) !== entry) return;
        this.#entries.delete(id);
        resolve(onTimeout());
        this.#afterTimeout?.(id);
      }, timeoutMs);
      this.#entries.set(id, entry);
    });
  }

  /** The oldest waiter, without removing it. */
  peek(): Parked<T> | undefined {
    for (const [id, entry] of this.#entries) return { id, data: entry.data };
    return undefined;
  }

  /** Remove the oldest waiter and return a handle that settles its promise. */
  shift(): (Parked<T> & { settle(value: R): void }) | undefined {
    for (const [id, entry] of this.#entries) {
      this.#entries.delete(id);
      clearTimeout(entry.timer);
      return { id, data: entry.data, settle: entry.resolve };
    }
    return undefined;
  }

  /** Remove a waiter before its turn, settling its promise with `value`. False if it was not queued. */
  cancel(id: string, value: R): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(value);
    return true;
  }

  /** Settle every waiter with `value(data)` and empty the queue. */
  drain(value: (data: T) => R): void {
    for (const [id, entry] of this.#entries) {
      this.#entries.delete(id);
      clearTimeout(entry.timer);
      entry.resolve(value(entry.data));
    }
  }
}
