/**
 * /demo/api: what the demo page at `/` calls instead of /v1, so that it never needs the API token. Served only with
 * DEMO_MODE=true (`npm start`); otherwise every route answers 404.
 *
 * Each route is one operation of a small allowlist: it validates the page's request tightly (names prefixed `demo-`
 * and at most 37 characters, a fixed ticket lifetime, increments of one), then makes the one /v1 call the operation
 * stands for, server-side, with the API token, and passes on only what the page needs. Nothing depends on the Host or
 * on who calls: a spoofed Host gets exactly what a loopback caller gets. All demo calls together are limited to
 * DEMO_RATE_LIMIT per DEMO_RATE_PERIOD_MS (one bucket, so no caller-chosen value ever names an object).
 *
 * The routes mirror their /v1 calls (same paths under /demo/api, same bodies, narrower), so the page uses the typed
 * client with its `/v1/` calls sent here (public/app.js). They reach only what demo routes created: `demo-` names,
 * and jobs whose id is in the demo's own space (`isDemoJobId`, decided from the id alone), so a /v1 job is never
 * read, watched or joined from here. Tickets, fan-outs and jobs are made here rather than through /v1, because what
 * makes them demo ones (a ticket whose socket counts against DEMO_RATE_LIMIT, the demo upstream guard on every
 * redirect, the demo's job scope) is nothing a /v1 request could ask for:
 *
 *   POST /demo/api/rooms/:room/tickets        a demo ticket (room demo-… or job:<demo job id>, ≤ 60 s)
 *   GET  /demo/api/counters/:name             → GET  /v1/counters/:name       (name demo-…)
 *   POST /demo/api/counters/:name/increment   → POST /v1/counters/:name/increment {by: 1}
 *   POST /demo/api/locks/:name/acquire|renew|release, GET /demo/api/locks/:name → the same on /v1/locks (ttl, wait ≤ 10 s)
 *   POST /demo/api/fanout                     as POST /v1/fanout (≤ 8 calls, JSON or streamed) to the demo upstream
 *   POST /demo/api/jobs, GET /demo/api/jobs/:id as POST /v1/jobs (≤ 20 calls to the demo upstream; the demo's own
 *                                               key scope), → GET /v1/jobs/:id for a demo job only
 *   GET  /demo/api/jobs/:id/results           → GET  /v1/jobs/:id/results (≤ 20 a page), for a demo job only
 *   GET  /demo/api/upstream/delay?ms=&status=  the demo upstream itself: answers `status` after `ms` (≤ 5 s)
 *
 * The fan-out and job routes call only the demo upstream, and only on a host FANOUT_ALLOW_HOSTS lists by name (`npm
 * start` lists 127.0.0.1:8787), redirects included: never a host or path a caller picks. A demo ticket's socket (on
 * /v1/rooms/:room/ws, where the client opens it) counts against the demo limit (`countDemoSocket`). A new panel is
 * one more route here mapped to its /v1 call.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  DEMO_UPSTREAM_PATH,
  demoUpstreamGuard,
  FanoutItemSchema,
  FanoutOptionsSchema,
  FanoutResultSchema,
  FanoutSummarySchema,
} from "../src/fanout";
import { type AppEnv, createApp } from "../src/http/app";
import { maxBody } from "../src/http/body-limit";
import { streamableResponse } from "../src/http/event-stream";
import { Problem, type ProblemBody, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, problemDoc, routesOf } from "../src/http/schemas";
import { requireSecret } from "../src/http/secrets";
import {
  CreateJobSchema,
  createJob,
  DEMO_SCOPE,
  isDemoJobId,
  JobCreatedSchema,
  JobStatusSchema,
  progressRoom,
  ResultsPageSchema,
} from "../src/jobs";
import { LockGrant, LockReleased, LockRenewed, LockStatus, LockToken } from "../src/locks";
import { rateCheck, rateLimit } from "../src/ratelimits";
import { MemberName, signTicket } from "../src/rooms";
import { settings } from "../src/settings";
import { runFanout } from "./fanout";
import { refused } from "./jobs";

/** How the demo routes reach /v1: the Worker's own fetch (index.ts passes it; no network hop). */
export type ApiFetch = (request: Request, env: Env, ctx: Context["executionCtx"]) => Response | Promise<Response>;

