/**
 * `Batcher` (group commit): items added under one key within a short window, or until the batch is full, are handed
 * to `send` together, and each caller gets its own item's result. A `send` that fails fails every item of its batch
 * with the same error: no item is guessed to have succeeded. Runtime-neutral; the window is a timer that tests may
 * replace with one they fire themselves.
 */

export interface BatcherOptions<K, T, R> {
  /** How long the first item of a batch waits for others, in ms; 0 sends every item alone, at once. */
  windowMs: number;
  /** Most items in one batch: a full batch is sent at once, without waiting for the window. */
  maxSize: number;
  /** Send one batch: resolves with one result per item, in the items' order. */
  send: (key: K, items: T[]) => Promise<R[]>;
  /**
   * Arms a batch's window: call `fire` after `ms` (default: `setTimeout`); firing for a batch already sent (it filled
   * up first) does nothing. Tests pass their own, to send batches when they choose.
   */
  schedule?: (fire: () => void, ms: number) => void;
}

/**
 * Keeps work this caller started alive past the caller itself (a Worker passes `ctx.waitUntil`): the window a
 * caller opened and the batch it sent serve other callers too, so they must finish even if it goes away.
 */
export type KeepAlive = (work: Promise<unknown>) => void;

interface Batch<T, R> {
  items: T[];
  results: Promise<R[]>;
}

const defaultSchedule = (fire: () => void, ms: number) => {
  setTimeout(fire, ms);
};

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
    if (!(windowMs >= 0 && maxSize >= 1)) throw new RangeError(`Batcher windowMs ${windowMs}, maxSize ${maxSize}`);
    this.#options = { ...options, schedule: options.schedule ?? defaultSchedule };
  }

  /**
   * Add `item` to `key`'s open batch, or open one, and wait for the item's own result. The caller that opens a batch
   * sends it when its window ends; a full batch takes no more items and waits for that moment too. The opener's code
   * alone sends and settles the batch: workerd refuses work done in one request on behalf of another ("Cannot perform
   * I/O on behalf of a different request"), so a full batch is not sent from the caller that filled it.
   */
  add(key: K, item: T, keepAlive?: KeepAlive): Promise<R> {
    const { windowMs, maxSize, schedule, send } = this.#options;
    const open = this.#open.get(key);
    if (open) {
      const index = open.items.push(item) - 1;
      if (open.items.length >= maxSize) this.#open.delete(key);
      return open.results.then((results) => results[index] as R);
    }
    const items = [item];
    const alone = windowMs === 0 || maxSize === 1;
    const results = new Promise<R[]>((resolve, reject) => {
      const fire = () => {
        if (this.#open.get(key)?.items === items) this.#open.delete(key);
        send(key, items)
          .then((answers) => {
            if (answers.length !== items.length) {
              throw new Error(`Batcher: ${answers.length} results for ${items.length} items`);
            }
            return answers;
          })
          .then(resolve, reject);
      };
      if (alone) fire();
      else schedule(fire, windowMs);
    });
    if (!alone) this.#open.set(key, { items, results });
    keepAlive?.(results.catch(() => {}));
    return results.then((answers) => answers[0] as R);
  }
}
