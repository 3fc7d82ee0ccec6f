/**
 * A job's policies as plain functions: when it starts (`runAt` or `delayMs`, within JOBS_MAX_DELAY_DAYS), how its
 * chunks are retried (`retry`, within the queue's max_retries and JOBS_RETRY_MAX_SECONDS, defaults from the
 * JOBS_RETRY_* settings) and how long each call may take (`timeoutMs`, within JOBS_MAX_TIMEOUT_MS). A job stores
 * what it was given; what is in force is read here, under the settings in force, so a lowered cap applies to jobs
 * stored before it.
 */
import type { FanoutOptions } from "../fanout";
import type { Settings } from "../settings";
import { chunkDeadlineMs } from "./budget";
import { JOBS_MAX_ATTEMPTS } from "./schema";
import { jobType, webhookDelivery } from "./types/index";

export interface RetryPolicy {
  /** Deliveries of each chunk, the first included. */
  attempts: number;
  /** Wait before the second delivery, doubled for each further one, with jitter (the queue waits whole seconds). */
  baseMs: number;
  /** Longest wait. */
  maxMs: number;
}

/** What a job may say of its retries (each field optional). */
export type RetryInput = Partial<RetryPolicy>;

type RetrySettings = Pick<Settings, "JOBS_RETRY_BASE_SECONDS" | "JOBS_RETRY_MAX_SECONDS">;

/**
 * The retry policy in force: the job's own fields within the caps in force, the settings' defaults for the rest.
 *
 * @example
 * retryPolicy({ attempts: 3 }, settings(env)) // { attempts: 3, baseMs: 2_000, maxMs: 300_000 }
 * retryPolicy(null, settings(env)) // { attempts: 6, baseMs: 2_000, maxMs: 300_000 }
 */
export function retryPolicy(own: RetryInput | null | undefined, s: RetrySettings): RetryPolicy {
  const cap = s.JOBS_RETRY_MAX_SECONDS * 1_000;
  return {
    attempts: Math.min(own?.attempts ?? JOBS_MAX_ATTEMPTS, JOBS_MAX_ATTEMPTS),
    baseMs: Math.min(own?.baseMs ?? s.JOBS_RETRY_BASE_SECONDS * 1_000, cap),
    maxMs: Math.min(own?.maxMs ?? cap, cap),
  };
}

/** The per-call timeout of a type that names no default (the fan-out engine's, FanoutOptionsSchema's default). */
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * The per-call timeout in force: the job's (else its type's default: a webhook's is JOBS_WEBHOOK_TIMEOUT_MS), at most
 * JOBS_MAX_TIMEOUT_MS and what lets a full consumer batch end in one invocation (`chunkDeadlineMs`).
 *
 * @example
 * callTimeoutMs("webhook", undefined, settings(env)) // 10_000
 */
export function callTimeoutMs(type: string, own: number | undefined, s: Settings): number {
  const given = own ?? jobType(type)?.timeoutMs?.(s) ?? DEFAULT_TIMEOUT_MS;
  return Math.min(given, s.JOBS_MAX_TIMEOUT_MS, chunkDeadlineMs(s.JOBS_CONSUMER_CONCURRENCY));
}

/**
 * A webhook delivery attempt's options (a webhook job's, a callback's): its timeout (JOBS_WEBHOOK_TIMEOUT_MS unless
 * the job gave one), within JOBS_MAX_TIMEOUT_MS and a chunk's deadline (`callTimeoutMs`).
 */
export const webhookOptions = (s: Settings, timeoutMs?: number): FanoutOptions =>
  webhookDelivery(callTimeoutMs("webhook", timeoutMs, s), s);

/** A limit a job's fields go beyond: the setting that says so, its value, and why. */
export interface PolicyBreach {
  setting: string;
  max: number;
  detail: string;
}

/** What a job asks of its start, retries and timeouts, as POST /v1/jobs takes it. */
export interface PolicyFields {
  runAt?: string | undefined;
  delayMs?: number | undefined;
  retry?: RetryInput | undefined;
  timeoutMs?: number | undefined;
  requests?: readonly { timeoutMs?: number | undefined }[];
}

/**
 * When a job starts: null for now, else the time (ms). Checked by `policyBreach` first.
 *
 * @example
 * startOf({ delayMs: 60_000 }, now) // now + 60_000
 */
export function startOf(fields: Pick<PolicyFields, "runAt" | "delayMs">, now: number): number | null {
  if (fields.runAt !== undefined) return Date.parse(fields.runAt);
  if (fields.delayMs !== undefined && fields.delayMs > 0) return now + fields.delayMs;
  return null;
}

/**
 * What a new job asks beyond the settings in force, or undefined: a start further than JOBS_MAX_DELAY_DAYS, retries
 * beyond JOBS_RETRY_MAX_SECONDS, a timeout beyond JOBS_MAX_TIMEOUT_MS. (Both `runAt` and `delayMs` is refused before:
 * `bothStarts`.)
 *
 * @example
 * policyBreach({ delayMs: 40 * 86_400_000 }, settings(env), Date.now()) // { setting: "JOBS_MAX_DELAY_DAYS", max: 30, … }
 */
export function policyBreach(
  fields: PolicyFields,
  s: Pick<Settings, "JOBS_MAX_DELAY_DAYS" | "JOBS_RETRY_MAX_SECONDS" | "JOBS_MAX_TIMEOUT_MS">,
  now: number,
): PolicyBreach | undefined {
  const start = startOf(fields, now);
  const days = s.JOBS_MAX_DELAY_DAYS;
  if (start !== null && start - now > days * 86_400_000) {
    const asked = fields.runAt === undefined ? `delayMs ${fields.delayMs}` : `runAt ${fields.runAt}`;
    return { setting: "JOBS_MAX_DELAY_DAYS", max: days, detail: `${asked} is more than ${days} day(s) ahead.` };
  }
  const waitCap = s.JOBS_RETRY_MAX_SECONDS * 1_000;
  for (const field of ["baseMs", "maxMs"] as const) {
    const ms = fields.retry?.[field];
    if (ms !== undefined && ms > waitCap) {
      return {
        setting: "JOBS_RETRY_MAX_SECONDS",
        max: s.JOBS_RETRY_MAX_SECONDS,
        detail: `retry.${field} ${ms} is above JOBS_RETRY_MAX_SECONDS (${s.JOBS_RETRY_MAX_SECONDS} s).`,
      };
    }
  }
  const timeouts = [fields.timeoutMs, ...(fields.requests ?? []).map((r) => r.timeoutMs)];
  const longest = Math.max(0, ...timeouts.filter((t): t is number => t !== undefined));
  if (longest > s.JOBS_MAX_TIMEOUT_MS) {
    return {
      setting: "JOBS_MAX_TIMEOUT_MS",
      max: s.JOBS_MAX_TIMEOUT_MS,
      detail: `A timeoutMs of ${longest} is above JOBS_MAX_TIMEOUT_MS (${s.JOBS_MAX_TIMEOUT_MS}).`,
    };
  }
  return undefined;
}

/** True when a job gives both `runAt` and `delayMs` (it may give one). */
export const bothStarts = (fields: Pick<PolicyFields, "runAt" | "delayMs">): boolean =>
  fields.runAt !== undefined && fields.delayMs !== undefined;