const DEMO_NAME = "demo-[A-Za-z0-9._:-]{1,32}";

const DemoName = z
  .string()
  .regex(new RegExp(`^${DEMO_NAME}$`), "must be demo- and 1-32 characters of A-Z a-z 0-9 . _ : -")
  .openapi({ param: { name: "name", in: "path" }, example: "demo-visits" });

const DemoRoom = z
  .string()
  .regex(new RegExp(`^(${DEMO_NAME}|job:[0-9a-f]{32})$`), "must be demo-… (1-32 more characters) or job:<job id>")
  .openapi({ param: { name: "room", in: "path" }, example: "demo-lobby" });

const DemoTicket = z
  .object({ ticket: z.string(), room: z.string(), user: z.string(), expiresAt: z.string() })
  .openapi("DemoTicket");
const DemoCounter = z
  .object({ name: z.string(), value: z.number().int(), updatedAt: z.number().nullable() })
  .openapi("DemoCounter");

const UPSTREAM_PATH = DEMO_UPSTREAM_PATH;
const DemoUrl = z
  .string()
  .max(256)
  .regex(
    /^https?:\/\/[^/?#@]+\/demo\/api\/upstream\/delay(\?[A-Za-z0-9=&._%-]*)?$/,
    `must be ${UPSTREAM_PATH} (with ?ms= and ?status=) on a host FANOUT_ALLOW_HOSTS lists`,
  )
  .openapi({ example: "http://127.0.0.1:8787/demo/api/upstream/delay?ms=300&status=200" });
const DemoCall = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,32}$/)
      .optional()
      .openapi({ example: "slow" }),
    url: DemoUrl,
  })
  .strict()
  .openapi("DemoCall");
const demoFanoutOptions = {
  concurrency: z.number().int().min(1).max(8).default(4),
  timeoutMs: z.number().int().min(1).max(5_000).default(2_000),
};
const DemoFanout = z
  .object({
    requests: z.array(DemoCall).min(1).max(8),
    ...demoFanoutOptions,
    deadlineMs: z.number().int().min(1).max(10_000).default(10_000),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(3).default(1),
        baseMs: z.number().int().min(1).max(1_000).default(100),
        maxMs: z.number().int().min(1).max(2_000).default(1_000),
      })
      .strict()
      .default({ attempts: 1, baseMs: 100, maxMs: 1_000 }),
  })
  .strict()
  .openapi("DemoFanout");
const DemoJob = z
  .object({
    type: z.literal("fanout"),
    requests: z
      .array(DemoCall.omit({ id: true }))
      .min(1)
      .max(20),
    ...demoFanoutOptions,
  })
  .strict()
  .openapi("DemoJob");
const DemoJobId = z
  .string()
  .regex(/^[0-9a-f]{32}$/, "must be a job id (32 characters of 0-9 a-f)")
  .openapi({ param: { name: "id", in: "path" }, example: "3f2a9c0e5b7d4e1fa2c8b6d0e9f17a53" });
const DemoKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 . _ : -")
  .openapi({ example: "demo-run-1" });

const DemoOwner = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 . _ : -")
  .openapi({ example: "holder-a" });
const DemoTtl = z.number().int().min(1).max(10_000).openapi({ example: 4_000 });
const DemoLockAcquire = z
  .object({ owner: DemoOwner, ttlMs: DemoTtl, waitMs: z.number().int().min(0).max(10_000).default(0) })
  .strict()
  .openapi("DemoLockAcquire");
