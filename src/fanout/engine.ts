/**
 * The fan-out engine: many outbound calls at once, the way asyncio.gather(return_exceptions=True) + wait_for +
 * Semaphore do in one Python process. Shared by POST /v1/fanout and the jobs family.
 *
 * - at most `concurrency` calls in flight; each attempt has its own timeout, the whole fan-out a deadline, and the
 *   caller's signal (a client disconnect) aborts everything running or waiting;
 * - retries (full-jitter backoff, Retry-After honoured within the deadline) only for idempotent methods or
 *   `idempotent: true`, on network errors, timeouts and retryable statuses (`isRetryableStatus`: 408, 425, 429,
 *   5xx but 501);
 * - optional hedging ("The Tail at Scale"): a second identical call when the first has not answered after
 *   `hedgeAfterMs`; the first answer wins and the other is aborted;
 * - every request settles into one `FanoutResult`, never an exception: `fanout` yields them in completion order,
 *   `fanoutAll` returns them in input order;
 * - an optional gate (a flow key's permits, src/flow/gate.ts) admits each upstream call: a call that waited for it
 *   until the deadline, or that it refused, is rejected with `flow_timeout`.
 */
import { anySignal, asCompleted, isAbort, isTimeout, retry, type Settled, timer } from "../async";
import { isRetryableStatus } from "../http/retryable";
import { type FanoutItem, type FanoutOptions, IDEMPOTENT_METHODS } from "./schema";
import {
  type ByteBudget,
  callUpstream,
  type FanoutErrorKind,
  parseRetryAfter,
  UpstreamError,
  type UpstreamResponse,
} from "./upstream";
import { createUrlGuard, type UrlGuard } from "./url-guard";

export type { FanoutErrorKind } from "./upstream";

export interface FanoutResult {
  /** The request's id (or its key, or its index as a string). */
  id: string;
  /** Position in the request list. */
  index: number;
  /** The URL asked for (before redirects). */
  url: string;
  outcome: "fulfilled" | "rejected";
  /** The upstream status, or null when none arrived. */
  status: number | null;
  ok: boolean;
  /** A selected few response headers (content-type, etag, cache-control, retry-after…). */
  headers: Record<string, string>;
  /** Parsed JSON, text, or base64, as `responseBody` asks; null when no body was kept. */
  body: unknown;
  /** Body bytes kept. */
  bytes: number;
  /** True when the body was cut at `maxBodyBytes`. */
  truncated: boolean;
  /** Upstream calls made for this request (retries and hedges included; 0 if it never started). */
  attempts: number;
  /** From the first call's start to the outcome (0 if it never started). */
  durationMs: number;
  /** When the first call started, in ms after the fan-out started (null if it never started): with `durationMs`, a waterfall. */
  startedMs: number | null;
  error?: { kind: FanoutErrorKind; message: string };
}

/** Admits each upstream call (attempts and hedges alike): a flow key's permits (src/flow/gate.ts). */
export interface CallGate {
  /** Resolves with the call's `leave` once it may start; rejects when it may not (the result: `flow_timeout`). */
  enter(signal: AbortSignal): Promise<() => void>;
  /** True once a call gave up waiting (its signal fired while it waited). */
  readonly abandoned: boolean;
}

export interface FanoutContext {
  /** Aborts every call running or waiting (a client disconnect: `request.signal`). */
  signal?: AbortSignal;
  /** `FANOUT_ALLOW_HOSTS`: loopback/private hosts that may be called anyway. */
  allowHosts: readonly string[];
  /** The guard every URL and every redirect hop passes; defaults to `createUrlGuard(allowHosts)`. */
  guard?: UrlGuard;
  /** `FANOUT_MAX_RESPONSE_BYTES`: all bodies together are capped at this. */
  maxResponseBytes?: number;
  /** A byte budget shared with other fan-outs (the pages of one crawl); replaces `maxResponseBytes`. */
  budget?: ByteBudget;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  /** Admits each call (a flow key): shared by every fan-out it is given to (the pages of one crawl). */
  gate?: CallGate;
}

const RETRYABLE_KINDS: ReadonlySet<FanoutErrorKind> = new Set(["network", "timeout", "status"]);

interface ItemState {
  attempts: number;
  startedAt?: number;
}

/**
 * Run every request and yield each result as it settles (completion order). Stopping the iteration aborts the
 * calls still running or waiting.
 *
 * @example
 * for await (const r of fanout(items, options, { signal: c.req.raw.signal, allowHosts: [] })) {
 *   await stream.write(`${JSON.stringify(r)}\n`);
 * }
 */
