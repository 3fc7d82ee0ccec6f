/**
 * /v1/jobs: durable work on Cloudflare Queues. POST creates a job (idempotent by Idempotency-Key; now or later), GET
 * lists the caller's jobs, GET …/:id reads its status and pages through its results, DELETE cancels it, POST …/retry
 * puts its dead chunks back on the queue.
 */
import { createRoute } from "@hono/zod-openapi";
import { headerLimitProblem } from "../src/fanout";
import { createApp, requireName, scope } from "../src/http/app";
import { ownerOf } from "../src/http/owner";
import { tenantOf } from "../src/http/principal";
import { overLimit, type Problem, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import type { JobStatus, JobTombstone } from "../src/jobs";
import {
  type CreateJobOutcome,
  CreateJobSchema,
  createJob,
  decodeCursor,
  decodeListCursor,
  encodeCursor,
  encodeListCursor,
  IdempotencyHeaders,
  JOB_ID_PATTERN,
  JobCreatedSchema,
  JobIdParams,
  type JobIndexEntry,
  JobListSchema,
  JobStatusSchema,
  ListQuery,
  progressRoom,
  ResultsPageSchema,
  ResultsQuery,
  RetrySchema,
} from "../src/jobs";
import { settings } from "../src/settings";

const route = routesOf("jobs");

const json = jsonResponse;

const goneDoc = problemDoc(
  "The job ended and was deleted after JOBS_RETENTION_HOURS: {id, state, endedAt, deletedAt} (kept JOBS_TOMBSTONE_DAYS)",
);

const postJob = createRoute({
  ...route("post", "/", "createJob", "Create a job of a registered type, idempotent by Idempotency-Key"),
  ...scope("jobs:write"),
  request: {
    headers: IdempotencyHeaders,
    body: jsonBody(CreateJobSchema, {
      type: "fanout",
      requests: [{ url: "https://api.example.com/orders/1" }, { url: "https://api.example.com/orders/2" }],
      concurrency: 10,
    }),
  },
  responses: {
    202: json(JobCreatedSchema, "Queued (or, for a key seen before with the same body, the existing job)"),
    ...problemDocs,
    413: problemDoc("More requests than JOBS_MAX_REQUESTS, or a body larger than MAX_BODY_BYTES"),
    410: problemDoc("The key's job ran and was deleted after JOBS_RETENTION_HOURS: it is not run again"),
    422: problemDoc("The Idempotency-Key was used before with a different body"),
    503: problemDoc(
      "Webhooks and callbacks need JOBS_WEBHOOK_SECRET, service jobs JOBS_SERVICE_BINDING, or the queue refused the chunks (POST again)",
    ),
  },
});

const listJobs = createRoute({
  ...route("get", "/", "listJobs", "The caller's jobs, newest first, by state"),
  ...scope("jobs:read"),
  request: { query: ListQuery },
  responses: {
    200: json(JobListSchema, "A page of jobs; next is the cursor of the next page, or null"),
    ...problemDocs,
  },
});

const getJob = createRoute({
  ...route("get", "/{id}", "getJob", "A job's status and counters"),
  ...scope("jobs:read"),
  request: { params: JobIdParams },
  responses: { 200: json(JobStatusSchema, "The job"), ...problemDocs, 404: problemDoc("No such job"), 410: goneDoc },
});

const getResults = createRoute({
  ...route("get", "/{id}/results", "listJobResults", "Page through a job's results in request order"),
  ...scope("jobs:read"),
  request: { params: JobIdParams, query: ResultsQuery },
  responses: {
    200: json(ResultsPageSchema, "A page of results"),
    ...problemDocs,
    404: problemDoc("No such job"),
    410: goneDoc,
  },
});

const cancelJob = createRoute({
  ...route("delete", "/{id}", "cancelJob", "Cancel a job: chunks not yet run are skipped"),
  ...scope("jobs:write"),
  request: { params: JobIdParams },
  responses: {
    200: json(JobStatusSchema, "Canceled (also when it already was)"),
    ...problemDocs,
    404: problemDoc("No such job"),
    409: problemDoc("The job has already finished"),
    410: goneDoc,
  },
});

const retryJob = createRoute({
  ...route("post", "/{id}/retry", "retryJob", "Put a job's dead chunks back on the queue"),
  ...scope("jobs:write"),
  request: { params: JobIdParams },
  responses: {
    202: json(RetrySchema, "Dead chunks re-queued"),
    ...problemDocs,
    404: problemDoc("No such job"),
    409: problemDoc("The job is canceled or has no dead chunks"),
    410: goneDoc,
  },
});

/** The Job object of an id from the path; ids that cannot be ours are unknown without touching storage. */
function jobStub(env: Env, id: string) {
  if (!JOB_ID_PATTERN.test(id)) throw notFound(id);
  return env.JOB.getByName(id);
}

const notFound = (id: string) => problem(404, `No job with id ${id}.`, { type: "job-not-found" });

/** 410 for a job deleted after its retention (JOBS_RETENTION_HOURS). */
function gone(t: JobTombstone): Problem {
  const endedAt = new Date(t.endedAt).toISOString();
  const deletedAt = new Date(t.deletedAt).toISOString();
  return problem(
    410,
    `Job ${t.id} ended (${t.state}) at ${endedAt} and was deleted at ${deletedAt} (JOBS_RETENTION_HOURS).`,
    {
      type: "job-gone",
      extensions: { id: t.id, state: t.state, endedAt, deletedAt, limit: "JOBS_RETENTION_HOURS" },
    },
  );
}

/**
 * The job's object had nothing for the call: it was deleted after its retention (410), or never existed, or is
 * another owner's (404).
 */
async function missing(stub: ReturnType<typeof jobStub>, id: string, reader: string | undefined): Promise<Problem> {
  const tombstone = await stub.gone(reader);
  return tombstone ? gone(tombstone) : notFound(id);
}

/** The problem for each way a POST can be refused (the demo's job route and a schedule's job answer alike). */
export function refused(outcome: Exclude<CreateJobOutcome, { outcome: "queued" }>, key: string, env: Env): Problem {
  switch (outcome.outcome) {
    case "too-many-requests": {
      const { requests, max } = outcome;
      return overLimit("JOBS_MAX_REQUESTS", max, `The job has ${requests} requests; JOBS_MAX_REQUESTS allows ${max}.`, {
        status: 413,
        type: "too-many-requests-in-job",
      });
    }
    case "headers-over-limit":
      return headerLimitProblem(outcome.breach);
    case "url-blocked": {
      const { errors } = outcome;
      const [first] = errors;
      const detail =
        first.path === "url"
          ? `The ${outcome.type} url may not be called: ${first.message}.`
          : `${errors.length} request url(s) may not be called; the first, ${first.path}: ${first.message}.`;
      return problem(400, detail, { type: "url-blocked", extensions: { errors: errors.slice(0, 20) } });
    }
    case "flow-over-limit":
      return overLimit("FLOW_MAX_PARALLELISM", settings(env).FLOW_MAX_PARALLELISM, outcome.detail);
    case "two-starts":
      return problem(400, "A job starts at runAt or after delayMs, not both.", {
        type: "invalid-request",
        extensions: { errors: [{ path: "delayMs", message: "not with runAt" }] },
      });
    case "over-limit": {
      const { setting, max, detail } = outcome.breach;
      return overLimit(setting, max, detail);
    }
    case "webhook-secret-missing": {
      const detail =
        "Webhook jobs and callbacks need the JOBS_WEBHOOK_SECRET secret (wrangler secret put JOBS_WEBHOOK_SECRET).";
      return problem(503, detail, { type: "not-configured" });
    }
    case "not-configured":
      return problem(503, outcome.detail, { type: "not-configured" });
    case "gone":
      return gone(outcome.tombstone);
    case "key-reused":
      return problem(422, `The Idempotency-Key ${key} was already used with a different request body.`, {
        type: "idempotency-key-reused",
        extensions: { id: outcome.id },
      });
    case "queue-unavailable": {
      const { id } = outcome;
      return problem(503, `Job ${id} is stored but its chunks could not be queued: POST again with the same key.`, {
        type: "queue-unavailable",
        extensions: { id },
        headers: { "retry-after": "1" },
      });
    }
  }
}

/** A row of the caller's index as GET /v1/jobs lists it. */
function summaryOf(e: JobIndexEntry) {
  const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());
  return {
    id: e.id,
    type: e.type,
    state: e.state,
    total: e.total,
    createdAt: new Date(e.createdAt).toISOString(),
    ...(e.runAt === null ? {} : { runAt: iso(e.runAt) }),
    ...(e.endedAt === null ? {} : { endedAt: iso(e.endedAt) }),
  };
}

