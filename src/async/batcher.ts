/**
 * `Batcher` (group commit): items added under one key within a short window, or until the batch is full, are handed
 * to `send` together, and each caller gets its own item's result. A `send` that fails fails every item of its batch
 * with the same error: no item is guessed to have succeeded. Runtime-neutral.
 *
 * Callers share plain data, never a promise: each waits on its own timers and reads its answer from the batch. On
 * Workers, a promise one request settles for another can wake the other's code inside the first request, where its
 * I/O is refused ("Cannot perform I/O on behalf of a different request"), or not at all once the first request has
 * ended (measured under load with clients hanging up); timers always fire in their own request.
 */
import { sleep } from "./sleep.js";

export interface BatcherOptions<K, T, R> {
  /** How long an item waits for others before its batch is sent, in ms; 0 sends every item alone, at once. */
  windowMs: number;
  /** Most items in one batch: a full batch takes no more (the next item opens the next batch). */
  maxSize: number;
  /** Send one batch: resolves with one result per item, in the items' order. */
  send: (key: K, items: T[]) => Promise<R[]>;
  /** Waits out a window in the caller's own context (default: a timer). Tests pass one whose windows they open. */
  window?: (ms: number) => Promise<void>;
}

/**
 * Keeps work this caller started alive past the caller itself (a Worker passes `ctx.waitUntil`): the batch it sends
 * serves other callers too, so it must finish even if this caller's client goes away.
 */
export type KeepAlive = (work: Promise<unknown>) => void;

interface Batch<T, R> {
  items: T[];
  sent: boolean;
  outcome?: { results: R[] } | { error: unknown };
}

/** How long a caller looks for the answer of a batch another caller sent before giving up on it. */
const ANSWER_TIMEOUT_MS = 60_000;

export class Batcher<K, T, R> {
  readonly #options: Required<BatcherOptions<K, T, R>>;
  readonly #open = new Map<K, Batch<T, R>>();

  /**
   * @example
   * const writes = new Batcher<string, number, number>({
   *   windowMs: 2,
   *   maxSize: 64,
   *   send: (name, bys) => env.COUNTER.getByName(name).addAll(bys),
   * });
   * const value = await writes.add("orders", 1, (p) => ctx.waitUntil(p));
   */
  constructor(options: BatcherOptions<K, T, R>) {
    const { windowMs, maxSize } = options;
    if (!(windowMs >= 0 && maxSize >= 1)) throw new RangeError("Batcher: windowMs ≥ 0, maxSize ≥ 1");
    this.#options = { ...options, window: options.window ?? sleep };
  }

  /**
   * Add `item` to `key`'s open batch, or open one, and wait for the item's own result. When its window is over, the
   * caller sends its batch unless another caller of the batch already has (the first window over is the opener's),
   * then reads its answer once the batch is answered.
   */
  async add(key: K, item: T, keepAlive?: KeepAlive): Promise<R> {
    const { windowMs, maxSize, window } = this.#options;
    let batch = this.#open.get(key);
    if (!batch) {
      batch = { items: [], sent: false };
      if (windowMs > 0) this.#open.set(key, batch);
    }
    const index = batch.items.push(item) - 1;
    if (batch.items.length >= maxSize && this.#open.get(key) === batch) this.#open.delete(key);
    if (windowMs > 0) await window(windowMs);
    if (!batch.sent) {
      const sending = this.#send(key, batch);
      keepAlive?.(sending);
      await sending;
    }
    // Every 1 ms at first, then less often (up to every 8 ms): a slow answer costs fewer wake-ups.
    for (let waited = 0, step = 1; !batch.outcome; waited += step, step = Math.min(step * 2, 8)) {
      if (waited > ANSWER_TIMEOUT_MS) throw new Error("Batcher: no answer");
      await sleep(step);
    }
    if ("error" in batch.outcome) throw batch.outcome.error;
    return batch.outcome.results[index] as R;
  }

  async #send(key: K, batch: Batch<T, R>): Promise<void> {
    batch.sent = true;
    if (this.#open.get(key) === batch) this.#open.delete(key);
    try {
      const results = await this.#options.send(key, batch.items);
      if (results.length !== batch.items.length) {
        throw new Error(`Batcher: ${results.length} results for ${batch.items.length} items`);
      }
      batch.outcome = { results };
    } catch (error) {
      batch.outcome = { error };
    }
  }
}
