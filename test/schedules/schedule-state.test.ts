/**
 * The Schedule object's decisions with an injected clock: what one alarm runs when it fires on time, early, late,
 * after days of downtime (across a daylight-saving day too), under each `missed` policy; the skips (overlap, too
 * soon); the run a job creation leaves; the fire time's idempotency key.
 */
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../../src/jobs";
import { cronTimes } from "../../src/schedules/cron";
import {
  isFinal,
  MISSED_COUNT_MAX,
  nextFires,
  overlapBlocks,
  planFire,
  runKey,
  runOfOutcome,
  tooSoon,
} from "../../src/schedules/schedule-state";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null | undefined) => (ms == null ? ms : new Date(ms).toISOString());
const GRACE = 60_000;
const DAY = 86_400_000;

/** A plan with its times as ISO strings. */
function plan(
  cron: string,
  tz: string,
  due: string,
  now: string | number,
  missed: "latest" | "skip" = "latest",
  graceMs = GRACE,
) {
  const p = planFire(cronTimes(cron, tz), at(due), typeof now === "number" ? now : at(now), { missed, graceMs });
  if (!p) return p;
  return {
    run: iso(p.run),
    missed: p.missed && { from: iso(p.missed.from), until: iso(p.missed.until), count: p.missed.count },
    next: iso(p.next),
  };
}