const DemoLockRenew = z
  .object({ owner: DemoOwner, token: LockToken, ttlMs: DemoTtl })
  .strict()
  .openapi("DemoLockRenew");
const DemoLockRelease = z.object({ owner: DemoOwner, token: LockToken }).strict().openapi("DemoLockRelease");

const demoRoute = routesOf("demo");
const route = <M extends "get" | "post", P extends string>(
  method: M,
  path: P,
  operationId: string,
  summary: string,
) => ({
  ...demoRoute(method, path, operationId, `${summary} (demo page; DEMO_MODE only)`),
  security: [],
});

const notDemoJob = problemDoc("Not a job a demo route created");

const refusals = {
  400: problemDoc("Malformed or invalid request (names must start with demo-)"),
  404: problemDoc("DEMO_MODE is off"),
  413: problemDoc("Request body too large"),
  429: problemDoc("All demo calls together are over DEMO_RATE_LIMIT"),
};

const ticketRoute = createRoute({
  ...route(
    "post",
    "/demo/api/rooms/{room}/tickets",
    "createDemoTicket",
    "A 60-second ticket to join a demo- room or a job's room",
  ),
  request: {
    params: z.object({ room: DemoRoom }),
    body: jsonBody(
      z
        .object({ user: MemberName, ttlSec: z.number().int().min(1).max(60).optional() })
        .strict()
        .openapi("DemoTicketRequest"),
      { user: "ada" },
    ),
  },
  responses: { 201: jsonResponse(DemoTicket, "A signed ticket"), ...refusals, 404: notDemoJob },
});

const counterRoute = createRoute({
  ...route("get", "/demo/api/counters/{name}", "getDemoCounter", "Read a demo- counter"),
  request: { params: z.object({ name: DemoName }) },
  responses: { 200: jsonResponse(DemoCounter, "The counter"), ...refusals },
});

const incrementRoute = createRoute({
  ...route("post", "/demo/api/counters/{name}/increment", "incrementDemoCounter", "Add one to a demo- counter"),
  request: {
    params: z.object({ name: DemoName }),
    body: jsonBody(
      z
        .object({ by: z.literal(1) })
        .strict()
        .openapi("DemoIncrement"),
      { by: 1 },
    ),
  },
  responses: { 200: jsonResponse(DemoCounter, "The counter"), ...refusals },
});

const lockRoute = (path: string, operationId: string, summary: string) =>
  route("post", `/demo/api/locks/{name}/${path}`, operationId, summary);
const lockAcquireRoute = createRoute({
  ...lockRoute("acquire", "acquireDemoLock", "Acquire a demo- lock (ttl and wait at most 10 s)"),
  request: {
    params: z.object({ name: DemoName }),
    body: jsonBody(DemoLockAcquire, { owner: "holder-a", ttlMs: 4_000, waitMs: 10_000 }),
  },
  responses: {
    200: jsonResponse(LockGrant, "Granted"),
    409: problemDoc("Still held when waitMs ran out"),
    ...refusals,
  },
});
const lockRenewRoute = createRoute({
  ...lockRoute("renew", "renewDemoLock", "Renew a demo- lock's lease"),
  request: {
    params: z.object({ name: DemoName }),
    body: jsonBody(DemoLockRenew, { owner: "holder-a", token: 1, ttlMs: 4_000 }),
  },
  responses: { 200: jsonResponse(LockRenewed, "Renewed"), 409: problemDoc("The lease was lost"), ...refusals },
});
const lockReleaseRoute = createRoute({
  ...lockRoute("release", "releaseDemoLock", "Release a demo- lock"),
  request: { params: z.object({ name: DemoName }), body: jsonBody(DemoLockRelease, { owner: "holder-a", token: 1 }) },
  responses: { 200: jsonResponse(LockReleased, "Released"), 409: problemDoc("Not this holder's"), ...refusals },
});
const lockStatusRoute = createRoute({
  ...route("get", "/demo/api/locks/{name}", "getDemoLock", "A demo- lock's holder, token and waiters"),
  request: { params: z.object({ name: DemoName }) },
  responses: { 200: jsonResponse(LockStatus, "The lock"), ...refusals },
});

