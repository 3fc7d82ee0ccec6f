/**
 * The Schedule object with the real Job object and queue consumer: a fire time's job is created once (however often
 * the alarm fires for it), runs against the loopback upstream and shows in the schedule's runs; overlap and interval
 * skips; catch-up after downtime under both policies; pause, resume and delete. Time is not waited for: the
 * schedule's fire time is written into the past, then its alarm is run with runDurableObjectAlarm. Crons fire once a
 * year at a second just gone, so no alarm of these schedules fires by itself during the test.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { jobIdFor } from "../../src/jobs/ids";
import { cronTimes } from "../../src/schedules/cron";
import { runKey } from "../../src/schedules/schedule-state";
import { newGate, newKey, stats, up } from "../helpers/upstream";
import {
  alarmOf,
  armedFor,
  call,
  dropRun,
  type JobStatusBody,
  jobEnded,
  OWNER,
  postJob,
  secondsAgo,
  seedRun,
  stubOf,
  tablesOf,
  withEnv,
  yearlyAt,
} from "./helpers";

interface Run {
  fireAt: string;
  state: string;
  jobId?: string;
  jobState?: string;
  reason?: string;
  until?: string;
  count?: number;
  error?: string;
}

interface View {
  name: string;
  paused: boolean;
  nextRunAt: string | null;
  nextRuns: string[];
  runs: Run[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const fresh = () => `s-${crypto.randomUUID()}`;
const fanout = (url: string) => ({ type: "fanout", requests: [{ url }] });

async function create(body: Record<string, unknown>): Promise<View> {
  const res = await call<View>("POST", "/v1/schedules", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const view = async (name: string) => (await call<View>("GET", `/v1/schedules/${name}`)).body;
const jobIdOf = (name: string, at: number) => jobIdFor(OWNER, runKey(name, at));

describe("a fire time's job", () => {
  it("is created through the Job object when the alarm fires, runs, and shows in the runs with its end state", async () => {
    const name = fresh();
    const key = newKey();
    const fire = secondsAgo(2_000);
    const created = await create({ name, cron: yearlyAt(fire), job: fanout(up({ key })) });
    expect(created).toMatchObject({ name, paused: false, runs: [] });
    const stub = stubOf(name);
    // Armed for the next fire time: a year from now.
    expect(await alarmOf(stub)).toBe(Date.parse(created.nextRunAt as string));
    expect(Date.parse(created.nextRunAt as string)).toBeGreaterThan(Date.now() + 300 * 86_400_000);

    await armedFor(stub, fire);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const id = await jobIdOf(name, fire);
    expect((await view(name)).runs).toEqual([{ fireAt: iso(fire), state: "created", jobId: id, jobState: "queued" }]);

    expect(await jobEnded(id)).toMatchObject({ id, state: "succeeded" });
    expect((await stats(key)).hits).toBe(1);
    const after = await view(name);
    expect(after.runs).toEqual([{ fireAt: iso(fire), state: "created", jobId: id, jobState: "succeeded" }]);
    // The next fire time is armed again.
    expect(await alarmOf(stub)).toBe(Date.parse(after.nextRunAt as string));
  });

  it("is created once when the alarm fires again for the same fire time (its run lost, or cut short)", async () => {
    const name = fresh();
    const key = newKey();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key })) });
    const stub = stubOf(name);
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    const id = await jobIdOf(name, fire);
    const first = await jobEnded(id);

    // The alarm fires again for the same time, as if the first had not recorded its run.
    await dropRun(stub, fire);
    await armedFor(stub, fire);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // An alarm cut short after creating the job left its run `creating`: the next alarm finishes it.
    await seedRun(stub, fire, "creating");
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    expect((await view(name)).runs).toEqual([
      { fireAt: iso(fire), state: "created", jobId: id, jobState: "succeeded" },
    ]);
    const again = (await call<JobStatusBody>("GET", `/v1/jobs/${id}`)).body;
    expect(again).toMatchObject({ state: "succeeded", attempts: first.attempts, createdAt: first.createdAt });
    expect((await stats(key)).hits).toBe(1);
  });

  it("that the guard refuses by the time it fires is a failed run, and the schedule goes on", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    const created = await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })) });
    const stub = stubOf(name);
    await withEnv(stub, { FANOUT_ALLOW_HOSTS: "" });
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    const [run] = (await view(name)).runs;
    expect(run).toMatchObject({ fireAt: iso(fire), state: "failed" });
    expect(run?.error).toMatch(/^url-blocked: requests\.0\.url: /);
    expect(run?.jobId).toBeUndefined();
    expect(await alarmOf(stub)).toBe(Date.parse(created.nextRunAt as string));
  });
});

describe("a job creation that fails", () => {
  /** A JOB binding whose objects refuse every call, as an overloaded or reset object would. */
  const failing = { getByName: () => ({ create: () => Promise.reject(new Error("Job object overloaded")) }) };

  it("leaves the run creating and retries 10 s later (not a year); then creates the same job", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })) });
    const stub = stubOf(name);
    await withEnv(stub, { JOB: failing });
    await armedFor(stub, fire);
    const before = Date.now();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await view(name)).runs).toEqual([{ fireAt: iso(fire), state: "creating" }]);
    const retryAt = (await alarmOf(stub)) as number;
    expect(retryAt).toBeGreaterThanOrEqual(before + 10_000);
    expect(retryAt).toBeLessThanOrEqual(Date.now() + 10_000);

    await withEnv(stub, {});
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const id = await jobIdOf(name, fire);
    expect((await view(name)).runs).toMatchObject([{ fireAt: iso(fire), state: "created", jobId: id }]);
    await jobEnded(id);
  });

  it("gives up a run still creating when a later one is waiting too: at most one waits, the schedule goes on", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })) });
    const stub = stubOf(name);
    const older = fire - 86_400_000;
    await seedRun(stub, older, "creating");
    await withEnv(stub, { JOB: failing });
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    expect((await view(name)).runs.map((r) => r.state)).toEqual(["creating", "creating"]);

    await withEnv(stub, {});
    await runDurableObjectAlarm(stub);
    const id = await jobIdOf(name, fire);
    expect((await view(name)).runs).toMatchObject([
      { fireAt: iso(fire), state: "created", jobId: id },
      { fireAt: iso(older), state: "failed", error: "job creation did not finish" },
    ]);
    await jobEnded(id);
  });
});

