/**
 * `settle(tasks, options)`: asyncio.gather(return_exceptions=True) + wait_for + Semaphore. Task factories run with
 * bounded concurrency, each with its own AbortSignal (per-task timeout ∧ overall deadline ∧ caller's signal, via
 * `AbortSignal.any`); results come back in input order, shaped like `Promise.allSettled`'s plus the task's index.
 *
 * A task whose signal fires is settled as rejected with the signal's reason at that moment (so a deadline is met
 * even by a task that ignores its signal), and keeps its permit until it really returns, so the number of tasks
 * running never exceeds `concurrency`.
 */
import { anySignal, timer } from "./deadline.js";
import { Semaphore } from "./semaphore.js";

/** A unit of work: called once with the signal it must honour. */
export type Task<T> = (signal: AbortSignal) => Promise<T> | T;

export type Settled<T> =
  | { index: number; status: "fulfilled"; value: T }
  | { index: number; status: "rejected"; reason: unknown };

export interface SettleOptions {
  /** Tasks running at once (default: no bound). */
  concurrency?: number;
  /** Per-task timeout in ms, counted from when the task starts (not while it waits for a permit). */
  timeoutMs?: number;
  /** Overall deadline in ms from the call: every task still running or waiting is aborted then. */
  deadlineMs?: number;
  /** The caller's signal: aborting it aborts everything running or waiting. */
  signal?: AbortSignal;
}

/** A started schedule: how many tasks, when all have settled, and a way to abort the rest. */
export interface Schedule {
  readonly count: number;
  readonly done: Promise<void>;
  cancel(reason?: unknown): void;
}

/**
 * Start every task under the options' limits and report each one's outcome through `onSettled` as it happens.
 * The building block of `settle` and `asCompleted`.
 *
 * @example
 * const run = schedule(tasks, { concurrency: 4 }, (s) => console.log(s.index, s.status));
 * request.signal.addEventListener("abort", () => run.cancel());
 * await run.done;
 */
export function schedule<T>(
  tasks: Iterable<Task<T>>,
  options: SettleOptions,
  onSettled: (settled: Settled<T>) => void,
): Schedule {
  const list = Array.from(tasks);
  const { concurrency = Number.POSITIVE_INFINITY, timeoutMs, deadlineMs } = options;
  const internal = new AbortController();
  const overall = deadlineMs === undefined ? undefined : timer(deadlineMs, `deadline of ${deadlineMs} ms exceeded`);
  const scope = anySignal([options.signal, overall?.signal, internal.signal]);
  const semaphore = new Semaphore(concurrency);
  let pending = list.length;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  if (pending === 0) {
    overall?.cancel();
    finish();
  }

  const run = async (task: Task<T>, index: number): Promise<void> => {
    let settled = false;
    const report = (outcome: Settled<T>) => {
      if (settled) return;
      settled = true;
      onSettled(outcome);
      if (--pending === 0) {
        overall?.cancel();
        finish();
      }
    };
    try {
      await semaphore.acquire(scope);
    } catch (reason) {
      report({ index, status: "rejected", reason });
      return;
    }
    const own = timeoutMs === undefined ? undefined : timer(timeoutMs, `task ${index} timed out after ${timeoutMs} ms`);
    const signal = anySignal([scope, own?.signal]);
    const onAbort = () => report({ index, status: "rejected", reason: signal.reason });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (signal.aborted) throw signal.reason;
      const value = await task(signal);
      report({ index, status: "fulfilled", value });
    } catch (reason) {
      report({ index, status: "rejected", reason });
    } finally {
      signal.removeEventListener("abort", onAbort);
      own?.cancel();
      semaphore.release();
    }
  };

  list.forEach((task, index) => {
    void run(task, index);
  });
  return { count: list.length, done, cancel: (reason?: unknown) => internal.abort(reason) };
}

/**
 * Run every task and return all outcomes in input order; never rejects.
 *
 * @example
 * const results = await settle(
 *   urls.map((url) => (signal) => fetch(url, { signal })),
 *   { concurrency: 6, timeoutMs: 2_000, deadlineMs: 10_000, signal: request.signal },
 * );
 * for (const r of results) if (r.status === "rejected") console.log(r.index, r.reason);
 */
export async function settle<T>(tasks: Iterable<Task<T>>, options: SettleOptions = {}): Promise<Settled<T>[]> {
  const results: Settled<T>[] = [];
  const run = schedule(tasks, options, (s) => {
    results[s.index] = s;
  });
  await run.done;
  return results;
}