const DemoFanoutAnswer = z.object({ results: z.array(FanoutResultSchema), summary: FanoutSummarySchema });

const fanoutRoute = createRoute({
  ...route("post", "/demo/api/fanout", "runDemoFanout", "Fan out to the demo upstream (at most 8 calls)"),
  request: {
    body: jsonBody(DemoFanout, {
      requests: [{ id: "fast", url: "http://127.0.0.1:8787/demo/api/upstream/delay?ms=100" }],
      concurrency: 4,
      timeoutMs: 2_000,
    }),
  },
  responses: {
    200: streamableResponse(DemoFanoutAnswer, "As POST /v1/fanout: JSON, or streamed", {
      item: "FanoutResult",
      event: "result",
      order: "in completion order",
    }),
    ...refusals,
  },
});

const jobCreateRoute = createRoute({
  ...route("post", "/demo/api/jobs", "createDemoJob", "A job of at most 20 calls to the demo upstream"),
  request: {
    headers: z.object({ "idempotency-key": DemoKey }),
    body: jsonBody(DemoJob, {
      type: "fanout",
      requests: [{ url: "http://127.0.0.1:8787/demo/api/upstream/delay?ms=200" }],
      concurrency: 2,
    }),
  },
  responses: { 202: jsonResponse(JobCreatedSchema, "Queued"), ...refusals },
});
const jobStatusRoute = createRoute({
  ...route("get", "/demo/api/jobs/{id}", "getDemoJob", "A job's status"),
  request: { params: z.object({ id: DemoJobId }) },
  responses: {
    200: jsonResponse(JobStatusSchema, "The job"),
    ...refusals,
    404: notDemoJob,
    410: problemDoc("Deleted after its retention"),
  },
});

const jobResultsRoute = createRoute({
  ...route("get", "/demo/api/jobs/{id}/results", "listDemoJobResults", "A page of a job's results"),
  request: {
    params: z.object({ id: DemoJobId }),
    query: z.object({
      cursor: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/)
        .optional(),
      limit: z.coerce.number().int().min(1).max(20).optional(),
    }),
  },
  responses: { 200: jsonResponse(ResultsPageSchema, "The page"), ...refusals, 410: problemDoc("Deleted") },
});

const upstreamRoute = createRoute({
  ...route("get", UPSTREAM_PATH, "demoUpstreamDelay", "The demo upstream: answers `status` after `ms`"),
  request: {
    query: z.object({
      ms: z.coerce
        .number()
        .int()
        .min(1)
        .max(5_000)
        .optional()
        .openapi({ example: 300, description: "Milliseconds to wait before answering (none: at once)" }),
      status: z.coerce
        .number()
        .int()
        .min(200)
        .max(599)
        .refine((s) => ![204, 205, 304].includes(s), "must be a status that carries a body (not 204, 205, 304)")
        .default(200)
        .openapi({ example: 200 }),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ ms: z.number(), status: z.number() }), "After `ms`, with the status asked for"),
    ...refusals,
  },
});

/**
 * A demo fan-out's or job's calls: each URL on the demo upstream's path (the schema says so) and on a host the
 * FANOUT_ALLOW_HOSTS setting lists by name, so a demo call never reaches a host the caller picked. The guard, which
 * the calls' redirects pass too.
 */
function checkDemoCalls(c: Context<AppEnv>, urls: readonly string[]) {
  const guard = demoUpstreamGuard(settings(c.env).FANOUT_ALLOW_HOSTS);
  const at = urls.findIndex((url) => !guard(url).ok);
  if (at >= 0) {
    throw problem(
      400,
      `requests.${at}.url: demo calls go only to ${UPSTREAM_PATH} on a host FANOUT_ALLOW_HOSTS lists.`,
      {
        type: "invalid-request",
        extensions: {
          errors: [{ path: `requests.${at}.url`, message: "not the demo upstream on an allowlisted host" }],
        },
      },
    );
  }
  return guard;
}