describe("a run left creating behind a later one", () => {
  it("is still created when the next alarm finishes it, not held back by the later run", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })), overlap: "skip" });
    const stub = stubOf(name);
    const older = fire - 30_000;
    await seedRun(stub, fire, "created", null);
    await seedRun(stub, older, "creating");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const id = await jobIdOf(name, older);
    expect((await view(name)).runs[1]).toMatchObject({ fireAt: iso(older), state: "created", jobId: id });
    await jobEnded(id);
  });
});

describe("overlap and interval", () => {
  it("'skip' records the fire time skipped while the previous run's job runs, and creates it once that has ended", async () => {
    const gate = newGate();
    const key = newKey();
    const previous = await postJob(fanout(up({ gate: gate.name, key })));
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })), overlap: "skip" });
    const stub = stubOf(name);
    // An earlier run created the held job.
    await seedRun(stub, fire - 86_400_000, "created", previous);
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    const [skipped] = (await view(name)).runs;
    expect(skipped).toEqual({
      fireAt: iso(fire),
      state: "skipped",
      reason: "overlap",
      jobId: previous,
      jobState: expect.stringMatching(/^(queued|running)$/),
    });
    expect((await call("GET", `/v1/jobs/${await jobIdOf(name, fire)}`)).status).toBe(404);

    await gate.open();
    await jobEnded(previous);
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    expect((await view(name)).runs[0]).toMatchObject({ state: "created", jobId: await jobIdOf(name, fire) });
  });

  it("'allow' creates the job while the previous one still runs", async () => {
    const gate = newGate();
    const previous = await postJob(fanout(up({ gate: gate.name })));
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })), overlap: "allow" });
    const stub = stubOf(name);
    await seedRun(stub, fire - 86_400_000, "created", previous);
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    expect((await view(name)).runs[0]).toMatchObject({ state: "created", jobId: await jobIdOf(name, fire) });
    await gate.open();
    await jobEnded(previous);
  });

  it("skips a fire time closer than SCHEDULES_MIN_INTERVAL_SECONDS to the last run that created a job", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })), overlap: "allow" });
    const stub = stubOf(name);
    await seedRun(stub, fire - 10_000, "created");
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    expect((await view(name)).runs[0]).toEqual({ fireAt: iso(fire), state: "skipped", reason: "interval" });
  });
});

