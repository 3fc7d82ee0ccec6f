/**
 * The Job object's watchdog: a job whose queue messages were lost (seeded jobs are never sent, like chunks whose
 * messages the local broker dropped on a restart) is found by its alarm once no chunk was heard of for
 * JOBS_STALL_SECONDS. Time is not waited for: the chunks' last activity is written into the past, then the alarm
 * is run with runDurableObjectAlarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../src/jobs/job";
import type { JobMessage } from "../../src/jobs/types";
import { settings } from "../../src/settings";
import { allResults, deliver, hits, openGate, path, seedFanoutJob, UP } from "./helpers";

const STALL_MS = settings(env).JOBS_STALL_SECONDS * 1_000;
const RETENTION_MS = settings(env).JOBS_RETENTION_HOURS * 3_600_000;
const RESENDS = settings(env).JOBS_STALL_RESENDS;

type JobStub = DurableObjectStub<Job>;

/** Move every chunk's last activity back by `ms` (as if that much time had passed with nothing heard). */
const age = (stub: JobStub, ms = STALL_MS + 1_000) =>
  runInDurableObject(stub, (_instance: Job, state) => {
    state.storage.sql.exec("UPDATE chunks SET touched_at = touched_at - ?", ms);
  });

const alarmAt = (stub: JobStub) => runInDurableObject(stub, (_instance: Job, state) => state.storage.getAlarm());

/** The alarm of a job that has ended: no watchdog, only the end of its retention (job-retention tests). */
const retentionAlarm = async (stub: JobStub) => Date.parse((await stub.status())?.updatedAt ?? "") + RETENTION_MS;

/**
 * Watch what the object sends. `forward: true` passes each batch on to the real queue (whose consumer runs in this
 * process); `forward: false` drops it, as a broker that loses messages would.
 */
async function watchSends(stub: JobStub, forward: boolean): Promise<JobMessage[]> {
  const sent: JobMessage[] = [];
  const JOBS_QUEUE = {
    sendBatch: async (messages: MessageSendRequest<JobMessage>[]) => {
      sent.push(...messages.map((m) => m.body));
      if (forward) await env.JOBS_QUEUE.sendBatch(messages);
    },
    // The watchdog asks the real queue what it holds: a dropped message is not in it.
    metrics: () => env.JOBS_QUEUE.metrics(),
  };
  await runInDurableObject(stub, (instance: Job) => {
    Object.defineProperty(instance, "env", { value: { ...env, JOBS_QUEUE }, configurable: true });
  });
  return sent;
}

/** Run this job's object with other settings (its own env: `settings()` parses it afresh). */
const withSettings = (stub: JobStub, vars: Record<string, string>) =>
  runInDurableObject(stub, (instance: Job) => {
    Object.defineProperty(instance, "env", { value: { ...env, ...vars }, configurable: true });
  });