/** A job id from a demo caller: a demo job's, or 404 before anything is reached. */
async function demoJob(id: string): Promise<string> {
  if (await isDemoJobId(id)) return id;
  throw problem(404, `No demo job with id ${id}: the demo routes reach only the jobs they created.`, {
    type: "demo-job-not-found",
  });
}

/** The demo limit's settings: all demo calls together (one bucket, named by no caller). */
const demoLimit = {
  limit: (c: Context<AppEnv>) => settings(c.env).DEMO_RATE_LIMIT,
  periodMs: (c: Context<AppEnv>) => settings(c.env).DEMO_RATE_PERIOD_MS,
  setting: "DEMO_RATE_LIMIT",
};
const DEMO_BUCKET = "demo";
const demoSockets = rateCheck<AppEnv>(demoLimit);

/**
 * The socket of a demo ticket (on /v1/rooms/:room/ws, where the client opens it) counts against DEMO_RATE_LIMIT,
 * in the bucket of every other demo call; with DEMO_MODE off a demo ticket opens nothing.
 *
 * @example
 * if (check.claims.demo) await countDemoSocket(c); // throws the 429
 */
export async function countDemoSocket(c: Context<AppEnv>): Promise<void> {
  if (!settings(c.env).DEMO_MODE) {
    throw problem(404, "Demo tickets open sockets only with DEMO_MODE=true (npm start).", { type: "demo-off" });
  }
  await demoSockets(c, DEMO_BUCKET);
}

/** Lifetime of a demo ticket: it only has to outlive the handshake. */
const DEMO_TICKET_SECONDS = 60;

/**
 * The demo routes, making their /v1 calls through `api`.
 *
 * @example
 * app.route("/", demo((request, env, ctx) => app.fetch(request, env, ctx)));
 */
