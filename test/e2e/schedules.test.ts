/**
 * Schedules on the built worker over real HTTP, through the typed client: an every-second schedule (allowed here by
 * SCHEDULES_MIN_INTERVAL_SECONDS=1) fires by its own alarm in Miniflare, each fire time creates one job, and each
 * job runs through the queue consumer to the loopback upstream. Then list, pause, resume and delete. Polled with
 * bounds (the alarms run on their own clock), never ordered by sleeps.
 */
import { describe, expect, it } from "vitest";
import { createClient, type Schedule, type ScheduleRun } from "../../src/client/index.ts";
import { startJobsUpstream } from "../setup/jobs-upstream.ts";
import { until } from "./support/until.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const upstream = useUpstream(startJobsUpstream);

const worker = useWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1", SCHEDULES_MIN_INTERVAL_SECONDS: "1" });
const client = () => createClient({ baseUrl: worker.url, token: worker.token });

const created = (s: Schedule): ScheduleRun[] => s.runs.filter((r) => r.state === "created");

describe("an every-second schedule on the built worker", () => {
  it("creates a job at each fire time by its own alarm, and each job runs to the upstream", async () => {
    const run = crypto.randomUUID();
    const name = `every-second-${run.slice(0, 8)}`;
    const path = `/${run}/tick`;
    const schedules = client().schedules;
    const schedule = await schedules.create({
      name,
      cron: "* * * * * *",
      job: { type: "fanout", requests: [{ url: `${upstream.url}${path}` }] },
      overlap: "allow",
    });
    expect(schedule).toMatchObject({ name, cron: "* * * * * *", timezone: "UTC", paused: false, runs: [] });
    // Fire times a second apart, on whole seconds.
    const next = schedule.nextRuns.map(Date.parse);
    expect(next.slice(1).map((t, i) => t - (next[i] as number))).toEqual([1_000, 1_000, 1_000, 1_000]);
    expect(next.every((t) => t % 1_000 === 0)).toBe(true);

    let latest = schedule;
    await until(
      async () => {
        latest = await schedules.get(name);
        return created(latest).length >= 3;
      },
      "3 runs that created a job",
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const runs = created(latest);
    // One job per fire time: distinct fire times, distinct jobs, none failed. (An alarm more than a second late on a
    // loaded machine runs the latest second and records the ones before as missed: that is allowed here.)
    expect(new Set(runs.map((r) => r.fireAt)).size).toBe(runs.length);
    expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
    expect(latest.runs.filter((r) => r.state === "failed" || r.state === "skipped")).toEqual([]);
    for (const r of runs) expect(Date.parse(r.fireAt) % 1_000).toBe(0);

    const jobs = client().jobs;
    for (const r of runs) {
      await until(async () => (await jobs.get(r.jobId as string)).state === "succeeded", `job ${r.jobId} to succeed`, {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
    }
    // Each of these jobs called the upstream once (later fire times may have added more by now).
    expect(upstream.hits.get(path) ?? 0).toBeGreaterThanOrEqual(runs.length);
    await until(
      async () => (await schedules.get(name)).runs.some((r) => r.jobState === "succeeded"),
      "the schedule to show a job's end state",
    );

    const listed: string[] = [];
    for await (const s of schedules.list({ pageSize: 1 })) listed.push(s.name);
    expect(listed).toContain(name);

    const paused = await schedules.pause(name);
    expect(paused).toMatchObject({ name, paused: true, nextRunAt: null });
    const resumed = await schedules.resume(name);
    expect(resumed.paused).toBe(false);
    expect(Date.parse(resumed.nextRunAt as string)).toBeGreaterThan(Date.parse(paused.updatedAt));

    expect(await schedules.delete(name)).toEqual({ name, deleted: true });
    await expect(schedules.get(name)).rejects.toMatchObject({ status: 404 });
    // The jobs it created stay.
    expect((await jobs.get(runs[0]?.jobId as string)).state).toBe("succeeded");
  }, 60_000);

  it("refuses a schedule in an unknown time zone with problem+json naming the field, and lists nothing", async () => {
    const name = `bad-zone-${crypto.randomUUID().slice(0, 8)}`;
    const res = await worker.api("/v1/schedules", {
      method: "POST",
      json: {
        name,
        cron: "0 3 * * *",
        timezone: "Mars/Olympus",
        job: { type: "webhook", url: upstream.url, payload: {} },
      },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ errors: [{ path: "timezone" }] });
    expect((await worker.api(`/v1/schedules/${name}`)).status).toBe(404);
  });
});
