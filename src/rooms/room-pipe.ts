/**
 * An ordered pipe between two objects: at most one call in flight, and whatever is queued while it flies goes
 * together in the next one (group commit). Items leave in the order they were queued and each caller gets its own
 * item's answer. Used in both directions of a sharded room: a shard's frames to the sequencer, and the sequencer's
 * stream to each shard. No platform imports.
 */

/** Sends a batch of items in one call and answers one result per item, in order. */
export type SendBatch<T, R> = (items: T[]) => Promise<R[]>;

/**
 * @example
 * const pipe = new Pipe<number, number>(async (xs) => xs.map((x) => x * 2));
 * await Promise.all([pipe.call(1), pipe.call(2)]); // [2, 4], sent in one batch
 */
export class Pipe<T, R> {
  #queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  #busy = false;
  /** Batches sent so far. */
  calls = 0;

  /** `max`: most items in one call (a call's size is bounded: Durable Object RPC carries at most 32 MiB). */
  constructor(
    private readonly sendBatch: SendBatch<T, R>,
    private readonly max = Number.POSITIVE_INFINITY,
  ) {}

  /** Queue `item`; its answer once the batch that carries it has been answered. */
  call(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      // Items queued in this same turn leave together.
      if (!this.#busy) {
        this.#busy = true;
        queueMicrotask(() => void this.#pump());
      }
    });
  }

  /** Items waiting for the next batch. */
  get waiting(): number {
    return this.#queue.length;
  }

  async #pump(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.max);
      this.calls++;
      try {
        const results = await this.sendBatch(batch.map((b) => b.item));
        batch.forEach((b, i) => {
          b.resolve(results[i] as R);
        });
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.#busy = false;
  }
}