export function demo(api: ApiFetch) {
  /** Make one /v1 call with the API token; its JSON answer when ok, its problem (passed on as is) otherwise. */
  async function v1<T>(c: Context<AppEnv>, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const request = new Request(new URL(path, "https://demo.internal"), {
      method,
      headers: {
        authorization: `Bearer ${c.env.API_TOKEN ?? ""}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      // The page leaving aborts the /v1 call too.
      signal: c.req.raw.signal,
    });
    const res = await api(request, c.env, c.executionCtx);
    if (res.ok) return res.json<T>();
    const answer = await res.json<ProblemBody>();
    const retryAfter = res.headers.get("retry-after");
    throw new Problem(res.status as 400, answer, retryAfter ? { "retry-after": retryAfter } : {});
  }
  const lockPath = (name: string, action = "") => `/v1/locks/${encodeURIComponent(name)}${action}`;

  const app = createApp();
  app.use("/demo/api/*", async function demoMode(c, next) {
    if (!settings(c.env).DEMO_MODE) {
      throw problem(404, "The demo routes are served only with DEMO_MODE=true (npm start).", { type: "demo-off" });
    }
    await next();
  });
  app.use("/demo/api/*", rateLimit<AppEnv>({ ...demoLimit, key: () => DEMO_BUCKET }));
  app.use("/demo/api/*", maxBody());

  return app
    .openapi(ticketRoute, async (c) => {
      const { room } = c.req.valid("param");
      const { user, ttlSec: asked } = c.req.valid("json");
      if (room.startsWith("job:")) await demoJob(room.slice(4));
      const ttlSec = Math.min(asked ?? DEMO_TICKET_SECONDS, settings(c.env).ROOM_TICKET_MAX_TTL_SECONDS);
      const secret = requireSecret(c.env, "ROOM_TICKET_SECRET", "rooms refuse tickets");
      const { ticket, claims } = await signTicket(secret, { room, user, ttlSec, demo: true });
      return c.json({ ticket, room, user, expiresAt: new Date(claims.exp).toISOString() }, 201);
    })
    .openapi(counterRoute, async (c) => {
      const { name } = c.req.valid("param");
      const counter = await v1<z.infer<typeof DemoCounter>>(c, "GET", `/v1/counters/${encodeURIComponent(name)}`);
      return c.json({ name: counter.name, value: counter.value, updatedAt: counter.updatedAt }, 200);
    })
    .openapi(incrementRoute, async (c) => {
      const { name } = c.req.valid("param");
      const path = `/v1/counters/${encodeURIComponent(name)}/increment`;
      const counter = await v1<z.infer<typeof DemoCounter>>(c, "POST", path, { by: 1 });
      return c.json({ name: counter.name, value: counter.value, updatedAt: counter.updatedAt }, 200);
    })
    .openapi(lockAcquireRoute, async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        await v1<z.infer<typeof LockGrant>>(c, "POST", lockPath(name, "/acquire"), c.req.valid("json")),
        200,
      );
    })
    .openapi(lockRenewRoute, async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        await v1<z.infer<typeof LockRenewed>>(c, "POST", lockPath(name, "/renew"), c.req.valid("json")),
        200,
      );
    })
    .openapi(lockReleaseRoute, async (c) => {
      const { name } = c.req.valid("param");
      const body = c.req.valid("json");
      return c.json(await v1<z.infer<typeof LockReleased>>(c, "POST", lockPath(name, "/release"), body), 200);
    })
    .openapi(lockStatusRoute, async (c) => {
      const { name } = c.req.valid("param");
      return c.json(await v1<z.infer<typeof LockStatus>>(c, "GET", lockPath(name)), 200);
    })
    .openapi(fanoutRoute, async (c) => {
      const { requests, ...options } = c.req.valid("json");
      const guard = checkDemoCalls(
        c,
        requests.map((r) => r.url),
      );
      const items = requests.map((r, i) => FanoutItemSchema.parse({ id: String(i), ...r }));
      // The /v1 fan-out's engine and answer, with the demo guard on every hop.
      return runFanout(c, items, FanoutOptionsSchema.parse(options), guard);
    })
    .openapi(jobCreateRoute, async (c) => {
      const body = c.req.valid("json");
      checkDemoCalls(
        c,
        body.requests.map((r) => r.url),
      );
      // The demo's own scope: its ids are demo ones, and no /v1 key (whatever its spelling) names a demo job.
      const key = c.req.valid("header")["idempotency-key"];
      const outcome = await createJob(c.env, { body: CreateJobSchema.parse(body), key, scope: DEMO_SCOPE });
      if (outcome.outcome !== "queued") throw refused(outcome, key, c.env);
      const { id, state } = outcome.status;
      return c.json(
        { id, state, statusUrl: `/demo/api/jobs/${id}`, room: progressRoom(id) },
        202,
        outcome.replayed ? { "idempotent-replayed": "true" } : {},
      );
    })
    .openapi(jobStatusRoute, async (c) => {
      const id = await demoJob(c.req.valid("param").id);
      return c.json(await v1<z.infer<typeof JobStatusSchema>>(c, "GET", `/v1/jobs/${id}`), 200);
    })
    .openapi(jobResultsRoute, async (c) => {
      const id = await demoJob(c.req.valid("param").id);
      const { cursor, limit = 20 } = c.req.valid("query");
      const query = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
      return c.json(await v1<z.infer<typeof ResultsPageSchema>>(c, "GET", `/v1/jobs/${id}/results?${query}`), 200);
    })
    .openapi(upstreamRoute, async (c) => {
      const { ms = 0, status } = c.req.valid("query");
      // The status asked for is the demo's result, not a failure: the access log does not report it as an error.
      c.set("asAsked", true);
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return c.json({ ms, status }, status as 200);
    });
}