describe("catch-up after downtime", () => {
  /** A yearly schedule whose fire time came two hours ago (late: past SCHEDULES_GRACE_SECONDS), down 3 years. */
  async function downSince(missed: "latest" | "skip") {
    const name = fresh();
    const fire = secondsAgo(2 * 3_600_000);
    const cron = yearlyAt(fire);
    await create({ name, cron, job: fanout(up({ key: newKey() })), missed });
    const times = cronTimes(cron, "UTC");
    const years = [1, 2, 3].reduce<number[]>((acc) => [...acc, times.latest((acc.at(-1) ?? fire) - 1) as number], []);
    const stub = stubOf(name);
    await armedFor(stub, years[2] as number);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    return { name, fire, years, stub };
  }

  it("'latest' runs the latest missed fire time once and records the three before it as missed", async () => {
    const { name, fire, years } = await downSince("latest");
    const id = await jobIdOf(name, fire);
    expect((await view(name)).runs).toEqual([
      { fireAt: iso(fire), state: "created", jobId: id, jobState: expect.any(String) },
      { fireAt: iso(years[2] as number), state: "missed", until: iso(years[0] as number), count: 3 },
    ]);
    await jobEnded(id);
  });

  it("'skip' runs none of them: four missed, no job, the next fire time armed", async () => {
    const { name, fire, years, stub } = await downSince("skip");
    const v = await view(name);
    expect(v.runs).toEqual([{ fireAt: iso(years[2] as number), state: "missed", until: iso(fire), count: 4 }]);
    expect((await call("GET", `/v1/jobs/${await jobIdOf(name, fire)}`)).status).toBe(404);
    expect(await alarmOf(stub)).toBe(Date.parse(v.nextRunAt as string));
  });
});

describe("pause, resume, delete", () => {
  it("pause clears the alarm and the next fire times; resume arms the first fire time after now", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    const created = await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })) });
    const stub = stubOf(name);

    const paused = await call<View>("POST", `/v1/schedules/${name}/pause`);
    expect(paused).toMatchObject({ status: 200, body: { name, paused: true, nextRunAt: null } });
    expect(await alarmOf(stub)).toBeNull();
    expect(await view(name)).toMatchObject({ paused: true, nextRunAt: null, nextRuns: [] });
    // Pausing again changes nothing.
    expect((await call<View>("POST", `/v1/schedules/${name}/pause`)).body).toMatchObject({ paused: true });

    const resumed = await call<View>("POST", `/v1/schedules/${name}/resume`);
    expect(resumed).toMatchObject({ status: 200, body: { paused: false, nextRunAt: created.nextRunAt } });
    expect(await alarmOf(stub)).toBe(Date.parse(created.nextRunAt as string));
  });

  it("a schedule created paused has no alarm until resumed", async () => {
    const name = fresh();
    const body = await create({ name, cron: "0 3 * * *", job: fanout(up({ key: newKey() })), paused: true });
    expect(body).toMatchObject({ paused: true, nextRunAt: null, nextRuns: [] });
    expect(await alarmOf(stubOf(name))).toBeNull();
  });

  it("delete: gone from GET and the list, no alarm, no storage; its jobs stay", async () => {
    const name = fresh();
    const fire = secondsAgo(2_000);
    await create({ name, cron: yearlyAt(fire), job: fanout(up({ key: newKey() })) });
    const stub = stubOf(name);
    await armedFor(stub, fire);
    await runDurableObjectAlarm(stub);
    const id = await jobIdOf(name, fire);

    expect(await call("DELETE", `/v1/schedules/${name}`)).toMatchObject({ status: 200, body: { name, deleted: true } });
    expect((await call("GET", `/v1/schedules/${name}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/schedules/${name}`)).status).toBe(404);
    expect((await call("POST", `/v1/schedules/${name}/pause`)).status).toBe(404);
    const list = await call<{ items: { name: string }[] }>("GET", "/v1/schedules?limit=100");
    expect(list.body.items.map((s) => s.name)).not.toContain(name);
    expect(await env.SCHEDULE_INDEX.getByName(OWNER).page(name.slice(0, -1), 1)).not.toMatchObject({
      names: [name],
    });
    expect(await alarmOf(stub)).toBeNull();
    expect(await tablesOf(stub)).toEqual([]);
    expect((await call("GET", `/v1/jobs/${id}`)).status).toBe(200);
    await jobEnded(id);
  });

  it("a GET, pause, resume or delete of a name without a schedule stores nothing", async () => {
    const name = fresh();
    for (const [method, path] of [
      ["GET", ""],
      ["POST", "/pause"],
      ["POST", "/resume"],
      ["DELETE", ""],
    ] as const) {
      expect((await call(method, `/v1/schedules/${name}${path}`)).status).toBe(404);
    }
    // Locally the object's SQLite file exists once it was called; it holds no table, no row, no alarm.
    expect(await tablesOf(stubOf(name))).toEqual([]);
    expect(await alarmOf(stubOf(name))).toBeNull();
  });
});