function created(status: JobStatus) {
  return {
    id: status.id,
    state: status.state,
    statusUrl: `/v1/jobs/${status.id}`,
    room: progressRoom(status.id),
  };
}

export const jobs = createApp()
  .openapi(postJob, async (c) => {
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    if (body.flow) requireName(c, "flow", body.flow.key);
    // The scope keeps one tenant's keys apart from another's (tenantOf: from the verified token, however spelled).
    const { scope, owner } = tenantOf(c);
    const outcome = await createJob(c.env, { body, key, scope, owner });
    if (outcome.outcome !== "queued") throw refused(outcome, key, c.env);
    const { status } = outcome;
    const headers: Record<string, string> = { location: `/v1/jobs/${status.id}` };
    if (outcome.replayed) headers["idempotent-replayed"] = "true";
    return c.json(created(status), 202, headers);
  })
  .openapi(listJobs, async (c) => {
    const { state, cursor, limit } = c.req.valid("query");
    const max = settings(c.env).JOBS_LIST_PAGE_MAX;
    if (limit !== undefined && limit > max) {
      throw overLimit("JOBS_LIST_PAGE_MAX", max, `limit ${limit} is above JOBS_LIST_PAGE_MAX (${max}).`);
    }
    const after = cursor === undefined ? null : decodeListCursor(cursor);
    if (cursor !== undefined && after === null) {
      throw problem(400, "The cursor is not one this API gave out.", { type: "invalid-cursor" });
    }
    const page = await c.env.JOB_INDEX.getByName(ownerOf(c)).list(state ?? null, after, limit ?? 100);
    const next = page.next === null ? null : encodeListCursor(page.next.createdAt, page.next.id);
    return c.json({ items: page.items.map(summaryOf), next }, 200);
  })
  .openapi(getJob, async (c) => {
    const { id } = c.req.valid("param");
    const stub = jobStub(c.env, id);
    const { reader } = tenantOf(c);
    const status = await stub.status(reader);
    if (!status) throw await missing(stub, id, reader);
    return c.json(status, 200);
  })
  .openapi(getResults, async (c) => {
    const { id } = c.req.valid("param");
    const { cursor, limit } = c.req.valid("query");
    const s = settings(c.env);
    const max = s.JOBS_RESULTS_PAGE_MAX;
    if (limit !== undefined && limit > max) {
      throw overLimit("JOBS_RESULTS_PAGE_MAX", max, `limit ${limit} is above JOBS_RESULTS_PAGE_MAX (${max}).`);
    }
    let after = -1;
    if (cursor !== undefined) {
      const decoded = decodeCursor(cursor);
      if (decoded === null) throw problem(400, "The cursor is not one this API gave out.", { type: "invalid-cursor" });
      after = decoded;
    }
    const stub = jobStub(c.env, id);
    const { reader } = tenantOf(c);
    // A page stays well under the 32 MiB RPC limit whatever the result sizes.
    const page = await stub.results(after, limit ?? 100, 8 * 1_048_576, reader);
    if (!page) throw await missing(stub, id, reader);
    const items = page.items.map((item) => JSON.parse(item) as { index: number; ok: boolean });
    return c.json({ items, next: page.next === null ? null : encodeCursor(page.next) }, 200);
  })
  .openapi(cancelJob, async (c) => {
    const { id } = c.req.valid("param");
    const stub = jobStub(c.env, id);
    const { reader } = tenantOf(c);
    const outcome = await stub.cancel(reader);
    if (!outcome) throw await missing(stub, id, reader);
    if (outcome.outcome === "conflict") {
      throw problem(409, `Job ${id} has already finished (${outcome.status.state}); it cannot be canceled.`, {
        type: "job-finished",
        extensions: { state: outcome.status.state },
      });
    }
    return c.json(outcome.status, 200);
  })
  .openapi(retryJob, async (c) => {
    const { id } = c.req.valid("param");
    const stub = jobStub(c.env, id);
    const { reader } = tenantOf(c);
    const outcome = await stub.retryDead(reader);
    if (!outcome) throw await missing(stub, id, reader);
    if (outcome.outcome !== "requeued") {
      const why = outcome.outcome === "conflict" ? "is canceled" : "has no dead chunks";
      throw problem(409, `Job ${id} ${why}: nothing to retry.`, {
        type: "nothing-to-retry",
        extensions: { state: outcome.status.state },
      });
    }
    return c.json({ requeued: outcome.requeued, status: outcome.status }, 202);
  });
