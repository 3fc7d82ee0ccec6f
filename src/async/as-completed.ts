/**
 * `asCompleted(tasks, options)`: asyncio.as_completed. The same scheduling as `settle`, yielding each outcome as
 * soon as its task settles (completion order). Stopping the iteration early (`break`, `return()`) aborts every task
 * still running or waiting.
 */
import { abortError } from "./deadline.js";
import { type Settled, type SettleOptions, schedule, type Task } from "./settle.js";

/**
 * @example
 * for await (const r of asCompleted(tasks, { concurrency: 6, signal })) {
 *   stream.write(JSON.stringify({ index: r.index, ok: r.status === "fulfilled" }));
 * }
 */
export async function* asCompleted<T>(
  tasks: Iterable<Task<T>>,
  options: SettleOptions = {},
): AsyncGenerator<Settled<T>, void, undefined> {
  const buffer: Settled<T>[] = [];
  let wake: (() => void) | undefined;
  const run = schedule(tasks, options, (settled) => {
    buffer.push(settled);
    wake?.();
    wake = undefined;
  });
  let yielded = 0;
  try {
    while (yielded < run.count) {
      if (buffer.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      let next = buffer.shift();
      while (next) {
        yielded++;
        yield next;
        next = buffer.shift();
      }
    }
  } finally {
    if (yielded < run.count) run.cancel(abortError("asCompleted: the consumer stopped iterating"));
  }
}
