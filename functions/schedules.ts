/**
 * /v1/schedules: cron schedules that create a job at each fire time. POST creates one (its cron, time zone and job
 * checked first), GET lists the caller's or reads one (next fire times, last runs), pause, resume, DELETE.
 * One Schedule Durable Object per owner and name; one ScheduleIndex per owner (src/schedules/).
 */
import { createRoute } from "@hono/zod-openapi";
import { createApp, requireName, scope } from "../src/http/app";
import { ownerOf } from "../src/http/owner";
import { overLimit, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import { canonicalJson, checkJob } from "../src/jobs";
import {
  cronError,
  cronTimes,
  fromWire,
  isTimeZone,
  ScheduleBody,
  ScheduleDeletedSchema,
  type ScheduleInput,
  ScheduleListQuery,
  ScheduleListSchema,
  ScheduleParams,
  ScheduleQuery,
  ScheduleSchema,
  ScheduleSummarySchema,
  shortestGapSeconds,
} from "../src/schedules";
import { settings } from "../src/settings";
import { refused } from "./jobs";

const route = routesOf("schedules");
const json = jsonResponse;
const notFoundDoc = problemDoc("No such schedule");

const create = createRoute({
  ...route("post", "/", "createSchedule", "Create a schedule: a job at each fire time of a cron expression"),
  ...scope("schedules:write"),
  request: {
    body: jsonBody(ScheduleBody, {
      name: "nightly-sync",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      job: { type: "fanout", requests: [{ url: "https://api.example.com/sync" }] },
    }),
  },
  responses: {
    201: json(ScheduleSchema, "Created"),
    200: json(ScheduleSchema, "A schedule of this name with the same definition exists already"),
    ...problemDocs,
    409: problemDoc("Another schedule has this name, or the caller has SCHEDULES_MAX_PER_CALLER"),
    413: problemDoc("The job has more requests than JOBS_MAX_REQUESTS, or headers over the fan-out limits"),
    503: problemDoc("Webhook jobs need the JOBS_WEBHOOK_SECRET secret, or the index was unreachable (POST again)"),
  },
});

const list = createRoute({
  ...route("get", "/", "listSchedules", "The caller's schedules, in name order"),
  ...scope("schedules:read"),
  request: { query: ScheduleListQuery },
  responses: { 200: json(ScheduleListSchema, "A page of schedules"), ...problemDocs },
});

const read = createRoute({
  ...route("get", "/{name}", "getSchedule", "A schedule: definition, next fire times, last runs and their jobs"),
  ...scope("schedules:read", "name"),
  request: { params: ScheduleParams, query: ScheduleQuery },
  responses: { 200: json(ScheduleSchema, "The schedule"), ...problemDocs, 404: notFoundDoc },
});

const pause = createRoute({
  ...route("post", "/{name}/pause", "pauseSchedule", "Stop creating jobs until resumed"),
  ...scope("schedules:write", "name"),
  request: { params: ScheduleParams },
  responses: { 200: json(ScheduleSummarySchema, "Paused"), ...problemDocs, 404: notFoundDoc },
});

const resume = createRoute({
  ...route("post", "/{name}/resume", "resumeSchedule", "Create jobs again from the next fire time"),
  ...scope("schedules:write", "name"),
  request: { params: ScheduleParams },
  responses: { 200: json(ScheduleSummarySchema, "Resumed"), ...problemDocs, 404: notFoundDoc },
});

const remove = createRoute({
  ...route("delete", "/{name}", "deleteSchedule", "Delete a schedule (its jobs are left as they are)"),
  ...scope("schedules:write", "name"),
  request: { params: ScheduleParams },
  responses: { 200: json(ScheduleDeletedSchema, "Deleted"), ...problemDocs, 404: notFoundDoc },
});

const notFound = (name: string) => problem(404, `No schedule named ${name}.`, { type: "schedule-not-found" });

const invalid = (path: string, message: string) =>
  problem(400, `The request body is invalid: ${path}: ${message}`, {
    type: "invalid-request",
    extensions: { errors: [{ path, message }] },
  });

/** What a schedule must be beyond its schema: a real time zone, a cron that parses and fires, not too often. */
function check(env: Env, body: ScheduleInput): void {
  const s = settings(env);
  if (!isTimeZone(body.timezone)) throw invalid("timezone", `unknown time zone ${body.timezone}`);
  const error = cronError(body.cron);
  if (error) throw invalid("cron", error);
  const gap = shortestGapSeconds(body.cron);
  const min = s.SCHEDULES_MIN_INTERVAL_SECONDS;
  if (gap < min) {
    throw overLimit(
      "SCHEDULES_MIN_INTERVAL_SECONDS",
      min,
      `The cron fires ${gap} s apart; SCHEDULES_MIN_INTERVAL_SECONDS asks for at least ${min}.`,
    );
  }
  if (cronTimes(body.cron, body.timezone).next(Date.now()) === null) throw invalid("cron", "never fires");
  // A schedule's job starts at its fire time: a fixed runAt would be one instant for every run (delayMs is fine).
  if (body.job.runAt !== undefined)
    throw invalid("job.runAt", "a schedule's job starts at each fire time: use delayMs");
  const refusal = checkJob(body.job, env, s, Date.now());
  if (refusal && refusal.outcome !== "queued") throw refused(refusal, "", env);
}

const stubOf = (env: Env, owner: string, name: string) => env.SCHEDULE.getByName(`${owner}:${name}`);

/** List cursors: the last name of the page, base64url (opaque to callers, and only ever their own names). */
const encodeCursor = (name: string) => btoa(name).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
function decodeCursor(cursor: string): string {
  try {
    const name = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    if (/^[A-Za-z0-9._:-]{1,128}$/.test(name)) return name;
  } catch {}
  throw problem(400, "The cursor is not one this API gave out.", { type: "invalid-cursor" });
}

export const schedules = createApp()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    requireName(c, "schedules", body.name);
    if (body.job.flow) requireName(c, "flow", body.job.flow.key);
    check(c.env, body);
    const owner = ownerOf(c);
    const { name, cron, timezone, job, missed, overlap, paused } = body;
    const outcome = await stubOf(c.env, owner, name).create({
      owner,
      name,
      cron,
      timezone,
      jobJson: JSON.stringify(job),
      missed,
      overlap,
      paused,
      definition: canonicalJson({ cron, timezone, job, missed, overlap }),
      max: settings(c.env).SCHEDULES_MAX_PER_CALLER,
    });
    switch (outcome.outcome) {
      case "created":
        return c.json(fromWire(outcome.schedule), 201, { location: `/v1/schedules/${name}` });
      case "existing":
        return c.json(fromWire(outcome.schedule), 200);
      case "conflict":
        throw problem(409, `A schedule named ${name} exists with another definition: delete it first.`, {
          type: "schedule-exists",
        });
      case "full":
        throw overLimit(
          "SCHEDULES_MAX_PER_CALLER",
          outcome.max,
          `You have ${outcome.max} schedules; SCHEDULES_MAX_PER_CALLER allows ${outcome.max}.`,
          { status: 409, type: "too-many-schedules" },
        );
      case "unavailable":
        throw problem(503, "The schedule index did not answer: nothing was created; POST again.", {
          type: "unavailable",
          headers: { "retry-after": "1" },
        });
    }
  })
  .openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const owner = ownerOf(c);
    const after = cursor === undefined ? "" : decodeCursor(cursor);
    const page = await c.env.SCHEDULE_INDEX.getByName(owner).page(after, limit ?? 50);
    const summaries = await Promise.all(page.names.map((name) => stubOf(c.env, owner, name).summary()));
    const items = summaries.filter((s) => s !== null);
    return c.json({ items, next: page.next === null ? null : encodeCursor(page.next) }, 200);
  })
  .openapi(read, async (c) => {
    const { name } = c.req.valid("param");
    const view = await stubOf(c.env, ownerOf(c), name).view(c.req.valid("query").next ?? 5);
    if (!view) throw notFound(name);
    return c.json(fromWire(view), 200);
  })
  .openapi(pause, async (c) => {
    const { name } = c.req.valid("param");
    const summary = await stubOf(c.env, ownerOf(c), name).pause();
    if (!summary) throw notFound(name);
    return c.json(summary, 200);
  })
  .openapi(resume, async (c) => {
    const { name } = c.req.valid("param");
    const summary = await stubOf(c.env, ownerOf(c), name).resume();
    if (!summary) throw notFound(name);
    return c.json(summary, 200);
  })
  .openapi(remove, async (c) => {
    const { name } = c.req.valid("param");
    if (!(await stubOf(c.env, ownerOf(c), name).remove())) throw notFound(name);
    return c.json({ name, deleted: true as const }, 200);
  });
