/**
 * `prefetch(tasks, { ahead, signal })`: run tasks a few ahead of the consumer and yield their outcomes in input
 * order (a read-ahead buffer: aiostream's `map(..., ordered=True, task_limit=n)`). At most `ahead` tasks are started
 * and not yet handed to the consumer: when it asks for the next outcome, one more starts in the slot the last one
 * left, so a consumer that stops early leaves at most `ahead - 1` to abort. `tasks` may be lazy or endless: a
 * factory is taken from it only when a slot is free.
 *
 * Stopping the iteration (`break`, `return()`) aborts every task started and not yet yielded. A task whose signal
 * fires (the caller's, or that stop) is settled as rejected with the signal's reason at once, even if it ignores it.
 */
import { abortError, anySignal } from "./deadline.js";
import type { Settled, Task } from "./settle.js";

export interface PrefetchOptions {
  /** Tasks started ahead of the consumer, the one it waits for included (1: one at a time, in turn). */
  ahead: number;
  /** The caller's signal: aborting it aborts every task started. */
  signal?: AbortSignal;
}

interface Slot<T> {
  controller: AbortController;
  outcome: Promise<Settled<T>>;
}

/**
 * @example
 * const pages = (function* () { for (let n = 1; ; n++) yield (signal: AbortSignal) => fetchPage(n, signal) })();
 * for await (const r of prefetch(pages, { ahead: 4, signal })) {
 *   if (r.status === "rejected" || r.value.items.length === 0) break; // pages fetched ahead are aborted
 *   console.log(r.index, r.value.items);
 * }
 */
export async function* prefetch<T>(
  tasks: Iterable<Task<T>>,
  options: PrefetchOptions,
): AsyncGenerator<Settled<T>, void, undefined> {
  const { ahead, signal } = options;
  if (!(ahead >= 1) || !Number.isInteger(ahead)) throw new RangeError(`ahead must be a positive integer, got ${ahead}`);
  const iterator = tasks[Symbol.iterator]();
  const window: Slot<T>[] = [];
  let started = 0;
  let exhausted = false;
  const fill = () => {
    while (!exhausted && window.length < ahead) {
      const next = iterator.next();
      if (next.done) exhausted = true;
      else window.push(start(next.value, started++, signal));
    }
  };
  try {
    for (;;) {
      // Topped up when the consumer asks for the next outcome: what it is handling counts as one of `ahead`.
      fill();
      const slot = window.shift();
      if (!slot) return;
      yield await slot.outcome;
    }
  } finally {
    const reason = abortError("prefetch: the consumer stopped iterating");
    for (const slot of window) slot.controller.abort(reason);
    iterator.return?.();
  }
}

function start<T>(task: Task<T>, index: number, parent: AbortSignal | undefined): Slot<T> {
  const controller = new AbortController();
  const signal = anySignal([parent, controller.signal]);
  const outcome = new Promise<Settled<T>>((resolve) => {
    const onAbort = () => resolve({ index, status: "rejected", reason: signal.reason });
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve()
      .then(() => task(signal))
      .then(
        (value) => resolve({ index, status: "fulfilled", value }),
        (reason) => resolve({ index, status: "rejected", reason }),
      )
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
  return { controller, outcome };
}
