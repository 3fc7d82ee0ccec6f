/**
 * The `fanout` job type: each item is one request of /v1/fanout, run by the fan-out engine (URL guard, redirects
 * re-checked, body cap, hedging) with the job's fan-out options. A 2xx, a 4xx, a blocked URL are results; a 5xx, a
 * 429 or a timeout is transient (the chunk is retried as the job's `retry` says).
 */
import { type FanoutItem, FanoutItemSchema, type FanoutOptions, fanoutAll, headerLimitBreach } from "../../fanout";
import type { Settings } from "../../settings";
import { classifyOutcome, describeOutcome } from "../backoff";
import { chunkDeadlineMs } from "../budget";
import type { JobType } from "./define";

/** A chunk's calls are not retried within a delivery: the job's `retry` retries the chunk (the consumer). */
const NO_RETRY_IN_CHUNK = { attempts: 1, baseMs: 100, maxMs: 2_000 };

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

export const fanout: JobType<"fanout", FanoutItem, FanoutOptions> = {
  name: "fanout",
  item: FanoutItemSchema,
  split: ({ type: _type, requests, ...options }) => ({
    items: requests,
    options: { ...options, retry: NO_RETRY_IN_CHUNK },
  }),
  refuse: (items, _options, _env, s) => {
    const breach = headerLimitBreach(items, s);
    return breach && { outcome: "headers-over-limit", breach };
  },
  urls: (items) => items.map((item, i) => ({ path: `requests.${i}.url`, url: item.url })),
  itemTimeoutMs: (item) => item.timeoutMs,
  concurrency: (options, s) => Math.min(options.concurrency, s.FANOUT_MAX_CONCURRENCY),
  deadlineMs: (options) => options.deadlineMs,
  // The engine caps the body at JOBS_MAX_RESULT_BYTES (`chunkFanoutOptions`); the rest of a result is its own.
  maxResultBytes: () => Number.POSITIVE_INFINITY,
  handler: async (item, ctx) => {
    const s = ctx.settings;
    const options = chunkFanoutOptions(ctx.options, s);
    const timeoutMs =
      item.timeoutMs === undefined ? {} : { timeoutMs: Math.min(item.timeoutMs, s.JOBS_MAX_TIMEOUT_MS) };
    const request = { ...item, id: item.id ?? String(ctx.index), ...timeoutMs };
    // The engine's own deadline is the chunk's: it tells a deadline from a timeout in the result.
    const deadlineMs = Math.max(1, ctx.deadline - Date.now());
    const [result] = await fanoutAll(
      [request],
      { ...options, deadlineMs },
      {
        allowHosts: s.FANOUT_ALLOW_HOSTS,
        guard: ctx.guard,
        maxResponseBytes: options.maxBodyBytes,
      },
    );
    if (!result || classifyOutcome(result) === "transient")
      throw new Error(result ? describeOutcome(result) : "no result");
    return { ...result };
  },
};
