/**
 * Backoff and failure classification for the jobs consumer. Queues do the waiting (`msg.retry({ delaySeconds })`),
 * so these functions only decide *whether* to retry and *how long* to ask the queue to wait. Which statuses are
 * transient is the fan-out engine's rule too (`isRetryableStatus`).
 */
import { isRetryableStatus } from "../http/retryable";

/** Cloudflare Queues accept delays up to 12 hours. */
const MAX_QUEUE_DELAY_SECONDS = 43_200;

export interface BackoffOptions {
  /** Delay before the second attempt (seconds); doubled for every further attempt. */
  baseSeconds: number;
  /** Ceiling of the exponential part (seconds). */
  maxSeconds: number;
}

/**
 * Delay before the next delivery of a message that has been tried `attempts` times (1 = first delivery):
 * exponential (`base · 2^(attempts-1)`, capped at `max`) with "equal jitter" — half of it fixed, half random — so
 * that chunks that failed together do not come back together, yet the delay never collapses to zero.
 *
 * @example
 * backoffSeconds(1, { baseSeconds: 2, maxSeconds: 300 }) // 1..2
 * backoffSeconds(4, { baseSeconds: 2, maxSeconds: 300 }) // 8..16
 */
export function backoffSeconds(attempts: number, options: BackoffOptions, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempts));
  const exp = Math.min(options.maxSeconds, options.baseSeconds * 2 ** Math.min(n - 1, 30));
  const delay = Math.ceil(exp / 2 + random() * (exp / 2));
  return Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, delay));
}

/** What happened to one request, as far as retrying is concerned (the fan-out result's relevant fields). */
export interface Outcome {
  outcome: "fulfilled" | "rejected";
  /** The upstream status, or null when none arrived. */
  status: number | null;
  error?: { kind: string } | undefined;
}

const TRANSIENT_ERRORS = new Set(["timeout", "deadline", "network", "aborted"]);

/**
 * "final": record the result as it is (a 2xx, a 404, a blocked URL, an oversize body);
 * "transient": leave it unrecorded and retry the chunk later (a 503, a 429, a timeout, a reset connection).
 *
 * @example
 * classifyOutcome({ outcome: "fulfilled", status: 404 }) // "final"
 * classifyOutcome({ outcome: "rejected", status: 0, error: { kind: "timeout" } }) // "transient"
 */
export function classifyOutcome(result: Outcome): "final" | "transient" {
  if (result.outcome === "fulfilled" || result.error?.kind === "status") {
    return result.status !== null && isRetryableStatus(result.status) ? "transient" : "final";
  }
  return TRANSIENT_ERRORS.has(result.error?.kind ?? "") ? "transient" : "final";
}

/**
 * A call's outcome in a few words: its error, or its HTTP status.
 *
 * @example
 * describeOutcome({ outcome: "fulfilled", status: 503 }) // "HTTP 503"
 */
export function describeOutcome(r: { ok?: unknown; status?: unknown; error?: unknown }): string {
  const e = r.error as { kind?: string; message?: string } | undefined;
  return e ? `${e.kind}: ${e.message}` : `HTTP ${String(r.status)}`;
}

/**
 * Classify an exception thrown while handling a message (a Durable Object call, a queue send): Durable Object
 * errors flagged `overloaded` or `retryable`, and anything unknown, are transient; only errors we raise on purpose
 * as `PermanentJobError` are permanent.
 */
export function classifyError(err: unknown): "transient" | "permanent" {
  if (err instanceof PermanentJobError) return "permanent";
  return "transient";
}

/** A message that can never succeed (unknown job, malformed body): ack it and log, do not retry. */
export class PermanentJobError extends Error {
  override readonly name = "PermanentJobError";
}