describe("planFire: one alarm, at most one run", () => {
  it("runs the fire time it was set for when it fires on time, and names the next", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:30:00.250Z", "skip")).toEqual({
      run: "2026-05-01T02:30:00.000Z",
      missed: null,
      next: "2026-05-02T02:30:00.000Z",
    });
  });

  it("does nothing when it fires before its time (an early alarm only re-arms), and runs it at its time exactly", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:29:59.990Z")).toBeNull();
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:30:00Z", "skip")).toEqual({
      run: "2026-05-01T02:30:00.000Z",
      missed: null,
      next: "2026-05-02T02:30:00.000Z",
    });
  });

  it("runs no fire time from before `due`: an alarm set for a time the expression does not have runs nothing", () => {
    // 02:00 is not a fire time of "30 2 * * *"; the latest before it (the day before) is not this alarm's to run.
    for (const missed of ["latest", "skip"] as const) {
      expect(plan("30 2 * * *", "UTC", "2026-05-01T02:00:00Z", "2026-05-01T02:10:00Z", missed)).toEqual({
        run: null,
        missed: null,
        next: "2026-05-01T02:30:00.000Z",
      });
    }
  });

  it("counts a fire time reached within the grace as on time, under either policy", () => {
    for (const missed of ["latest", "skip"] as const) {
      expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:31:00Z", missed)?.run).toBe(
        "2026-05-01T02:30:00.000Z",
      );
    }
  });

  it("past the grace, 'latest' still runs it and 'skip' records it missed", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:31:00.001Z", "latest")).toEqual({
      run: "2026-05-01T02:30:00.000Z",
      missed: null,
      next: "2026-05-02T02:30:00.000Z",
    });
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-01T02:31:00.001Z", "skip")).toEqual({
      run: null,
      missed: { from: "2026-05-01T02:30:00.000Z", until: "2026-05-01T02:30:00.000Z", count: 1 },
      next: "2026-05-02T02:30:00.000Z",
    });
  });

  it("after three days down, 'latest' runs the latest missed fire time once and records the others as missed", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-04T10:00:00Z", "latest")).toEqual({
      run: "2026-05-04T02:30:00.000Z",
      missed: { from: "2026-05-01T02:30:00.000Z", until: "2026-05-03T02:30:00.000Z", count: 3 },
      next: "2026-05-05T02:30:00.000Z",
    });
  });

  it("after three days down, 'skip' runs none of them and goes on at the next fire time", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-04T10:00:00Z", "skip")).toEqual({
      run: null,
      missed: { from: "2026-05-01T02:30:00.000Z", until: "2026-05-04T02:30:00.000Z", count: 4 },
      next: "2026-05-05T02:30:00.000Z",
    });
  });

  it("back up just in time for a fire time runs it on time and records the ones before as missed", () => {
    expect(plan("30 2 * * *", "UTC", "2026-05-01T02:30:00Z", "2026-05-04T02:30:20Z", "skip")).toEqual({
      run: "2026-05-04T02:30:00.000Z",
      missed: { from: "2026-05-01T02:30:00.000Z", until: "2026-05-03T02:30:00.000Z", count: 3 },
      next: "2026-05-05T02:30:00.000Z",
    });
  });

  it("catches up across the spring-forward day in Europe/Berlin with that day's 03:00 among the missed", () => {
    expect(plan("30 2 * * *", "Europe/Berlin", "2026-03-28T01:30:00Z", "2026-03-30T12:00:00Z", "latest")).toEqual({
      run: "2026-03-30T00:30:00.000Z",
      missed: { from: "2026-03-28T01:30:00.000Z", until: "2026-03-29T01:00:00.000Z", count: 2 },
      next: "2026-03-31T00:30:00.000Z",
    });
  });

  it("down over the fall-back night in Europe/Berlin, an hourly schedule counts both 02:00s as missed", () => {
    expect(plan("0 * * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", "2026-10-25T02:30:00Z", "skip")).toEqual({
      run: null,
      // 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET
      missed: { from: "2026-10-24T23:00:00.000Z", until: "2026-10-25T02:00:00.000Z", count: 4 },
      next: "2026-10-25T03:00:00.000Z",
    });
  });

  it("a few seconds late on an every-second schedule: the latest runs, the ones before it were missed", () => {
    expect(plan("* * * * * *", "UTC", "2026-05-01T00:00:00Z", "2026-05-01T00:00:03.200Z", "skip")).toEqual({
      run: "2026-05-01T00:00:03.000Z",
      missed: { from: "2026-05-01T00:00:00.000Z", until: "2026-05-01T00:00:02.000Z", count: 3 },
      next: "2026-05-01T00:00:04.000Z",
    });
  });

  it("a day down on an every-second schedule counts at most MISSED_COUNT_MAX, with the range exact", () => {
    const due = at("2026-05-01T00:00:00Z");
    expect(plan("* * * * * *", "UTC", "2026-05-01T00:00:00Z", due + DAY + 500, "latest")).toEqual({
      run: "2026-05-02T00:00:00.000Z",
      missed: { from: "2026-05-01T00:00:00.000Z", until: "2026-05-01T23:59:59.000Z", count: MISSED_COUNT_MAX },
      next: "2026-05-02T00:00:01.000Z",
    });
  });

  it("counts only the fire times there are when the expression ends (the calendar stops at the year 3000)", () => {
    expect(plan("0 0 * * *", "UTC", "2999-12-29T00:00:00Z", "2999-12-31T12:00:00Z", "skip")).toEqual({
      run: null,
      missed: { from: "2999-12-29T00:00:00.000Z", until: "2999-12-31T00:00:00.000Z", count: 3 },
      next: null,
    });
  });

  it("names a next fire time however far it is: 29 February after 2028 is in 2032", () => {
    expect(plan("0 0 29 2 *", "UTC", "2028-02-29T00:00:00Z", "2028-02-29T00:00:01Z")?.next).toBe(
      "2032-02-29T00:00:00.000Z",
    );
  });
});

