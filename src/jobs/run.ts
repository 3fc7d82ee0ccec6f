/**
 * What a delivery of a chunk does: run its pending fan-out requests (the same fan-out core and URL guard as
 * /v1/fanout) or deliver its signed webhook, and sort what happened into final results and transient failures.
 */

import {
  type CallGate,
  type FanoutItem,
  type FanoutOptions,
  FanoutOptionsSchema,
  type FanoutResult,
  fanout,
  fanoutAll,
  type UrlGuard,
} from "../fanout";
import type { Settings } from "../settings";
import { classifyOutcome } from "./backoff";
import { chunkDeadlineMs } from "./budget";
import { callTimeoutMs } from "./policy";
import type { JobResult, WebhookSpec } from "./types";
import { webhookHeaders } from "./webhook-signature";

export interface ChunkOutcome {
  /** Results to record (2xx, 4xx, blocked…), by job-wide index. */
  results: JobResult[];
  /** Requests that failed transiently and need another delivery. */
  transient: number;
  /** Requests flow control did not let start (`flow_timeout`): the chunk is deferred, not retried. */
  deferred: number;
  /** A short description of the last transient failure, for logs and the dead-letter marking. */
  lastError?: string;
}

function describe(result: FanoutResult): string {
  return result.error ? `${result.error.kind}: ${result.error.message}` : `HTTP ${result.status}`;
}

function sort(results: FanoutResult[], indexOf: (r: FanoutResult) => number): ChunkOutcome {
  const out: ChunkOutcome = { results: [], transient: 0, deferred: 0 };
  for (const r of results) {
    if (r.error?.kind === "flow_timeout") out.deferred++;
    else if (classifyOutcome(r) === "final") out.results.push({ ...r, index: indexOf(r) });
    else {
      out.transient++;
      out.lastError = describe(r);
    }
  }
  return out;
}

/**
 * The options a chunk runs with: the job's, within the service's limits. Every result is stored, so each body is
 * capped at JOBS_MAX_RESULT_BYTES; `concurrency` at FANOUT_MAX_CONCURRENCY; `timeoutMs` at JOBS_MAX_TIMEOUT_MS; and
 * `deadlineMs` so that a full batch of chunks fits in one consumer invocation (`chunkDeadlineMs`).
 *
 * @example
 * chunkFanoutOptions({ ...options, deadlineMs: 600_000 }, settings(env)).deadlineMs // 420_000 with the defaults
 */
export function chunkFanoutOptions(options: FanoutOptions, s: Settings): FanoutOptions {
  return {
    ...options,
    timeoutMs: Math.min(options.timeoutMs, s.JOBS_MAX_TIMEOUT_MS),
    maxBodyBytes: Math.min(options.maxBodyBytes, s.JOBS_MAX_RESULT_BYTES),
    concurrency: Math.min(options.concurrency, s.FANOUT_MAX_CONCURRENCY),
    deadlineMs: Math.min(options.deadlineMs, chunkDeadlineMs(s.JOBS_CONSUMER_CONCURRENCY)),
  };
}

/**
 * Run the requests of a chunk that have no result yet; `onResult` gets each final result as its call finishes (in
 * completion order), before the outcome of the whole chunk.
 *
 * @example
 * await runFanoutChunk({ pending: [100, 103], start: 100, requests, options: { concurrency: 10 } }, settings(env))
 */
export async function runFanoutChunk(
  chunk: { pending: number[]; start: number; requests: unknown[]; options: FanoutOptions },
  s: Settings,
  how: {
    /** The guard of every call and hop (a demo job's); FANOUT_ALLOW_HOSTS's by default. */
    guard?: UrlGuard;
    /** The chunk's flow-control gate, when its job has a flow key. */
    gate?: CallGate;
    /** Each final result as its call ends (recorded as it comes, so progress moves call by call). */
    onResult?: (result: JobResult) => void;
  } = {},
): Promise<ChunkOutcome> {
  const items = chunk.pending.map((i) => {
    const item = chunk.requests[i - chunk.start] as FanoutItem;
    const timeoutMs =
      item.timeoutMs === undefined ? {} : { timeoutMs: Math.min(item.timeoutMs, s.JOBS_MAX_TIMEOUT_MS) };
    return { ...item, id: item.id ?? String(i), ...timeoutMs };
  });
  const options = chunkFanoutOptions(chunk.options, s);
  const out: ChunkOutcome = { results: [], transient: 0, deferred: 0 };
  const calls = fanout(items, options, {
    allowHosts: s.FANOUT_ALLOW_HOSTS,
    ...(how.guard ? { guard: how.guard } : {}),
    maxResponseBytes: options.maxBodyBytes * Math.max(1, items.length),
    gate: how.gate,
  });
  for await (const r of calls) {
    if (r.error?.kind === "flow_timeout") out.deferred++;
    else if (classifyOutcome(r) === "final") {
      const result = { ...r, index: chunk.pending[r.index] ?? -1 };
      out.results.push(result);
      how.onResult?.(result);
    } else {
      out.transient++;
      out.lastError = describe(r);
    }
  }
  return out;
}

/**
 * A webhook delivery attempt's options (a webhook job's, a callback's): its timeout (JOBS_WEBHOOK_TIMEOUT_MS unless
 * the job gave one), within JOBS_MAX_TIMEOUT_MS and a chunk's deadline (`callTimeoutMs`).
 */
export function webhookOptions(s: Settings, timeoutMs?: number): FanoutOptions {
  const ms = callTimeoutMs("webhook", timeoutMs, s);
  return FanoutOptionsSchema.parse({ timeoutMs: ms, deadlineMs: ms, maxBodyBytes: s.JOBS_MAX_RESULT_BYTES });
}

/** The webhook-id of a job's delivery: the same on every retry, as receivers deduplicate by it. */
const webhookId = (jobId: string): string => `msg_${jobId}`;

/**
 * Deliver a webhook job once: POST the JSON payload with Standard Webhooks signature headers. A 2xx (or another
 * final answer, such as a 400 or a blocked URL) is a result; a retryable status (`isRetryableStatus`) or a timeout
 * is transient.
 */
export async function deliverWebhook(
  jobId: string,
  spec: WebhookSpec,
  secret: string,
  s: Settings,
  gate?: CallGate,
): Promise<ChunkOutcome> {
  const body = JSON.stringify(spec.payload ?? null);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    ...(spec.headers ?? {}),
    "content-type": "application/json",
    ...(await webhookHeaders(secret, webhookId(jobId), timestamp, body)),
  };
  const item: FanoutItem = { id: webhookId(jobId), url: spec.url, method: "POST", headers, body, idempotent: true };
  const options = webhookOptions(s, spec.timeoutMs);
  const results = await fanoutAll([item], options, {
    allowHosts: s.FANOUT_ALLOW_HOSTS,
    maxResponseBytes: s.JOBS_MAX_RESULT_BYTES,
    gate,
  });
  return sort(results, () => 0);
}