export async function* fanout(
  items: readonly FanoutItem[],
  options: FanoutOptions,
  ctx: FanoutContext,
): AsyncGenerator<FanoutResult, void, undefined> {
  const guard = ctx.guard ?? createUrlGuard(ctx.allowHosts);
  const budget: ByteBudget | undefined =
    ctx.budget ??
    (ctx.maxResponseBytes === undefined ? undefined : { remaining: ctx.maxResponseBytes, limit: ctx.maxResponseBytes });
  const deadlineMessage = `deadline of ${options.deadlineMs} ms exceeded`;
  const deadline = timer(options.deadlineMs, deadlineMessage);
  const startedAt = Date.now();
  const deadlineAt = startedAt + options.deadlineMs;
  const scope = anySignal([ctx.signal, deadline.signal]);
  const states: ItemState[] = items.map(() => ({ attempts: 0 }));

  const classify = (err: unknown): { kind: FanoutErrorKind; message: string } => {
    if (err instanceof UpstreamError && err.kind !== "timeout") return { kind: err.kind, message: err.message };
    if (ctx.signal?.aborted) return { kind: "aborted", message: "the caller went away: the call was aborted" };
    if (deadline.signal.aborted) return { kind: "deadline", message: deadlineMessage };
    if (err instanceof UpstreamError || isTimeout(err)) return { kind: "timeout", message: messageOf(err) };
    if (isAbort(err)) return { kind: "aborted", message: messageOf(err) };
    return { kind: "network", message: messageOf(err) };
  };

  const flowTimeout = `${deadlineMessage} while the call waited for its flow key's permit`;
  const toResult = (settled: Settled<FanoutResult>): FanoutResult => {
    if (settled.status === "fulfilled") return settled.value;
    const item = items[settled.index] as FanoutItem;
    const state = states[settled.index] as ItemState;
    let error = classify(settled.reason);
    // A call that never started because the calls ahead of it waited for permits until the deadline.
    if (error.kind === "deadline" && state.attempts === 0 && ctx.gate?.abandoned) {
      error = { kind: "flow_timeout", message: flowTimeout };
    }
    return rejected(item, settled.index, state, startedAt, error);
  };

  const tasks = items.map(
    (item, index) => (signal: AbortSignal) =>
      runItem(item, index, signal, states[index] as ItemState, {
        options,
        guard,
        budget,
        startedAt,
        deadlineAt,
        classify,
        fetch: ctx.fetch,
        gate: ctx.gate,
        flowTimeout: () => (deadline.signal.aborted ? flowTimeout : undefined),
      }),
  );
  try {
    for await (const settled of asCompleted(tasks, { concurrency: options.concurrency, signal: scope })) {
      yield toResult(settled);
    }
  } finally {
    deadline.cancel();
  }
}

/**
 * Run every request and return the results in input order.
 *
 * @example
 * const results = await fanoutAll(items, FanoutOptionsSchema.parse({ concurrency: 10 }), { allowHosts: [] });
 */
export async function fanoutAll(
  items: readonly FanoutItem[],
  options: FanoutOptions,
  ctx: FanoutContext,
): Promise<FanoutResult[]> {
  const results = new Array<FanoutResult>(items.length);
  for await (const r of fanout(items, options, ctx)) results[r.index] = r;
  return results;
}

interface RunContext {
  options: FanoutOptions;
  guard: UrlGuard;
  budget: ByteBudget | undefined;
  /** When the fan-out started (Date.now()): results' `startedMs` count from it. */
  startedAt: number;
  deadlineAt: number;
  classify: (err: unknown) => { kind: FanoutErrorKind; message: string };
  fetch: typeof fetch | undefined;
  gate: CallGate | undefined;
  /** The message of a call the deadline found waiting at the gate (undefined: the deadline has not come). */
  flowTimeout: () => string | undefined;
}

/** Wait for the gate's permit; a refusal, or the deadline while waiting, is `flow_timeout`. */
async function admitted(gate: CallGate, signal: AbortSignal, run: RunContext): Promise<() => void> {
  try {
    return await gate.enter(signal);
  } catch (err) {
    const timedOut = run.flowTimeout();
    if (signal.aborted && timedOut === undefined) throw err;
    throw new UpstreamError("flow_timeout", timedOut ?? messageOf(err));
  }
}