describe("the skips", () => {
  it("tooSoon: a run closer than the minimum interval to the last one that created a job", () => {
    expect(tooSoon(10_000, null, 60_000)).toBe(false);
    expect(tooSoon(70_000, 10_000, 60_000)).toBe(false);
    expect(tooSoon(69_999, 10_000, 60_000)).toBe(true);
  });

  it("overlapBlocks: only 'skip', and only while the previous job has not ended", () => {
    expect(["queued", "running"].map((s) => overlapBlocks("skip", s))).toEqual([true, true]);
    expect(["succeeded", "partial", "failed", "canceled"].map((s) => overlapBlocks("skip", s))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(overlapBlocks("skip", null)).toBe(false);
    expect(overlapBlocks("allow", "running")).toBe(false);
  });

  it("isFinal: the states a job ends in, and not a job that is gone (null) or still going", () => {
    expect(["succeeded", "partial", "failed", "canceled"].map(isFinal)).toEqual([true, true, true, true]);
    expect(["queued", "running", null].map(isFinal)).toEqual([false, false, false]);
  });
});

describe("runs and keys", () => {
  it("derives one Idempotency-Key per schedule and fire time, outside the pattern POST /v1/jobs takes", () => {
    const t = at("2026-11-26T02:30:00Z");
    expect(runKey("nightly", t)).toBe("schedule/nightly/2026-11-26T02:30:00.000Z");
    expect(runKey("nightly", t)).toBe(runKey("nightly", t));
    expect(runKey("nightly", t + 1_000)).not.toBe(runKey("nightly", t));
    expect(/^[A-Za-z0-9._:-]{1,128}$/.test(runKey("nightly", t))).toBe(false);
  });

  it("records a created job with its id and state, and a refusal as failed with why", () => {
    const status = { id: "a".repeat(32), state: "queued" } as JobStatus;
    expect(runOfOutcome(5, { outcome: "queued", status, replayed: false })).toMatchObject({
      fireAt: 5,
      state: "created",
      jobId: status.id,
      jobState: "queued",
      error: null,
    });
    expect(runOfOutcome(5, { outcome: "queue-unavailable", id: "b" })).toMatchObject({
      state: "created",
      jobId: "b",
      error: "queue-unavailable: the job's watchdog sends its chunks",
    });
    expect(runOfOutcome(5, { outcome: "too-many-requests", requests: 12, max: 10 })).toEqual({
      fireAt: 5,
      state: "failed",
      jobId: null,
      jobState: null,
      reason: null,
      until: null,
      count: null,
      error: "too-many-requests: 12, JOBS_MAX_REQUESTS allows 10",
    });
    expect(
      runOfOutcome(5, {
        outcome: "headers-over-limit",
        breach: { setting: "FANOUT_MAX_HEADER_BYTES", max: 8_192, index: 3, actual: 9_000 },
      }),
    ).toMatchObject({
      state: "failed",
      jobId: null,
      error: "headers-over-limit: request 3, FANOUT_MAX_HEADER_BYTES 8192",
    });
    // The key was used before with another body: the run names the job that holds it.
    expect(runOfOutcome(5, { outcome: "key-reused", id: "c" })).toMatchObject({
      state: "failed",
      jobId: "c",
      error: "idempotency-key-reused",
    });
    expect(
      runOfOutcome(5, {
        outcome: "url-blocked",
        type: "fanout",
        errors: [{ path: "requests.0.url", message: "loopback address" }],
      }),
    ).toMatchObject({ state: "failed", jobId: null, error: "url-blocked: requests.0.url: loopback address" });
    // A service job's type refused it (no JOBS_SERVICE_BINDING): the run says why, as the type said it.
    expect(runOfOutcome(5, { outcome: "not-configured", detail: "Service jobs need JOBS_SERVICE_BINDING." })).toEqual({
      fireAt: 5,
      state: "failed",
      jobId: null,
      jobState: null,
      reason: null,
      until: null,
      count: null,
      error: "not-configured: Service jobs need JOBS_SERVICE_BINDING.",
    });
    expect(runOfOutcome(5, { outcome: "webhook-secret-missing" })).toMatchObject({
      state: "failed",
      error: "webhook-secret-missing",
    });
  });

  it("lists the next fire times", () => {
    expect(nextFires(cronTimes("0 */6 * * *", "UTC"), at("2026-01-01T05:00:00Z"), 3).map(iso)).toEqual([
      "2026-01-01T06:00:00.000Z",
      "2026-01-01T12:00:00.000Z",
      "2026-01-01T18:00:00.000Z",
    ]);
    expect(nextFires(cronTimes("0 0 30 2 *", "UTC"), 0, 3)).toEqual([]);
  });
});
