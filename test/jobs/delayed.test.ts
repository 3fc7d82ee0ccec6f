/**
 * Delayed jobs over the routes, with the real Job object, alarm and queue: a job with `runAt` or `delayMs` is stored
 * `scheduled` with nothing sent, its one alarm set at its start (however far beyond a Queues message delay); an early
 * alarm changes nothing; at its start the alarm sends it and it runs as any job. Canceled before, it never runs.
 * Time is not waited for: the stored start is moved into the past, then the alarm is run with runDurableObjectAlarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../src/jobs/job";
import type { JobStatus } from "../../src/jobs/types";
import { settings } from "../../src/settings";
import { AUTH, BASE, hits, path, UP } from "./helpers";

type JobStub = DurableObjectStub<Job>;
const DAY = 86_400_000;
const RETENTION_MS = settings(env).JOBS_RETENTION_HOURS * 3_600_000;

const send = (method: string, p: string, init: RequestInit = {}) =>
  exports.default.fetch(`${BASE}${p}`, { method, ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });

const postJob = (body: unknown, key = crypto.randomUUID()) =>
  send("POST", "/v1/jobs", {
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });

const statusOf = async (id: string) => (await send("GET", `/v1/jobs/${id}`)).json<JobStatus>();
const alarmAt = (stub: JobStub) => runInDurableObject(stub, (_: Job, state) => state.storage.getAlarm());
/** Its start has come: the stored start is moved to a moment ago. */
const due = (stub: JobStub) =>
  runInDurableObject(stub, (_: Job, state) => {
    state.storage.sql.exec("UPDATE job SET run_at = ?", Date.now() - 1);
  });

async function waitForEnd(id: string): Promise<JobStatus> {
  return vi.waitFor(
    async () => {
      const s = await statusOf(id);
      if (["scheduled", "queued", "running"].includes(s.state)) throw new Error(`still ${s.state}`);
      return s;
    },
    { timeout: 20_000, interval: 50 },
  );
}

describe("delayed jobs", () => {
  it("store a job scheduled until runAt with nothing sent, held by the alarm, then run it once when it is due", async () => {
    const url = path("delayed");
    const runAt = new Date(Date.now() + 3 * DAY).toISOString().replace(/\.\d+Z$/, "Z");
    const res = await postJob({ type: "fanout", requests: [{ url: UP + url }], runAt });
    expect(res.status).toBe(202);
    const created = await res.json<{ id: string; state: string }>();
    expect(created.state).toBe("scheduled");
    const stub = env.JOB.getByName(created.id);
    const status = await statusOf(created.id);
    expect(status).toMatchObject({ state: "scheduled", runAt: new Date(runAt).toISOString(), attempts: 0, done: 0 });
    // Three days: far beyond what a queue message may wait (12 hours). The object's alarm holds it.
    expect(await alarmAt(stub)).toBe(Date.parse(runAt));

    // An alarm before its time (alarms are at-least-once) changes nothing and keeps the start.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await statusOf(created.id)).toMatchObject({ state: "scheduled", attempts: 0 });
    expect(await alarmAt(stub)).toBe(Date.parse(runAt));
    expect(await hits(url)).toBe(0);

    await due(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const ended = await waitForEnd(created.id);
    expect(ended).toMatchObject({ state: "succeeded", done: 1, attempts: 1 });
    expect(await hits(url)).toBe(1);
    // It went on as any job: its alarm now waits for the end of its retention.
    expect(await alarmAt(stub)).toBe(Date.parse(ended.updatedAt) + RETENTION_MS);
  });

  it("take delayMs from the first POST: a replay is the same job with the same start", async () => {
    const key = `delay-${crypto.randomUUID()}`;
    const body = { type: "fanout", requests: [{ url: UP + path("replayed") }], delayMs: 2 * DAY };
    const before = Date.now();
    const first = await postJob(body, key);
    const { id } = await first.json<{ id: string }>();
    const runAt = Date.parse((await statusOf(id)).runAt ?? "");
    expect(runAt).toBeGreaterThanOrEqual(before + 2 * DAY);
    expect(runAt).toBeLessThanOrEqual(Date.now() + 2 * DAY);
    const again = await postJob(body, key);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toMatchObject({ id, state: "scheduled" });
    expect(Date.parse((await statusOf(id)).runAt ?? "")).toBe(runAt);
  });

  it("cancel a scheduled job: it never runs, and it is kept for its retention", async () => {
    const url = path("never");
    const res = await postJob({ type: "webhook", url: UP + url, payload: { n: 1 }, delayMs: 60_000 });
    const { id } = await res.json<{ id: string }>();
    const stub = env.JOB.getByName(id);
    // Nothing is dead and nothing was sent: there is nothing to retry.
    expect((await send("POST", `/v1/jobs/${id}/retry`)).status).toBe(409);
    const canceled = await send("DELETE", `/v1/jobs/${id}`);
    expect(canceled.status).toBe(200);
    const status = await canceled.json<JobStatus>();
    expect(status.state).toBe("canceled");
    expect(await alarmAt(stub)).toBe(Date.parse(status.updatedAt) + RETENTION_MS);
    await due(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.dispatch()).toEqual({ sent: 0 });
    expect(await statusOf(id)).toMatchObject({ state: "canceled", attempts: 0, done: 0 });
    expect(await hits(url)).toBe(0);
  });

  it("run a job whose runAt has passed at once, and one with delayMs 0", async () => {
    for (const timing of [{ runAt: "2026-01-01T00:00:00Z" }, { delayMs: 0 }]) {
      const url = path("now");
      const res = await postJob({ type: "fanout", requests: [{ url: UP + url }], ...timing });
      const created = await res.json<{ id: string; state: string }>();
      expect(created.state).toBe("queued");
      expect(await waitForEnd(created.id)).toMatchObject({ state: "succeeded", done: 1 });
      expect(await hits(url)).toBe(1);
    }
  });

  it("refuse runAt with delayMs, a start beyond JOBS_MAX_DELAY_DAYS and a time without its offset, storing nothing", async () => {
    const max = settings(env).JOBS_MAX_DELAY_DAYS;
    const requests = [{ url: UP + path("refused") }];
    const cases: [Record<string, unknown>, RegExp, string | undefined][] = [
      [{ runAt: new Date(Date.now() + DAY).toISOString(), delayMs: 1 }, /not both/, undefined],
      [{ delayMs: max * DAY + 1 }, /JOBS_MAX_DELAY_DAYS|day\(s\) ahead/, "JOBS_MAX_DELAY_DAYS"],
      [{ runAt: new Date(Date.now() + (max + 1) * DAY).toISOString() }, /day\(s\) ahead/, "JOBS_MAX_DELAY_DAYS"],
      [{ runAt: "2026-12-24T18:00:00" }, /runAt/, undefined],
      [{ runAt: "tomorrow" }, /runAt/, undefined],
      [{ delayMs: -1 }, /delayMs/, undefined],
    ];
    for (const [timing, detail, limit] of cases) {
      const key = `refused-${crypto.randomUUID()}`;
      const res = await postJob({ type: "fanout", requests, ...timing }, key);
      expect(res.status, JSON.stringify(timing)).toBe(400);
      const problem = await res.json<{ detail: string; limit?: string; max?: number }>();
      expect(problem.detail + JSON.stringify(problem)).toMatch(detail);
      if (limit) expect(problem).toMatchObject({ limit, max });
    }
  });
});
