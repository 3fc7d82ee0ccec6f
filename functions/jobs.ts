/**
 * /v1/jobs: durable work on Cloudflare Queues. POST creates a job (idempotent by Idempotency-Key), GET reads its
 * status and pages through its results, DELETE cancels it, POST …/retry puts its dead chunks back on the queue.
 */
import { createRoute } from "@hono/zod-openapi";
import { checkHeaderLimits } from "../src/fanout/limits";
import { createUrlGuard } from "../src/fanout/url-guard";
import { createApp } from "../src/http/app";
import { log } from "../src/http/log";
import { overLimit, problem } from "../src/http/problem";
import { jsonResponse, problemDoc, problemDocs } from "../src/http/schemas";
import { bodyHash, decodeCursor, encodeCursor, JOB_ID_PATTERN, jobIdFor } from "../src/jobs/ids";
import { progressRoom } from "../src/jobs/progress";
import {
  CreateJobSchema,
  IdempotencyHeaders,
  JobCreatedSchema,
  JobIdParams,
  JobStatusSchema,
  ResultsPageSchema,
  ResultsQuery,
  RetrySchema,
} from "../src/jobs/schema";
import type { CreateJobInput, JobStatus, WebhookSpec } from "../src/jobs/types";
import { settings } from "../src/settings";

const json = jsonResponse;

const createJob = createRoute({
  method: "post",
  path: "/",
  tags: ["jobs"],
  summary: "Create a job (fan-out or webhook), idempotent by Idempotency-Key",
  request: {
    headers: IdempotencyHeaders,
    body: { required: true, content: { "application/json": { schema: CreateJobSchema } } },
  },
  responses: {
    202: json(JobCreatedSchema, "Queued (or, for a key seen before with the same body, the existing job)"),
    ...problemDocs,
    413: problemDoc("More requests than JOBS_MAX_REQUESTS, or a body larger than MAX_BODY_BYTES"),
    422: problemDoc("The Idempotency-Key was used before with a different body"),
    503: problemDoc("Webhook jobs need the JOBS_WEBHOOK_SECRET secret, or the queue refused the chunks (POST again)"),
  },
});

const getJob = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["jobs"],
  summary: "A job's status and counters",
  request: { params: JobIdParams },
  responses: { 200: json(JobStatusSchema, "The job"), ...problemDocs, 404: problemDoc("No such job") },
});

const getResults = createRoute({
  method: "get",
  path: "/{id}/results",
  tags: ["jobs"],
  summary: "Page through a job's results in request order",
  request: { params: JobIdParams, query: ResultsQuery },
  responses: { 200: json(ResultsPageSchema, "A page of results"), ...problemDocs, 404: problemDoc("No such job") },
});

const cancelJob = createRoute({
  method: "delete",
  path: "/{id}",
  tags: ["jobs"],
  summary: "Cancel a job: chunks not yet run are skipped",
  request: { params: JobIdParams },
  responses: {
    200: json(JobStatusSchema, "Canceled (also when it already was)"),
    ...problemDocs,
    404: problemDoc("No such job"),
    409: problemDoc("The job has already finished"),
  },
});

const retryJob = createRoute({
  method: "post",
  path: "/{id}/retry",
  tags: ["jobs"],
  summary: "Put a job's dead chunks back on the queue",
  request: { params: JobIdParams },
  responses: {
    202: json(RetrySchema, "Dead chunks re-queued"),
    ...problemDocs,
    404: problemDoc("No such job"),
    409: problemDoc("The job is canceled or has no dead chunks"),
  },
});

/** The Job object of an id from the path; ids that cannot be ours are unknown without touching storage. */
function jobStub(env: Env, id: string) {
  if (!JOB_ID_PATTERN.test(id)) throw notFound(id);
  return env.JOB.getByName(id);
}

const notFound = (id: string) => problem(404, `No job with id ${id}.`, { type: "job-not-found" });

function created(status: JobStatus) {
  return {
    id: status.id,
    state: status.state,
    statusUrl: `/v1/jobs/${status.id}`,
    room: progressRoom(status.id),
  };
}

