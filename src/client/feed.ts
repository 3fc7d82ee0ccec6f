/**
 * A feed: values pushed by one producer (a room's messages, its presence changes) read by any number of `for await`
 * loops. Each loop gets what arrives after it starts; the first loop also gets what arrived before any loop did (up
 * to `maxBacklog`, oldest dropped first), so `await room.ready; for await (const m of room)` still sees the history
 * that came with the welcome. `end()` finishes every loop, `end(error)` makes each throw once it has read what it had.
 */

interface Reader<T> {
  values: T[];
  wake?: () => void;
}

export class Feed<T> implements AsyncIterable<T> {
  readonly #readers = new Set<Reader<T>>();
  #backlog: T[] | undefined = [];
  #ended: { error?: unknown } | undefined;
  readonly maxBacklog: number;

  constructor(maxBacklog = 1_000) {
    this.maxBacklog = maxBacklog;
  }

  /** Whether `end` was called. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  push(value: T): void {
    if (this.#ended) return;
    if (this.#backlog) {
      this.#backlog.push(value);
      if (this.#backlog.length > this.maxBacklog) this.#backlog.shift();
    }
    for (const reader of this.#readers) {
      reader.values.push(value);
      reader.wake?.();
    }
  }

  /** No more values: every loop ends once it has read what it holds (and throws `error`, if given). */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = error === undefined ? {} : { error };
    for (const reader of this.#readers) reader.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    const reader: Reader<T> = { values: this.#backlog ?? [] };
    this.#backlog = undefined;
    this.#readers.add(reader);
    const leave = (): IteratorReturnResult<undefined> => {
      this.#readers.delete(reader);
      reader.values = [];
      return { done: true, value: undefined };
    };
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (reader.values.length > 0) return { done: false, value: reader.values.shift() as T };
          if (this.#ended) {
            leave();
            if ("error" in this.#ended) throw this.#ended.error;
            return { done: true, value: undefined };
          }
          await new Promise<void>((resolve) => {
            reader.wake = resolve;
          });
          reader.wake = undefined;
        }
      },
      return: async () => leave(),
    };
  }
}
