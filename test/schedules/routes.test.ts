/**
 * /v1/schedules over the worker's fetch: what a POST is checked for beyond its schema (time zone, cron, the interval
 * and per-caller bounds, the job as POST /v1/jobs checks it), replays and conflicts, the list and its pages, and the
 * owner's index kept right when it does not answer (a create that fails leaves nothing; a delete still deletes).
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newKey, up } from "../helpers/upstream";
import { alarmOf, call, OWNER, ownerOf, stubOf, tablesOf, withEnv } from "./helpers";

interface Problem {
  type: string;
  detail: string;
  limit?: string;
  max?: number;
  errors?: { path: string; message: string }[];
}

interface Summary {
  name: string;
  cron: string;
  timezone: string;
  paused: boolean;
  nextRunAt: string | null;
}

const fresh = () => `s-${crypto.randomUUID()}`;
const job = () => ({ type: "fanout", requests: [{ url: up({ key: newKey() }) }] });
const schedule = (extra: Record<string, unknown> = {}) => ({ name: fresh(), cron: "0 3 * * *", job: job(), ...extra });

/** A token of its own, so that its schedules are the only ones its list and bound see. */
const ownToken = () => `token-${crypto.randomUUID()}`;

describe("POST /v1/schedules", () => {
  it("creates a schedule with its defaults and next fire times in its time zone (201, Location)", async () => {
    const body = schedule({ cron: "30 2 * * *", timezone: "Europe/Berlin" });
    const res = await call<Record<string, unknown>>("POST", "/v1/schedules", body);
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v1/schedules/${body.name}`);
    expect(res.body).toMatchObject({
      name: body.name,
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      missed: "latest",
      overlap: "skip",
      paused: false,
      runs: [],
      job: { type: "fanout", requests: [{ url: body.job.requests[0]?.url }] },
    });
    const nextRuns = res.body.nextRuns as string[];
    expect(nextRuns).toHaveLength(5);
    // 02:30 in Berlin is 00:30 or 01:30 UTC, one day apart.
    for (const t of nextRuns) expect(t).toMatch(/T0[01]:30:00\.000Z$/);
    expect(res.body.nextRunAt).toBe(nextRuns[0]);
    const read = await call<{ nextRuns: string[] }>("GET", `/v1/schedules/${body.name}?next=12`);
    expect(read.body.nextRuns).toHaveLength(12);
    expect(read.body.nextRuns.slice(0, 5)).toEqual(nextRuns);
  });

  it("answers a replay of the same definition with the schedule (200), another definition with 409", async () => {
    const body = schedule();
    expect((await call("POST", "/v1/schedules", body)).status).toBe(201);
    const again = await call<Summary>("POST", "/v1/schedules", { ...body, job: { ...body.job } });
    expect(again).toMatchObject({ status: 200, body: { name: body.name, cron: "0 3 * * *" } });
    const other = await call<Problem>("POST", "/v1/schedules", { ...body, cron: "0 4 * * *" });
    expect(other).toMatchObject({ status: 409, body: { type: "urn:edgeloop:problem:schedule-exists" } });
    expect((await call<Summary>("GET", `/v1/schedules/${body.name}`)).body.cron).toBe("0 3 * * *");
  });

  it("refuses what the schema cannot tell with a 400 naming the field, and stores nothing", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ timezone: "Mars/Olympus" }, "timezone", /unknown time zone/],
      [{ cron: "* * * *" }, "cron", /five, six, or seven/],
      [{ cron: "0 0 0 * * * 2030" }, "cron", /5 or 6 parts/],
      [{ cron: "61 * * * *" }, "cron", /minute/],
      [{ cron: "0 0 30 2 *" }, "cron", /never fires/],
    ];
    for (const [extra, path, message] of cases) {
      const body = schedule(extra);
      const res = await call<Problem>("POST", "/v1/schedules", body);
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.body.errors?.[0]?.path).toBe(path);
      expect(res.body.errors?.[0]?.message).toMatch(message);
      expect(await tablesOf(stubOf(body.name))).toEqual([]);
    }
  });

  it("refuses a cron firing more often than SCHEDULES_MIN_INTERVAL_SECONDS, naming it", async () => {
    const vars = { SCHEDULES_MIN_INTERVAL_SECONDS: "60" };
    const body = schedule({ cron: "*/30 * * * * *" });
    const res = await call<Problem>("POST", "/v1/schedules", body, { vars });
    expect(res).toMatchObject({ status: 400, body: { limit: "SCHEDULES_MIN_INTERVAL_SECONDS", max: 60 } });
    expect(res.body.detail).toMatch(/fires 30 s apart/);
    expect(await tablesOf(stubOf(body.name))).toEqual([]);
    expect((await call("POST", "/v1/schedules", schedule({ cron: "* * * * *" }), { vars })).status).toBe(201);
    const often = { SCHEDULES_MIN_INTERVAL_SECONDS: "1" };
    expect((await call("POST", "/v1/schedules", schedule({ cron: "* * * * * *" }), { vars: often })).status).toBe(201);
  });

  it("checks the job as POST /v1/jobs does: a blocked URL, too many headers, a webhook without its secret", async () => {
    const blocked = schedule({ job: { type: "fanout", requests: [{ url: "http://10.0.0.1/x" }] } });
    const res = await call<Problem>("POST", "/v1/schedules", blocked);
    expect(res).toMatchObject({ status: 400, body: { type: "urn:edgeloop:problem:url-blocked" } });
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, "v"]));
    const many = schedule({ job: { type: "fanout", requests: [{ url: up({ key: newKey() }), headers }] } });
    expect(await call<Problem>("POST", "/v1/schedules", many)).toMatchObject({
      status: 413,
      body: { limit: "FANOUT_MAX_HEADERS" },
    });
    const webhook = schedule({ job: { type: "webhook", url: up({ key: newKey() }), payload: {} } });
    expect((await call("POST", "/v1/schedules", webhook, { vars: { JOBS_WEBHOOK_SECRET: "" } })).status).toBe(503);
    for (const body of [blocked, many, webhook]) expect(await tablesOf(stubOf(body.name))).toEqual([]);
  });

  it("refuses the schedule past SCHEDULES_MAX_PER_CALLER (409) until one is deleted; other callers are not counted", async () => {
    const token = ownToken();
    const vars = { SCHEDULES_MAX_PER_CALLER: "2" };
    const [a, b, c] = [schedule(), schedule(), schedule()];
    expect((await call("POST", "/v1/schedules", a, { token, vars })).status).toBe(201);
    expect((await call("POST", "/v1/schedules", b, { token, vars })).status).toBe(201);
    const full = await call<Problem>("POST", "/v1/schedules", c, { token, vars });
    expect(full).toMatchObject({
      status: 409,
      body: { type: "urn:edgeloop:problem:too-many-schedules", limit: "SCHEDULES_MAX_PER_CALLER", max: 2 },
    });
    const owner = await ownerOf(token);
    expect(await tablesOf(stubOf(c.name, owner))).toEqual([]);
    // A replay of an existing one is no new schedule.
    expect((await call("POST", "/v1/schedules", a, { token, vars })).status).toBe(200);
    // Another caller has its own count.
    expect((await call("POST", "/v1/schedules", schedule(), { token: ownToken(), vars })).status).toBe(201);

    expect((await call("DELETE", `/v1/schedules/${a.name}`, undefined, { token })).status).toBe(200);
    expect((await call("POST", "/v1/schedules", c, { token, vars })).status).toBe(201);
    expect(await env.SCHEDULE_INDEX.getByName(owner).count()).toBe(2);
  });
});

describe("GET /v1/schedules", () => {
  it("lists the caller's schedules in name order, a page at a time, and no one else's", async () => {
    const token = ownToken();
    const names = ["b-nightly", "a-hourly", "c-weekly"];
    for (const name of names) {
      expect((await call("POST", "/v1/schedules", { ...schedule(), name }, { token })).status).toBe(201);
    }
    const first = await call<{ items: Summary[]; next: string | null }>("GET", "/v1/schedules?limit=2", undefined, {
      token,
    });
    expect(first.body.items.map((s) => s.name)).toEqual(["a-hourly", "b-nightly"]);
    expect(first.body.items[0]).toMatchObject({ cron: "0 3 * * *", timezone: "UTC", paused: false });
    expect(first.body.next).toEqual(expect.any(String));
    const second = await call<{ items: Summary[]; next: string | null }>(
      "GET",
      `/v1/schedules?limit=2&cursor=${first.body.next}`,
      undefined,
      { token },
    );
    expect(second.body).toEqual({ items: [expect.objectContaining({ name: "c-weekly" })], next: null });
    const others = await call<{ items: Summary[] }>("GET", "/v1/schedules?limit=100");
    expect(others.body.items.map((s) => s.name)).not.toContain("a-hourly");
  });

  it("refuses a cursor it did not give out", async () => {
    const res = await call<Problem>("GET", `/v1/schedules?cursor=${btoa("has spaces!")}`);
    expect(res).toMatchObject({ status: 400, body: { type: "urn:edgeloop:problem:invalid-cursor" } });
  });
});

describe("the owner's index when it does not answer", () => {
  const unreachable = {
    getByName: () => ({
      add: () => Promise.reject(new Error("index unreachable")),
      remove: () => Promise.reject(new Error("index unreachable")),
    }),
  };

  it("a create it fails is 503 and leaves nothing: the alarm removes what was stored", async () => {
    const body = schedule();
    const stub = stubOf(body.name);
    await withEnv(stub, { SCHEDULE_INDEX: unreachable });
    const res = await call<Problem>("POST", "/v1/schedules", body);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await call("GET", `/v1/schedules/${body.name}`)).status).toBe(404);
    // Stored as being created, with an alarm to finish: here, to take it out again.
    expect(await tablesOf(stub)).toEqual(["schedule", "runs"]);
    expect(await alarmOf(stub)).not.toBeNull();

    await withEnv(stub, {});
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await tablesOf(stub)).toEqual([]);
    expect(await alarmOf(stub)).toBeNull();
    expect((await env.SCHEDULE_INDEX.getByName(OWNER).page(body.name, 1)).names).not.toContain(body.name);
    // POSTed again, it is created.
    expect((await call("POST", "/v1/schedules", body)).status).toBe(201);
  });

  it("a delete it fails still deletes: gone at once, out of the list, and out of the index by the alarm", async () => {
    const token = ownToken();
    const owner = await ownerOf(token);
    const body = schedule();
    expect((await call("POST", "/v1/schedules", body, { token })).status).toBe(201);
    const stub = stubOf(body.name, owner);
    await withEnv(stub, { SCHEDULE_INDEX: unreachable });
    expect((await call("DELETE", `/v1/schedules/${body.name}`, undefined, { token })).status).toBe(200);
    expect((await call("GET", `/v1/schedules/${body.name}`, undefined, { token })).status).toBe(404);
    // The index still has the name; the list leaves it out.
    expect((await env.SCHEDULE_INDEX.getByName(owner).page("", 10)).names).toEqual([body.name]);
    expect((await call<{ items: unknown[] }>("GET", "/v1/schedules", undefined, { token })).body.items).toEqual([]);

    await withEnv(stub, {});
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await env.SCHEDULE_INDEX.getByName(owner).page("", 10)).names).toEqual([]);
    expect(await tablesOf(stub)).toEqual([]);
  });
});
