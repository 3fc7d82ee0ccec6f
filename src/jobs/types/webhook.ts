/**
 * The `webhook` job type: one item, a JSON payload POSTed to a URL and signed as the Standard Webhooks spec says
 * (JOBS_WEBHOOK_SECRET), with the same `webhook-id` on every retry. A 2xx (or another final answer, such as a 400 or
 * a blocked URL) is its result; a retryable status or a timeout is transient.
 */
import type { z } from "@hono/zod-openapi";
import { type FanoutOptions, FanoutOptionsSchema, fanoutAll, headerLimitBreach } from "../../fanout";
import type { Settings } from "../../settings";
import { classifyOutcome, describeOutcome } from "../backoff";
import { WebhookItemSchema } from "../schema";
import type { JobFlow } from "../types";
import { webhookHeaders } from "../webhook-signature";
import type { JobType } from "./define";

type WebhookItem = z.output<typeof WebhookItemSchema>;

/** Each attempt's timeout (JOBS_WEBHOOK_TIMEOUT_MS when absent) and the delivery's flow key. */
interface WebhookOptions {
  timeoutMs?: number;
  flow?: JobFlow;
}

/**
 * The fan-out options of one delivery attempt (a webhook job's, a completion callback's) that may take `ms`.
 *
 * @example
 * webhookDelivery(10_000, settings(env)) // { timeoutMs: 10_000, deadlineMs: 10_000, maxBodyBytes: 65_536, … }
 */
export const webhookDelivery = (ms: number, s: Settings): FanoutOptions =>
  FanoutOptionsSchema.parse({ timeoutMs: ms, deadlineMs: ms, maxBodyBytes: s.JOBS_MAX_RESULT_BYTES });

/** The webhook-id of a job's delivery: the same on every retry, as receivers deduplicate by it. */
const webhookId = (jobId: string): string => `msg_${jobId}`;

export const webhook: JobType<"webhook", WebhookItem, WebhookOptions> = {
  name: "webhook",
  item: WebhookItemSchema,
  split: ({ url, payload, headers, timeoutMs, flow }) => ({
    items: [{ url, payload: payload ?? null, ...(headers ? { headers } : {}) }],
    options: { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(flow ? { flow: flow as JobFlow } : {}) },
  }),
  refuse: (items, _options, env, s) => {
    if (!env.JOBS_WEBHOOK_SECRET) return { outcome: "webhook-secret-missing" };
    const breach = headerLimitBreach(
      items.map((item) => ({ headers: item.headers ?? {} })),
      s,
    );
    return breach && { outcome: "headers-over-limit", breach };
  },
  urls: (items) => items.map((item) => ({ path: "url", url: item.url })),
  timeoutMs: (s) => s.JOBS_WEBHOOK_TIMEOUT_MS,
  chunkSize: () => 1,
  // The engine caps the answer's body at JOBS_MAX_RESULT_BYTES (`webhookDelivery`).
  maxResultBytes: () => Number.POSITIVE_INFINITY,
  failure: (result) => (result.ok ? undefined : `webhook delivery ended with ${describeOutcome(result)}`),
  handler: async (item, ctx) => {
    const secret = ctx.env.JOBS_WEBHOOK_SECRET;
    if (!secret) throw new Error("JOBS_WEBHOOK_SECRET is not configured");
    const s = ctx.settings;
    const id = webhookId(ctx.jobId);
    const body = JSON.stringify(item.payload ?? null);
    const headers = {
      ...(item.headers ?? {}),
      "content-type": "application/json",
      ...(await webhookHeaders(secret, id, Math.floor(Date.now() / 1000), body)),
    };
    const [result] = await fanoutAll(
      [{ id, url: item.url, method: "POST", headers, body, idempotent: true }],
      webhookDelivery(ctx.timeoutMs, s),
      { allowHosts: s.FANOUT_ALLOW_HOSTS, guard: ctx.guard, maxResponseBytes: s.JOBS_MAX_RESULT_BYTES },
    );
    if (!result || classifyOutcome(result) === "transient")
      throw new Error(result ? describeOutcome(result) : "no result");
    return { ...result };
  },
};