export const jobs = createApp()
  .openapi(createJob, async (c) => {
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    const s = settings(c.env);
    if (body.type === "fanout") {
      const max = s.JOBS_MAX_REQUESTS;
      if (body.requests.length > max) {
        throw overLimit(
          "JOBS_MAX_REQUESTS",
          max,
          `The job has ${body.requests.length} requests; JOBS_MAX_REQUESTS allows ${max}.`,
          { status: 413, type: "too-many-requests-in-job" },
        );
      }
      checkHeaderLimits(body.requests, s);
      // Refused before anything is stored or queued, as a webhook url is (the consumer checks every hop again).
      const guard = createUrlGuard(s.FANOUT_ALLOW_HOSTS);
      const errors = body.requests.flatMap((request, index) => {
        const verdict = guard(request.url);
        return verdict.ok ? [] : [{ path: `requests.${index}.url`, message: verdict.reason }];
      });
      const [first] = errors;
      if (first) {
        throw problem(
          400,
          `${errors.length} request url(s) may not be called; the first, ${first.path}: ${first.message}.`,
          { type: "url-blocked", extensions: { errors: errors.slice(0, 20) } },
        );
      }
    } else {
      if (!c.env.JOBS_WEBHOOK_SECRET) {
        throw problem(
          503,
          "Webhook jobs need the JOBS_WEBHOOK_SECRET secret (wrangler secret put JOBS_WEBHOOK_SECRET).",
          { type: "not-configured" },
        );
      }
      checkHeaderLimits([{ headers: body.headers ?? {} }], s);
      const verdict = createUrlGuard(s.FANOUT_ALLOW_HOSTS)(body.url);
      if (!verdict.ok) {
        throw problem(400, `The webhook url may not be called: ${verdict.reason}.`, {
          type: "url-blocked",
          extensions: { errors: [{ path: "url", message: verdict.reason }] },
        });
      }
    }
    // The scope keeps one caller's keys apart from another's (the bearer token, hashed into the id).
    const scope = c.req.header("authorization") ?? "";
    const id = await jobIdFor(scope, key);
    const hash = await bodyHash(body);
    let input: CreateJobInput;
    if (body.type === "fanout") {
      const { type: _type, requests, ...options } = body;
      const requestsJson = JSON.stringify(requests);
      const optionsJson = JSON.stringify(options);
      input = { id, type: "fanout", bodyHash: hash, requestsJson, optionsJson, chunkSize: s.JOBS_CHUNK_SIZE };
    } else {
      const spec: WebhookSpec = {
        url: body.url,
        payload: body.payload ?? null,
        ...(body.headers ? { headers: body.headers } : {}),
      };
      input = { id, type: "webhook", bodyHash: hash, webhookJson: JSON.stringify(spec), chunkSize: 1 };
    }
    const stub = c.env.JOB.getByName(id);
    const outcome = await stub.create(input);
    if (outcome.outcome === "conflict") {
      throw problem(422, `The Idempotency-Key ${key} was already used with a different request body.`, {
        type: "idempotency-key-reused",
        extensions: { id },
      });
    }
    // Also on a replay: sends whatever a failed earlier attempt left unsent (nothing, usually).
    const dispatched = await stub.dispatch();
    if (dispatched.error) {
      log("error", "job dispatch failed", { id, sent: dispatched.sent, error: dispatched.error });
      throw problem(503, `Job ${id} is stored but its chunks could not be queued: POST again with the same key.`, {
        type: "queue-unavailable",
        extensions: { id },
        headers: { "retry-after": "1" },
      });
    }
    const headers: Record<string, string> = { location: `/v1/jobs/${id}` };
    if (outcome.outcome === "existing") headers["idempotent-replayed"] = "true";
    return c.json(created(outcome.status), 202, headers);
  })
  .openapi(getJob, async (c) => {
    const { id } = c.req.valid("param");
    const status = await jobStub(c.env, id).status();
    if (!status) throw notFound(id);
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
    // A page stays well under the 32 MiB RPC limit whatever the result sizes.
    const page = await stub.results(after, limit ?? 100, 8 * 1_048_576);
    if (!page) throw notFound(id);
    const items = page.items.map((item) => JSON.parse(item) as { index: number; ok: boolean });
    return c.json({ items, next: page.next === null ? null : encodeCursor(page.next) }, 200);
  })
  .openapi(cancelJob, async (c) => {
    const { id } = c.req.valid("param");
    const outcome = await jobStub(c.env, id).cancel();
    if (!outcome) throw notFound(id);
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
    const outcome = await jobStub(c.env, id).retryDead();
    if (!outcome) throw notFound(id);
    if (outcome.outcome !== "requeued") {
      const why = outcome.outcome === "conflict" ? "is canceled" : "has no dead chunks";
      throw problem(409, `Job ${id} ${why}: nothing to retry.`, {
        type: "nothing-to-retry",
        extensions: { state: outcome.status.state },
      });
    }
    return c.json({ requeued: outcome.requeued, status: outcome.status }, 202);
  });