async function runItem(
  item: FanoutItem,
  index: number,
  signal: AbortSignal,
  state: ItemState,
  run: RunContext,
): Promise<FanoutResult> {
  const { options } = run;
  // Behind a gate, the first call starts once admitted.
  if (!run.gate) state.startedAt = Date.now();
  const timeoutMs = item.timeoutMs ?? options.timeoutMs;
  const repeatable = IDEMPOTENT_METHODS.has(item.method) || item.idempotent === true;
  const attempts = repeatable ? options.retry.attempts : 1;
  const hedgeAfterMs = repeatable ? options.hedgeAfterMs : null;

  const giveBack = (res: UpstreamResponse) => {
    if (run.budget) run.budget.remaining += res.bytes;
  };
  const once = async (parent: AbortSignal): Promise<UpstreamResponse> => {
    const leave = run.gate ? await admitted(run.gate, parent, run) : undefined;
    state.startedAt ??= Date.now();
    state.attempts++;
    const t = timer(timeoutMs, `no answer within ${timeoutMs} ms`);
    try {
      return await callUpstream(item, {
        signal: anySignal([parent, t.signal]),
        guard: run.guard,
        maxBodyBytes: options.maxBodyBytes,
        responseBody: options.responseBody,
        budget: run.budget,
        fetch: run.fetch,
      });
    } catch (err) {
      if (t.signal.aborted && !parent.aborted) throw new UpstreamError("timeout", `no answer within ${timeoutMs} ms`);
      throw err;
    } finally {
      t.cancel();
      leave?.();
    }
  };

  try {
    const response = await retry(
      async () => {
        const res = hedgeAfterMs === null ? await once(signal) : await hedged(once, signal, hedgeAfterMs, giveBack);
        if (attempts > 1 && isRetryableStatus(res.status)) {
          const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
          throw new UpstreamError("status", `the upstream answered ${res.status}`, { response: res, retryAfterMs });
        }
        return res;
      },
      {
        attempts,
        baseMs: options.retry.baseMs,
        maxMs: options.retry.maxMs,
        signal,
        deadline: run.deadlineAt,
        retryOn: (err) => err instanceof UpstreamError && RETRYABLE_KINDS.has(err.kind),
        // The body of an answer that is retried is not reported: its bytes go back to the shared budget.
        onRetry: ({ error }) => {
          if (error instanceof UpstreamError && error.response) giveBack(error.response);
        },
      },
    );
    return {
      id: idOf(item, index),
      index,
      url: item.url,
      outcome: "fulfilled",
      status: response.status,
      ok: response.ok,
      headers: response.headers,
      body: response.body,
      bytes: response.bytes,
      truncated: response.truncated,
      attempts: state.attempts,
      durationMs: Date.now() - (state.startedAt ?? run.startedAt),
      startedMs: (state.startedAt ?? run.startedAt) - run.startedAt,
    };
  } catch (err) {
    const result = rejected(item, index, state, run.startedAt, run.classify(err));
    if (err instanceof UpstreamError && err.kind === "status" && err.response) {
      const r = err.response;
      Object.assign(result, {
        status: r.status,
        headers: r.headers,
        body: r.body,
        bytes: r.bytes,
        truncated: r.truncated,
      });
      if (result.error) result.error.message = `${err.message} after ${state.attempts} attempts`;
    }
    return result;
  }
}

/**
 * Start a call; if it has not answered after `hedgeAfterMs`, start an identical second one. The first answer wins
 * and the other call is aborted; it fails only when every call started has failed.
 */
function hedged(
  once: (signal: AbortSignal) => Promise<UpstreamResponse>,
  signal: AbortSignal,
  hedgeAfterMs: number,
  discard: (late: UpstreamResponse) => void,
): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const controllers: AbortController[] = [];
    let launched = 0;
    let failed = 0;
    let done = false;
    const launch = () => {
      const controller = new AbortController();
      controllers.push(controller);
      launched++;
      once(anySignal([signal, controller.signal])).then(
        (res) => {
          if (done) {
            discard(res);
            return;
          }
          done = true;
          clearTimeout(hedgeTimer);
          for (const c of controllers) if (c !== controller) c.abort(new DOMException("lost the hedge", "AbortError"));
          resolve(res);
        },
        (err) => {
          if (done) return;
          failed++;
          // Fail when every call started has failed: before the hedge timer that is the first call alone.
          if (failed === launched) {
            done = true;
            clearTimeout(hedgeTimer);
            reject(err);
          }
        },
      );
    };
    const hedgeTimer = setTimeout(() => {
      if (!done && !signal.aborted) launch();
    }, hedgeAfterMs);
    launch();
  });
}

function rejected(
  item: FanoutItem,
  index: number,
  state: ItemState,
  fanoutStartedAt: number,
  error: { kind: FanoutErrorKind; message: string },
): FanoutResult {
  return {
    id: idOf(item, index),
    index,
    url: item.url,
    outcome: "rejected",
    status: null,
    ok: false,
    headers: {},
    body: null,
    bytes: 0,
    truncated: false,
    attempts: state.attempts,
    durationMs: state.startedAt === undefined ? 0 : Date.now() - state.startedAt,
    startedMs: state.startedAt === undefined ? null : state.startedAt - fanoutStartedAt,
    error,
  };
}

function idOf(item: FanoutItem, index: number): string {
  return item.id ?? String(index);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