describe("the job watchdog", () => {
  it("arms an alarm at the stall deadline when a job is created", async () => {
    const before = Date.now();
    const { stub } = await seedFanoutJob([`${UP}/w`], 1);
    const at = await alarmAt(stub);
    expect(at).toBeGreaterThanOrEqual(before + STALL_MS);
    expect(at).toBeLessThanOrEqual(Date.now() + STALL_MS);
  });

  it("re-sends a chunk whose message was lost, and the job then completes through the real queue", async () => {
    const p = [path("lost-a"), path("lost-b"), path("lost-c")];
    const { id, stub } = await seedFanoutJob(
      p.map((x) => UP + x),
      2,
    );
    const sent = await watchSends(stub, true);
    // Too early: the alarm only re-arms.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([]);
    expect(await stub.status()).toMatchObject({ state: "queued", resends: 0 });

    await age(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.map((m) => [m.jobId, m.chunk])).toEqual([
      [id, 0],
      [id, 1],
    ]);
    await vi.waitFor(async () => expect((await stub.status())?.state).toBe("succeeded"), { timeout: 10_000 });
    expect(await stub.status()).toMatchObject({ total: 3, done: 3, failed: 0, dead: 0, resends: 2, attempts: 2 });
    for (const x of p) expect(await hits(x)).toBe(1);
    // Finished: no watchdog left, only the end of its retention.
    expect(await alarmAt(stub)).toBe(await retentionAlarm(stub));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 3, resends: 2 });
  });

  it("marks a chunk dead after JOBS_STALL_RESENDS lost re-sends, so the job ends partial with the reason", async () => {
    const { id, stub } = await seedFanoutJob([UP + path("ok"), UP + path("never")], 1);
    await deliver("edgeloop-jobs", [{ id: "w1", body: { jobId: id, chunk: 0 } }]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 1 });
    const sent = await watchSends(stub, false);
    for (let i = 1; i <= RESENDS; i++) {
      await age(stub);
      await runDurableObjectAlarm(stub);
      expect(sent.map((m) => m.chunk)).toEqual(Array.from({ length: i }, () => 1));
      expect(await stub.status()).toMatchObject({ state: "running", resends: i });
    }
    await age(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(RESENDS);
    const status = await stub.status();
    expect(status).toMatchObject({ state: "partial", total: 2, done: 1, failed: 1, dead: 1, resends: RESENDS });
    expect(status?.error).toContain("chunk 1: its queue message was lost");
    expect(status?.error).toContain(`after ${RESENDS} re-send(s)`);
    expect(await alarmAt(stub)).toBe(await retentionAlarm(stub));
  });

  it("never re-sends or kills a chunk still waiting in the queue behind other jobs: the job ends succeeded with every result once", async () => {
    const gate = crypto.randomUUID();
    // Three large jobs whose requests are held until the test opens the gate: the consumer is busy with their
    // first batch and the rest of their chunks wait in the queue, ahead of the late job's.
    const big = await Promise.all(
      [0, 1, 2].map((j) =>
        seedFanoutJob(
          Array.from({ length: 20 }, (_, i) => UP + path(`big-${j}-${i}`, `gate=${gate}`)),
          1,
          // Held requests must not time out while the test runs the alarms.
          { timeoutMs: 60_000, deadlineMs: 60_000 },
        ),
      ),
    );
    const late = [path("late-a"), path("late-b"), path("late-c")];
    const { stub } = await seedFanoutJob(
      late.map((p) => UP + p),
      1,
    );
    try {
      for (const b of big) expect(await b.stub.dispatch()).toEqual({ sent: 20 });
      await withSettings(stub, { JOBS_STALL_SECONDS: "1" });
      expect(await stub.dispatch()).toEqual({ sent: 3 });
      // Quiet for longer than the stall setting, once more than the re-sends allowed: a watchdog that judged by
      // time alone re-sent the chunks JOBS_STALL_RESENDS times, then marked them dead.
      for (let i = 0; i <= RESENDS; i++) {
        await age(stub, 2_000);
        expect(await runDurableObjectAlarm(stub)).toBe(true);
      }
      expect(await stub.status()).toMatchObject({ state: "queued", resends: 0, dead: 0, done: 0 });
    } finally {
      await openGate(gate);
    }
    await vi.waitFor(async () => expect((await stub.status())?.state).toBe("succeeded"), { timeout: 20_000 });
    expect(await stub.status()).toMatchObject({ total: 3, done: 3, failed: 0, dead: 0, resends: 0, attempts: 3 });
    expect((await allResults(stub)).map((r) => [r.index, r.ok])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    for (const p of late) expect(await hits(p)).toBe(1);
    for (const b of big) {
      await vi.waitFor(async () => expect((await b.stub.status())?.state).toBe("succeeded"), { timeout: 20_000 });
    }
  });

  it("ends a job whose only chunk was lost failed", async () => {
    const { stub } = await seedFanoutJob([UP + path("gone")], 1);
    const sent = await watchSends(stub, false);
    for (let i = 0; i <= RESENDS; i++) {
      await age(stub);
      await runDurableObjectAlarm(stub);
    }
    expect(sent).toHaveLength(RESENDS);
    expect(await stub.status()).toMatchObject({ state: "failed", done: 0, failed: 1, dead: 1, resends: RESENDS });
  });

  it("never re-sends a chunk that is done, and a repeated alarm changes nothing", async () => {
    const { id, stub } = await seedFanoutJob([UP + path("done"), UP + path("stuck")], 1);
    await deliver("edgeloop-jobs", [{ id: "w2", body: { jobId: id, chunk: 0 } }]);
    const sent = await watchSends(stub, false);
    await age(stub);
    await runDurableObjectAlarm(stub);
    expect(sent.map((m) => m.chunk)).toEqual([1]);
    const after = await stub.status();
    const alarm = await alarmAt(stub);
    // The same alarm again (at-least-once): the re-send just happened, so nothing is stalled.
    await runInDurableObject(stub, (_instance: Job, state) => state.storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    expect(sent.map((m) => m.chunk)).toEqual([1]);
    expect(await stub.status()).toEqual(after);
    expect(await alarmAt(stub)).toBe(alarm);
  });

  it("sends nothing for a canceled job, whose alarm only waits for the end of its retention", async () => {
    const { stub } = await seedFanoutJob([UP + path("c1"), UP + path("c2")], 1);
    const sent = await watchSends(stub, false);
    expect((await stub.cancel())?.outcome).toBe("canceled");
    expect(await alarmAt(stub)).toBe(await retentionAlarm(stub));
    // An alarm already on its way when the job was canceled.
    await runInDurableObject(stub, (_instance: Job, state) => state.storage.setAlarm(Date.now()));
    await age(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([]);
    expect(await stub.status()).toMatchObject({ state: "canceled", resends: 0, dead: 0 });
    expect(await alarmAt(stub)).toBe(await retentionAlarm(stub));
  });

  it("re-arms after dead chunks are retried, so a retried chunk is watched again", async () => {
    const { stub } = await seedFanoutJob([UP + path("r1")], 1);
    const sent = await watchSends(stub, false);
    for (let i = 0; i <= RESENDS; i++) {
      await age(stub);
      await runDurableObjectAlarm(stub);
    }
    expect(await alarmAt(stub)).toBe(await retentionAlarm(stub));
    const before = Date.now();
    expect((await stub.retryDead())?.outcome).toBe("requeued");
    expect(await stub.status()).toMatchObject({ state: "running", resends: 0 });
    expect(await alarmAt(stub)).toBeGreaterThanOrEqual(before + STALL_MS);
    expect(sent).toHaveLength(RESENDS + 1);
  });
});
