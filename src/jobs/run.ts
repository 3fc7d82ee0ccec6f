/**
 * What a delivery of a chunk does, for every job type alike: run the chunk's items that have no result yet through
 * the type's handler (`concurrency` of them at once) or its chunk handler, under the chunk's deadline and its job's
 * flow key, and sort what happened into results (each handed on as it comes, so it is recorded as it comes),
 * transient failures (retried by delivering the chunk again) and items flow control did not let start (deferred).
 * A result is the handler's object with the item's `index` and `ok`; one larger than the type allows is a failure.
 */
import { anySignal, Semaphore, type Timer, timer } from "../async";
import { type CallGate, guardedFetch, UpstreamError, type UrlGuard } from "../fanout";
import type { Settings } from "../settings";
import { chunkDeadlineMs } from "./budget";
import { jsonBytes } from "./chunks";
import { callTimeoutMs } from "./policy";
import type { JobResult } from "./types";
import type { ChunkContext, JobContext, JobFetch } from "./types/define";
import { type AnyJobType, type ItemResult, JobItemError } from "./types/index";

export interface ChunkOutcome {
  /** Results recorded (2xx, 4xx, blocked…), by job-wide index. */
  results: JobResult[];
  /** Items that failed transiently (or got no answer) and need another delivery. */
  transient: number;
  /** Items flow control did not let start: the chunk is deferred, not retried. */
  deferred: number;
  /** A short description of the last transient failure, for logs and the dead-letter marking. */
  lastError?: string;
}

/** The chunk to run: which job, which delivery, its items (by position from `start`) and the job's options. */
export interface ChunkRun {
  jobId: string;
  chunk: number;
  /** The message's delivery (1 the first time). */
  attempt: number;
  /** Job-wide indices of the items without a result. */
  pending: number[];
  start: number;
  items: readonly unknown[];
  options: Record<string, unknown>;
}

export interface RunContext {
  env: Env;
  s: Settings;
  /** The guard of every call and hop (a demo job's for a demo job). */
  guard: UrlGuard;
  /** The chunk's flow-control gate, when its job has a flow key: one permit per item (per chunk call). */
  gate?: CallGate;
  /** Each result as it comes; `jobError` when the type says the job's error is now this. */
  onResult(result: JobResult, jobError?: string): void;
  /** An item's progress, as its handler reports it. */
  onProgress?(index: number, data: unknown): void;
}

const describe = (err: unknown): string =>
  err instanceof Error ? (err.name === "Error" ? err.message : `${err.name}: ${err.message}`) : String(err);

/** `promise`, or a rejection with the signal's reason once it fires (the work itself is left to end on its own). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** The recorded form of what a handler answered for item `index`: with its index and `ok`, within `maxBytes`. */
export function resultOf(index: number, value: ItemResult, maxBytes: number): JobResult {
  const result: JobResult = { ...value, index, ok: typeof value.ok === "boolean" ? value.ok : true };
  let bytes: number;
  try {
    bytes = jsonBytes(result);
  } catch (err) {
    return { index, ok: false, error: { kind: "invalid", message: `the result is not JSON: ${describe(err)}` } };
  }
  if (bytes <= maxBytes) return result;
  const message = `the result is ${bytes} bytes of JSON; JOBS_MAX_RESULT_BYTES allows ${maxBytes}`;
  return { index, ok: false, error: { kind: "too_large", message } };
}

/** `fetch` through `guard`, each call timing out after `timeoutMs`; a refused URL or hop is a JobItemError. */
function jobFetch(guard: UrlGuard, timeoutMs: number, signal: AbortSignal, timers: Timer[]): JobFetch {
  const get = guardedFetch(guard);
  return async (input, init = {}) => {
    const t = timer(timeoutMs, `no answer within ${timeoutMs} ms`);
    timers.push(t);
    try {
      return await get(input, { ...init, signal: anySignal([signal, init.signal, t.signal]) });
    } catch (err) {
      if (err instanceof UpstreamError && (err.kind === "blocked" || err.kind === "invalid")) {
        throw new JobItemError(err.kind, err.message);
      }
      throw err;
    }
  };
}

/**
 * Run the pending items of one chunk of a job of `type`.
 *
 * @example
 * const outcome = await runChunk(jobType("hash"), { jobId, chunk: 0, attempt: 1, pending: [0, 1], start: 0, items,
 *   options: {} }, { env, s, guard, onResult: (r) => recorder.add(r) });
 */
