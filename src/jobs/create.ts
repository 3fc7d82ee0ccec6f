/**
 * Creating a job (POST /v1/jobs), apart from HTTP: the request is checked against the settings and the URL guard
 * before anything is stored or queued; the job's id comes from the caller's scope and Idempotency-Key, so its Job
 * object stores it once however often it is posted; then its chunks are queued. Every way this can end is an
 * outcome, which the route turns into a response.
 */
import { createUrlGuard, type HeaderLimitBreach, headerLimitBreach } from "../fanout";
import { flowBreach } from "../flow";
import { log } from "../http/log";
import { ownerName } from "../http/owner";
import { type Settings, settings } from "../settings";
import { bodyHash, jobIdFor } from "./ids";
import type { CreateJobBody } from "./schema";
import type { CreateJobInput, JobStatus, JobTombstone, JobType, WebhookSpec } from "./types";

/** A URL the guard refused: where it is in the body, and why. */
export interface UrlRefusal {
  path: string;
  message: string;
}

export type CreateJobOutcome =
  /** Stored and its chunks queued; `replayed` when the key was seen before with the same body. */
  | { outcome: "queued"; status: JobStatus; replayed: boolean }
  | { outcome: "too-many-requests"; requests: number; max: number }
  | { outcome: "headers-over-limit"; breach: HeaderLimitBreach }
  | { outcome: "url-blocked"; type: JobType; errors: [UrlRefusal, ...UrlRefusal[]] }
  | { outcome: "webhook-secret-missing" }
  /** `flow` asks for more than FLOW_MAX_PARALLELISM. */
  | { outcome: "flow-over-limit"; detail: string }
  /** The key was used before with another body. */
  | { outcome: "key-reused"; id: string }
  /** The key's job ran and was deleted after its retention: it is not run again. */
  | { outcome: "gone"; tombstone: JobTombstone }
  /** Stored, but the queue refused its chunks: the same POST again sends them. */
  | { outcome: "queue-unavailable"; id: string };

/**
 * @example
 * const outcome = await createJob(env, { body, key: "orders-2026-11-26", ...tenantOf(c) });
 * if (outcome.outcome === "queued") console.log(outcome.status.id, outcome.replayed);
 */
export async function createJob(
  env: Env,
  /**
   * `scope`: whose the key is, `owner`: who may read the job (`tenantOf`: from the verified token, never a raw header).
   */
  request: { body: CreateJobBody; key: string; scope: string; owner?: string },
): Promise<CreateJobOutcome> {
  const s = settings(env);
  const refusal = refuse(request.body, env, s);
  if (refusal) return refusal;
  const id = await jobIdFor(request.scope, request.key);
  const stub = env.JOB.getByName(id);
  const created = await stub.create({
    ...(await inputOf(id, request.body, s, ownerName(request))),
    owner: request.owner,
  });
  if (created.outcome === "gone") return created;
  if (created.outcome === "conflict") return { outcome: "key-reused", id };
  // Also on a replay: sends whatever a failed earlier attempt left unsent (nothing, usually).
  const dispatched = await stub.dispatch();
  if (dispatched.error) {
    log("error", "job dispatch failed", { id, sent: dispatched.sent, error: dispatched.error });
    return { outcome: "queue-unavailable", id };
  }
  return { outcome: "queued", status: created.status, replayed: created.outcome === "existing" };
}

/**
 * Why the job may not be created, checked before anything is stored (the consumer checks every hop again). Also
 * what a schedule's job must pass when the schedule is created (it passes again at each run, through createJob).
 */
export function refuse(body: CreateJobBody, env: Env, s: Settings): CreateJobOutcome | undefined {
  const flow = flowBreach(body.flow, env);
  if (flow) return { outcome: "flow-over-limit", detail: flow };
  if (body.type === "fanout") {
    if (body.requests.length > s.JOBS_MAX_REQUESTS) {
      return { outcome: "too-many-requests", requests: body.requests.length, max: s.JOBS_MAX_REQUESTS };
    }
    const breach = headerLimitBreach(body.requests, s);
    if (breach) return { outcome: "headers-over-limit", breach };
    const guard = createUrlGuard(s.FANOUT_ALLOW_HOSTS);
    const errors = body.requests.flatMap((request, index) => {
      const verdict = guard(request.url);
      return verdict.ok ? [] : [{ path: `requests.${index}.url`, message: verdict.reason }];
    });
    const [first, ...rest] = errors;
    return first ? { outcome: "url-blocked", type: "fanout", errors: [first, ...rest] } : undefined;
  }
  if (!env.JOBS_WEBHOOK_SECRET) return { outcome: "webhook-secret-missing" };
  const breach = headerLimitBreach([{ headers: body.headers ?? {} }], s);
  if (breach) return { outcome: "headers-over-limit", breach };
  const verdict = createUrlGuard(s.FANOUT_ALLOW_HOSTS)(body.url);
  return verdict.ok
    ? undefined
    : { outcome: "url-blocked", type: "webhook", errors: [{ path: "url", message: verdict.reason }] };
}

/**
 * What the Job object stores: requests, options or the webhook spec as JSON text, and the body's fingerprint. A
 * `flow` keeps its owner (`ownerName` of the tenant), whose key the consumer's calls share.
 */
async function inputOf(id: string, body: CreateJobBody, s: Settings, scope: string): Promise<CreateJobInput> {
  const hash = await bodyHash(body);
  const flow = body.flow && { flow: { ...body.flow, owner: scope } };
  if (body.type === "fanout") {
    const { type: _type, requests, ...rest } = body;
    const options = { ...rest, ...flow };
    const requestsJson = JSON.stringify(requests);
    const optionsJson = JSON.stringify(options);
    return { id, type: "fanout", bodyHash: hash, requestsJson, optionsJson, chunkSize: s.JOBS_CHUNK_SIZE };
  }
  const spec: WebhookSpec = {
    url: body.url,
    payload: body.payload ?? null,
    ...(body.headers ? { headers: body.headers } : {}),
    ...flow,
  };
  return { id, type: "webhook", bodyHash: hash, webhookJson: JSON.stringify(spec), chunkSize: 1 };
}
