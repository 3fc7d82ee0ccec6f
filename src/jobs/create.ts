/**
 * Creating a job (POST /v1/jobs), apart from HTTP: the request is checked against the settings and the URL guard
 * before anything is stored or queued; the job's id comes from the caller's scope and Idempotency-Key, so its Job
 * object stores it once however often it is posted; then its chunks are queued (a delayed job's wait in its Job
 * object until it starts). The scope is the job's owner: its jobs are listed under it. Every way this can end is an
 * outcome, which the route turns into a response.
 */
import { createUrlGuard } from "../fanout";
import { flowBreach } from "../flow";
import { log } from "../http/log";
import { ownerName } from "../http/owner";
import { type Settings, settings } from "../settings";
import { bodyHash, jobIdFor } from "./ids";
import { bothStarts, type PolicyBreach, policyBreach, startOf } from "./policy";
import { type CreateJobBody, END_STATES } from "./schema";
import type { CallbackSpec, CreateJobInput, JobStatus, JobTombstone, JobType } from "./types";
import { type AnyJobType, JOB_TYPES, type JobRefusal } from "./types/index";

/** A URL the guard refused: where it is in the body, and why. */
export interface UrlRefusal {
  path: string;
  message: string;
}

export type CreateJobOutcome =
  /** Stored and its chunks queued; `replayed` when the key was seen before with the same body. */
  | { outcome: "queued"; status: JobStatus; replayed: boolean }
  | { outcome: "too-many-requests"; requests: number; max: number }
  /** The type's own check refused it: headers over a limit, a missing secret or binding. */
  | JobRefusal
  | { outcome: "url-blocked"; type: JobType; errors: [UrlRefusal, ...UrlRefusal[]] }
  /** `runAt` and `delayMs` together: a job starts at one time. */
  | { outcome: "two-starts" }
  /** Beyond JOBS_MAX_DELAY_DAYS, JOBS_RETRY_MAX_SECONDS or JOBS_MAX_TIMEOUT_MS. */
  | { outcome: "over-limit"; breach: PolicyBreach }
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
   * The job is listed in its tenant's list (`ownerName`), and its flow key is the tenant's.
   */
  request: { body: CreateJobBody; key: string; scope: string; owner?: string },
): Promise<CreateJobOutcome> {
  const s = settings(env);
  const now = Date.now();
  const refusal = refuse(request.body, env, s, now);
  if (refusal) return refusal;
  const id = await jobIdFor(request.scope, request.key);
  const stub = env.JOB.getByName(id);
  const listedBy = ownerName(request);
  const created = await stub.create(await inputOf(id, request.body, s, { owner: request.owner, listedBy, now }));
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

/** A job body's type registration (the schema admits only registered types). */
const typeOf = (body: CreateJobBody): AnyJobType => JOB_TYPES[body.type] as AnyJobType;

/**
 * Why the job may not be created, checked before anything is stored (the consumer checks every hop again). Also
 * what a schedule's job must pass when the schedule is created (it passes again at each run, through createJob).
 */
export function refuse(body: CreateJobBody, env: Env, s: Settings, now: number): CreateJobOutcome | undefined {
  if (bothStarts(body)) return { outcome: "two-starts" };
  const type = typeOf(body);
  const { items, options } = type.split(body);
  const timeouts = type.itemTimeoutMs ? items.map((item) => ({ timeoutMs: type.itemTimeoutMs?.(item) })) : [];
  const breach = policyBreach({ ...body, requests: timeouts }, s, now);
  if (breach) return { outcome: "over-limit", breach };
  const flow = flowBreach(body.flow, env);
  if (flow) return { outcome: "flow-over-limit", detail: flow };
  const work = refuseWork(type, items, options, env, s);
  if (work || !body.callback) return work;
  if (!env.JOBS_WEBHOOK_SECRET) return { outcome: "webhook-secret-missing" };
  const verdict = createUrlGuard(s.FANOUT_ALLOW_HOSTS)(body.callback.url);
  return verdict.ok
    ? undefined
    : { outcome: "url-blocked", type: body.type, errors: [{ path: "callback.url", message: verdict.reason }] };
}

/** Why the job's work may not be run: too many items, its type's own check, URLs the guard refuses. */
function refuseWork(
  type: AnyJobType,
  items: unknown[],
  options: unknown,
  env: Env,
  s: Settings,
): CreateJobOutcome | undefined {
  if (items.length > s.JOBS_MAX_REQUESTS) {
    return { outcome: "too-many-requests", requests: items.length, max: s.JOBS_MAX_REQUESTS };
  }
  const own = type.refuse?.(items, options, env, s);
  if (own) return own;
  const guard = createUrlGuard(s.FANOUT_ALLOW_HOSTS);
  const errors = (type.urls?.(items) ?? []).flatMap(({ path, url }) => {
    const verdict = guard(url);
    return verdict.ok ? [] : [{ path, message: verdict.reason }];
  });
  const [first, ...rest] = errors;
  return first ? { outcome: "url-blocked", type: type.name, errors: [first, ...rest] } : undefined;
}

/**
 * What the Job object stores: the items and the options every chunk runs with as JSON text (as the job's type splits
 * its body), the body's fingerprint, who may read it (`owner`), whose list it is in (`listedBy`), its start, retry
 * fields and callback. A `flow` keeps its owner (`listedBy`, the tenant's name prefix), whose key the consumer's
 * calls share.
 */
async function inputOf(
  id: string,
  body: CreateJobBody,
  s: Settings,
  at: { owner: string | undefined; listedBy: string; now: number },
): Promise<CreateJobInput> {
  const hash = await bodyHash(body);
  const { runAt, delayMs, retry, callback, ...work } = body;
  const callbackSpec: CallbackSpec | undefined = callback && { url: callback.url, on: callback.on ?? [...END_STATES] };
  const type = typeOf(body);
  const { items, options } = type.split(work);
  const flow = work.flow && { flow: { ...work.flow, owner: at.listedBy } };
  return {
    id,
    type: type.name,
    bodyHash: hash,
    ...(at.owner === undefined ? {} : { owner: at.owner }),
    listedBy: at.listedBy,
    runAt: startOf({ runAt, delayMs }, at.now),
    ...(retry ? { retryJson: JSON.stringify(retry) } : {}),
    ...(callbackSpec ? { callbackJson: JSON.stringify(callbackSpec) } : {}),
    requestsJson: JSON.stringify(items),
    optionsJson: JSON.stringify({ ...(options as object), ...flow }),
    chunkSize: type.chunkSize?.(s) ?? s.JOBS_CHUNK_SIZE,
  };
}