export async function runChunk(type: AnyJobType, run: ChunkRun, how: RunContext): Promise<ChunkOutcome> {
  const { s } = how;
  const own = typeof run.options.timeoutMs === "number" ? run.options.timeoutMs : undefined;
  const timeoutMs = callTimeoutMs(type.name, own, s);
  const deadlineMs = Math.min(
    type.deadlineMs?.(run.options) ?? Number.POSITIVE_INFINITY,
    chunkDeadlineMs(s.JOBS_CONSUMER_CONCURRENCY),
  );
  const overdue = `deadline of ${deadlineMs} ms exceeded`;
  const timers = [timer(deadlineMs, overdue)];
  // A chunk handler's call is one call: the per-call timeout bounds it too.
  if (type.chunk) timers.push(timer(timeoutMs, `no answer within ${timeoutMs} ms`));
  const signal = anySignal(timers.map((t) => t.signal));
  const deadline = Date.now() + Math.min(deadlineMs, type.chunk ? timeoutMs : deadlineMs);
  const maxBytes = type.maxResultBytes?.(s) ?? s.JOBS_MAX_RESULT_BYTES;
  const out: ChunkOutcome = { results: [], transient: 0, deferred: 0 };
  const settled = new Set<number>();
  let open = true;
  const pending = new Set(run.pending);
  const settle = (index: number, value: ItemResult) => {
    if (!open || !pending.has(index) || settled.has(index)) return;
    settled.add(index);
    const result = resultOf(index, value, maxBytes);
    out.results.push(result);
    how.onResult(result, result.ok ? undefined : type.failure?.(result));
  };
  const transient = (index: number, message: string) => {
    if (!open || !pending.has(index) || settled.has(index)) return;
    settled.add(index);
    out.transient++;
    out.lastError = message;
  };
  const failed = (err: JobItemError): ItemResult => ({ ok: false, error: { kind: err.kind, message: err.message } });
  const common = {
    jobId: run.jobId,
    attempt: run.attempt,
    signal,
    deadline,
    timeoutMs,
    fetch: jobFetch(how.guard, timeoutMs, signal, timers),
    guard: how.guard,
    options: run.options,
    env: how.env,
    settings: s,
  };
  try {
    if (type.chunk) {
      const ctx: ChunkContext<unknown> = {
        ...common,
        chunk: run.chunk,
        result: settle,
        fail: (index, kind, message) => settle(index, { ok: false, error: { kind, message } }),
        retry: transient,
        progress: (index, data) => {
          if (open && pending.has(index)) how.onProgress?.(index, data);
        },
      };
      const items = run.pending.map((index) => ({
        index,
        key: `${run.jobId}:${index}`,
        item: run.items[index - run.start],
      }));
      let leave: (() => void) | undefined;
      try {
        leave = how.gate ? await how.gate.enter(signal) : undefined;
      } catch {
        out.deferred = items.length;
        return out;
      }
      try {
        await unlessAborted(type.chunk(items, ctx), signal);
      } catch (err) {
        out.lastError = err instanceof JobItemError ? err.message : describe(err);
        if (err instanceof JobItemError) for (const { index } of items) settle(index, failed(err));
      } finally {
        leave?.();
      }
      const unanswered = run.pending.filter((index) => !settled.has(index));
      out.lastError ??= unanswered.length > 0 ? `no answer for item ${unanswered[0]}` : undefined;
      for (const index of unanswered) transient(index, out.lastError as string);
      return out;
    }
    const handler = type.handler;
    const permits = new Semaphore(Math.max(1, type.concurrency?.(run.options, s) ?? 1));
    await Promise.all(
      run.pending.map(async (index) => {
        const ctx: JobContext<unknown> = {
          ...common,
          index,
          key: `${run.jobId}:${index}`,
          progress: (data) => {
            if (open && !settled.has(index)) how.onProgress?.(index, data);
          },
        };
        let leave: (() => void) | undefined;
        try {
          await permits.acquire(signal);
        } catch {
          // Never started: deferred if the calls ahead of it waited for flow permits until the deadline.
          if (how.gate?.abandoned) out.deferred++;
          else transient(index, overdue);
          return;
        }
        try {
          try {
            leave = how.gate ? await how.gate.enter(signal) : undefined;
          } catch {
            out.deferred++;
            return;
          }
          settle(index, await unlessAborted(handler(run.items[index - run.start], ctx), signal));
        } catch (err) {
          if (err instanceof JobItemError) settle(index, failed(err));
          else transient(index, describe(err));
        } finally {
          leave?.();
          permits.release();
        }
      }),
    );
    return out;
  } finally {
    open = false;
    for (const t of timers) t.cancel();
  }
}
