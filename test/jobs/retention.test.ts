/**
 * Retention of jobs: a finished job's storage (its chunks and results) is deleted JOBS_RETENTION_HOURS after it
 * ended, by the Job object's alarm; a tombstone then answers 410 Gone for its id (status, results, cancel, retry, and
 * a POST with its Idempotency-Key, which does not run it again) for JOBS_TOMBSTONE_DAYS, after which the object is
 * empty and the id unknown (404). Time is not waited for: the stored times are moved into the past, then the alarm
 * is run with runDurableObjectAlarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../src/jobs/job";
import type { JobStatus } from "../../src/jobs/types";
import { settings } from "../../src/settings";
import { closeAll, RoomSocket } from "../helpers/room-socket";
import { rowsOf } from "../helpers/storage";
import { mint } from "../helpers/tokens";
import { AUTH, BASE, hits, path, UP } from "./helpers";

const RETENTION_MS = settings(env).JOBS_RETENTION_HOURS * 3_600_000;
const TOMBSTONE_MS = settings(env).JOBS_TOMBSTONE_DAYS * 86_400_000;

type JobStub = DurableObjectStub<Job>;

const send = (method: string, p: string, init: RequestInit = {}) =>
  exports.default.fetch(`${BASE}${p}`, { method, ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });

const postJob = (key: string, body: unknown) =>
  send("POST", "/v1/jobs", {
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });

const alarmAt = (stub: JobStub) => runInDurableObject(stub, (_: Job, state) => state.storage.getAlarm());

/** Move the object's stored times back by `ms`, as if that much time had passed. */
const rewind = (stub: JobStub, sql: string, ms: number) =>
  runInDurableObject(stub, (_: Job, state) => {
    state.storage.sql.exec(sql, ms);
  });

describe("job retention", () => {
  it("deletes a finished job JOBS_RETENTION_HOURS after it ended; its id then answers 410 Gone, and later 404", async () => {
    const key = `retained-${crypto.randomUUID()}`;
    const urls = [path("r-a"), path("r-b")];
    const body = { type: "fanout", requests: urls.map((u) => ({ url: UP + u })) };
    const created = await postJob(key, body);
    expect(created.status).toBe(202);
    const { id } = await created.json<{ id: string }>();
    const stub = env.JOB.getByName(id);
    const done = await vi.waitFor(
      async () => {
        const s = await (await send("GET", `/v1/jobs/${id}`)).json<JobStatus>();
        if (s.state !== "succeeded") throw new Error(`still ${s.state}`);
        return s;
      },
      { timeout: 20_000, interval: 50 },
    );
    const endedAt = Date.parse(done.updatedAt);
    // Once it has ended, the one alarm waits for the end of its retention.
    expect(await alarmAt(stub)).toBe(endedAt + RETENTION_MS);
    // Too early (an at-least-once alarm, or one left from the watchdog): nothing is deleted.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await send("GET", `/v1/jobs/${id}`)).status).toBe(200);
    expect(await alarmAt(stub)).toBe(endedAt + RETENTION_MS);

    await rewind(stub, "UPDATE job SET updated_at = updated_at - ?", RETENTION_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // The owner stays with the tombstone: another tenant is told nothing, not even that the id existed.
    expect(await rowsOf(stub)).toEqual({ job: 0, chunks: 0, results: 0, tombstone: 1, owner: 1 });
    const other = await mint({ scopes: ["jobs:*"], namespace: `other-${crypto.randomUUID()}` });
    expect((await other.call("GET", `/v1/jobs/${id}`)).status).toBe(404);

    for (const [method, p] of [
      ["GET", `/v1/jobs/${id}`],
      ["GET", `/v1/jobs/${id}/results`],
      ["DELETE", `/v1/jobs/${id}`],
      ["POST", `/v1/jobs/${id}/retry`],
    ] as const) {
      const res = await send(method, p);
      expect(res.status, `${method} ${p}`).toBe(410);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject({
        status: 410,
        type: "urn:edgeloop:problem:job-gone",
        id,
        state: "succeeded",
        endedAt: new Date(endedAt - RETENTION_MS).toISOString(),
      });
    }
    // Its Idempotency-Key does not run it again.
    const again = await postJob(key, body);
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ type: "urn:edgeloop:problem:job-gone", id });
    for (const u of urls) expect(await hits(u)).toBe(1);
    expect(await rowsOf(stub)).toEqual({ job: 0, chunks: 0, results: 0, tombstone: 1, owner: 1 });

    // The tombstone has a retention of its own; then the object holds nothing and the id is unknown.
    const deletedAt = (await send("GET", `/v1/jobs/${id}`).then((r) => r.json<{ deletedAt: string }>())).deletedAt;
    expect(await alarmAt(stub)).toBe(Date.parse(deletedAt) + TOMBSTONE_MS);
    await rewind(stub, "UPDATE tombstone SET forget_at = forget_at - ?", TOMBSTONE_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await alarmAt(stub)).toBeNull();
    expect(Object.values(await rowsOf(stub)).every((n) => n === 0)).toBe(true);
    expect((await send("GET", `/v1/jobs/${id}`)).status).toBe(404);
  });

  it("deletes the job's room job:<id> with the job: its history goes and its watchers are closed", async () => {
    const key = `room-${crypto.randomUUID()}`;
    const created = await postJob(key, { type: "fanout", requests: [{ url: `${UP}${path("room")}` }] });
    const { id, room } = await created.json<{ id: string; room: string }>();
    const stub = env.JOB.getByName(id);
    await vi.waitFor(async () => expect((await stub.status())?.state).toBe("succeeded"), { timeout: 20_000 });
    const info = async () =>
      (await send("GET", `/v1/rooms/${encodeURIComponent(room)}`)).json<{ lastSeq: number; connections: number }>();
    // Progress went into the room; a watcher is still there when the job's retention ends.
    await vi.waitFor(async () => expect((await info()).lastSeq).toBeGreaterThan(0));
    const watcher = await RoomSocket.join(room, "watcher");
    try {
      await rewind(stub, "UPDATE job SET updated_at = updated_at - ?", RETENTION_MS);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect((await send("GET", `/v1/jobs/${id}`)).status).toBe(410);
      await vi.waitFor(() => expect(watcher.closedWith).toBeDefined());
      expect(watcher.closedWith?.code).toBe(1001);
      expect(await info()).toMatchObject({ lastSeq: 0, connections: 0 });
    } finally {
      closeAll(watcher);
    }
  });

  it("keeps a running job and its results: only a finished job is deleted", async () => {
    const key = `running-${crypto.randomUUID()}`;
    const created = await postJob(key, { type: "fanout", requests: [{ url: `${UP}${path("slow", "latency=1")}` }] });
    const { id } = await created.json<{ id: string }>();
    const stub = env.JOB.getByName(id);
    await vi.waitFor(async () => expect((await stub.status())?.state).toBe("succeeded"), { timeout: 20_000 });
    // Revived (a retry of dead chunks makes a finished job run again): the retention clock stops.
    await rewind(stub, "UPDATE job SET state = 'running', updated_at = updated_at - ?", RETENTION_MS);
    await runInDurableObject(stub, (_: Job, state) => {
      state.storage.sql.exec("UPDATE chunks SET state = 'pending', touched_at = ?", Date.now());
    });
    await runDurableObjectAlarm(stub);
    expect((await send("GET", `/v1/jobs/${id}`)).status).toBe(200);
    expect((await rowsOf(stub)).results).toBe(1);
  });
});
