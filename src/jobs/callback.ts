/**
 * A job's completion callback: one signed POST of its final status to the url it gave, as Standard Webhooks says
 * (the same signature as webhook jobs, keyed with JOBS_WEBHOOK_SECRET), through the URL guard at every hop. The Job
 * object's alarm calls it, and decides from its answer what follows (job-state.ts `callbackAfter`).
 */
import { fanoutAll } from "../fanout";
import type { Settings } from "../settings";
import { classifyOutcome } from "./backoff";
import { webhookOptions } from "./policy";
import type { JobStatus } from "./types";
import { webhookHeaders } from "./webhook-signature";

/** What one attempt did: delivered (a 2xx), or not, and whether another attempt could change that. */
export type CallbackAttempt = { delivered: true } | { delivered: false; final: boolean; error: string };

/**
 * POST `{type: "job.<state>", timestamp, data: <status>}` to `url`, signed: `webhook-id` is `id` (the same on every
 * retry of one end of the job). A 2xx is delivered; a 408, 425, 429, 5xx, timeout or network error may pass on
 * another attempt; any other answer (a 404, a blocked URL or redirect) will not.
 *
 * @example
 * await deliverCallback(`cb_${jobId}_1`, "https://example.com/hooks/jobs", status, env.JOBS_WEBHOOK_SECRET, s)
 * // { delivered: true }
 */
export async function deliverCallback(
  id: string,
  url: string,
  status: Omit<JobStatus, "callback">,
  secret: string | undefined,
  s: Settings,
): Promise<CallbackAttempt> {
  if (!secret) return { delivered: false, final: false, error: "JOBS_WEBHOOK_SECRET is not configured" };
  const body = JSON.stringify({ type: `job.${status.state}`, timestamp: new Date().toISOString(), data: status });
  const signed = await webhookHeaders(secret, id, Math.floor(Date.now() / 1_000), body);
  const headers = { "content-type": "application/json", ...signed };
  const [result] = await fanoutAll([{ id, url, method: "POST", headers, body, idempotent: true }], webhookOptions(s), {
    allowHosts: s.FANOUT_ALLOW_HOSTS,
    maxResponseBytes: s.JOBS_MAX_RESULT_BYTES,
  });
  if (result?.ok) return { delivered: true };
  if (!result) return { delivered: false, final: false, error: "no answer" };
  const error = result.error ? `${result.error.kind}: ${result.error.message}` : `HTTP ${result.status}`;
  return { delivered: false, final: classifyOutcome(result) === "final", error };
}
