/**
 * A job's policies and the decisions of its one alarm, called on plain values with a chosen clock: when it starts
 * (runAt, delayMs, JOBS_MAX_DELAY_DAYS), the retry policy and per-call timeout in force (the job's, within the
 * settings in force, re-read when a cap is lowered), what its callback does after each attempt, what its owner's index
 * should hold, and when the alarm rings.
 */
import { describe, expect, it } from "vitest";
import type { JobRecord } from "../../src/jobs/job-state";
import * as state from "../../src/jobs/job-state";
import { bothStarts, callTimeoutMs, policyBreach, retryPolicy, startOf } from "../../src/jobs/policy";
import { settingsSchema } from "../../src/settings";
import { jobRecord } from "./records";

const S = settingsSchema.parse({});
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse("2026-12-01T12:00:00Z");

/** A running job created an hour ago, listed by "o". */
const job = (over: Partial<JobRecord> = {}): JobRecord =>
  jobRecord({ spec: "{}", createdAt: NOW - HOUR, updatedAt: NOW, listedBy: "o", ...over });

describe("when a job starts", () => {
  it("starts at runAt, after delayMs, or now; both together is refused", () => {
    expect(startOf({ runAt: "2026-12-02T12:00:00+01:00" }, NOW)).toBe(Date.parse("2026-12-02T11:00:00Z"));
    expect(startOf({ delayMs: 90_000 }, NOW)).toBe(NOW + 90_000);
    expect(startOf({ delayMs: 0 }, NOW)).toBeNull();
    expect(startOf({}, NOW)).toBeNull();
    expect(bothStarts({ runAt: "2026-12-02T12:00:00Z", delayMs: 1 })).toBe(true);
    expect(bothStarts({ delayMs: 1 })).toBe(false);
  });

  it("refuses a start further than JOBS_MAX_DELAY_DAYS, naming it, and takes one in the past (it runs now)", () => {
    const max = S.JOBS_MAX_DELAY_DAYS * DAY;
    expect(policyBreach({ delayMs: max }, S, NOW)).toBeUndefined();
    expect(policyBreach({ delayMs: max + 1 }, S, NOW)).toEqual({
      setting: "JOBS_MAX_DELAY_DAYS",
      max: 30,
      detail: `delayMs ${max + 1} is more than 30 day(s) ahead.`,
    });
    const far = new Date(NOW + max + 1_000).toISOString();
    expect(policyBreach({ runAt: far }, S, NOW)?.detail).toBe(`runAt ${far} is more than 30 day(s) ahead.`);
    expect(policyBreach({ runAt: "2020-01-01T00:00:00Z" }, S, NOW)).toBeUndefined();
    // Longer than a Queues message may wait (12 hours): the Job's alarm holds it.
    expect(policyBreach({ delayMs: 2 * DAY }, S, NOW)).toBeUndefined();
    expect(policyBreach({ delayMs: 1 }, { ...S, JOBS_MAX_DELAY_DAYS: 0 }, NOW)?.setting).toBe("JOBS_MAX_DELAY_DAYS");
  });
});

describe("the retry policy and timeout in force", () => {
  it("takes the job's fields and the JOBS_RETRY_* settings for the rest; attempts default to max_retries + 1", () => {
    expect(retryPolicy(null, S)).toEqual({ attempts: 6, baseMs: 2_000, maxMs: 300_000 });
    expect(retryPolicy({ attempts: 2 }, S)).toEqual({ attempts: 2, baseMs: 2_000, maxMs: 300_000 });
    expect(retryPolicy({ attempts: 3, baseMs: 500, maxMs: 4_000 }, S)).toEqual({
      attempts: 3,
      baseMs: 500,
      maxMs: 4_000,
    });
  });

  it("reads a stored policy in the terms of the caps in force: a lowered JOBS_RETRY_MAX_SECONDS lowers it", () => {
    const lowered = { ...S, JOBS_RETRY_MAX_SECONDS: 10 };
    expect(retryPolicy({ attempts: 9, baseMs: 60_000, maxMs: 120_000 }, lowered)).toEqual({
      attempts: 6,
      baseMs: 10_000,
      maxMs: 10_000,
    });
  });

  it("refuses a retry wait over JOBS_RETRY_MAX_SECONDS and a timeout over JOBS_MAX_TIMEOUT_MS, naming them", () => {
    expect(policyBreach({ retry: { maxMs: 300_000, baseMs: 300_000 } }, S, NOW)).toBeUndefined();
    expect(policyBreach({ retry: { maxMs: 300_001 } }, S, NOW)).toEqual({
      setting: "JOBS_RETRY_MAX_SECONDS",
      max: 300,
      detail: "retry.maxMs 300001 is above JOBS_RETRY_MAX_SECONDS (300 s).",
    });
    expect(policyBreach({ retry: { baseMs: 300_001 } }, S, NOW)?.detail).toContain("retry.baseMs");
    expect(policyBreach({ timeoutMs: 300_000 }, S, NOW)).toBeUndefined();
    expect(policyBreach({ timeoutMs: 300_001 }, S, NOW)?.setting).toBe("JOBS_MAX_TIMEOUT_MS");
    // A request's own timeout is a per-call timeout too.
    expect(policyBreach({ requests: [{}, { timeoutMs: 300_001 }] }, S, NOW)).toMatchObject({
      setting: "JOBS_MAX_TIMEOUT_MS",
      max: 300_000,
    });
  });

  it("gives each call the job's timeout within JOBS_MAX_TIMEOUT_MS and the chunk's deadline", () => {
    expect(callTimeoutMs("webhook", undefined, S)).toBe(S.JOBS_WEBHOOK_TIMEOUT_MS);
    expect(callTimeoutMs("webhook", 2_500, S)).toBe(2_500);
    expect(callTimeoutMs("fanout", undefined, S)).toBe(5_000);
    expect(callTimeoutMs("fanout", 250_000, { ...S, JOBS_MAX_TIMEOUT_MS: 60_000 })).toBe(60_000);
    // One consumer slot: a chunk may run 60 s, and no call longer.
    expect(callTimeoutMs("fanout", 250_000, { ...S, JOBS_CONSUMER_CONCURRENCY: 1 })).toBe(60_000);
  });
});

describe("the completion callback's decisions", () => {
  const callback = JSON.stringify({ url: "https://hooks.example/j", on: ["failed", "canceled"] });

  it("is due when the job ends in a state its `on` names, skipped otherwise, and nothing without one", () => {
    expect(state.callbackOnEnd(job({ callback, cbState: "waiting" }), "failed")).toBe("pending");
    expect(state.callbackOnEnd(job({ callback, cbState: "waiting" }), "succeeded")).toBe("skipped");
    expect(state.callbackOnEnd(job({ callback, cbState: "delivered" }), "failed")).toBeNull();
    expect(state.callbackOnEnd(job(), "failed")).toBeNull();
  });

  it("is delivered, retried after a backoff, or given up after an answer that cannot change or its attempts", () => {
    const retry = (n: number) => n * 1_000;
    expect(state.callbackAfter({ delivered: true }, 2, 10, retry, NOW)).toEqual({
      state: "delivered",
      attempts: 3,
      error: null,
      nextAt: null,
      settledAt: NOW,
    });
    expect(state.callbackAfter({ delivered: false, final: false, error: "HTTP 503" }, 2, 10, retry, NOW)).toEqual({
      state: "failing",
      attempts: 3,
      error: "HTTP 503",
      nextAt: NOW + 3_000,
      settledAt: null,
    });
    expect(state.callbackAfter({ delivered: false, final: true, error: "HTTP 404" }, 0, 10, retry, NOW)).toMatchObject({
      state: "given-up",
      attempts: 1,
      settledAt: NOW,
    });
    expect(state.callbackAfter({ delivered: false, final: false, error: "x" }, 9, 10, retry, NOW)).toMatchObject({
      state: "given-up",
      attempts: 10,
    });
  });

  it("holds back the retention until it settles: retention runs from when it was delivered or given up", () => {
    const ended = job({ state: "failed", updatedAt: NOW, callback, cbState: "failing", cbNextAt: NOW + 5_000 });
    expect(state.callbackUnsettled(ended)).toBe(true);
    expect(state.nextAlarm(ended, null, 168)).toBe(NOW + 5_000);
    const settled = { ...ended, cbState: "delivered" as const, cbNextAt: null, cbSettledAt: NOW + HOUR };
    expect(state.retentionEnd(settled, 168)).toBe(NOW + HOUR + 168 * HOUR);
    expect(state.nextAlarm(settled, null, 168)).toBe(NOW + 169 * HOUR);
  });
});

describe("the one alarm and the index row", () => {
  it("rings at a scheduled job's start, a running job's stall deadline, and a failed index update's retry", () => {
    expect(state.nextAlarm(job({ state: "scheduled", runAt: NOW + DAY }), null, 168)).toBe(NOW + DAY);
    expect(state.nextAlarm(job(), NOW + 900_000, 168)).toBe(NOW + 900_000);
    expect(state.nextAlarm(job(), NOW + 900_000, 168, NOW + 1_800_000)).toBe(NOW + 1_800_000);
    expect(state.nextAlarm(job(), null, 168)).toBeNull();
    expect(state.nextAlarm(job({ state: "scheduled", runAt: NOW + DAY, idxRetryAt: NOW + 2_000 }), null, 168)).toBe(
      NOW + 2_000,
    );
    // A finished job past its retention whose index removal failed waits for the retry, not a loop of alarms.
    const expired = job({ state: "succeeded", updatedAt: NOW - 200 * HOUR, idxRetryAt: NOW + 4_000 });
    expect(state.nextAlarm(expired, null, 168)).toBe(NOW + 4_000);
  });

  it("gives the index the job's state, start and end, and its expiry once its callback has settled", () => {
    expect(state.indexEntryOf(job({ state: "scheduled", runAt: NOW + DAY }), 168)).toEqual({
      id: "j1",
      type: "fanout",
      state: "scheduled",
      total: 4,
      createdAt: NOW - HOUR,
      runAt: NOW + DAY,
      endedAt: null,
      expiresAt: null,
    });
    const ended = job({ state: "partial", callback: "{}", cbState: "pending" });
    expect(state.indexEntryOf(ended, 168)).toMatchObject({ endedAt: NOW, expiresAt: null });
    expect(state.indexEntryOf({ ...ended, cbState: "given-up", cbSettledAt: NOW + 10 }, 168)).toMatchObject({
      endedAt: NOW,
      expiresAt: NOW + 10 + 168 * HOUR,
    });
    expect(state.indexSignature({ state: "partial", endedAt: NOW, expiresAt: null })).not.toBe(
      state.indexSignature({ state: "partial", endedAt: NOW, expiresAt: NOW + 1 }),
    );
  });

  it("takes a scheduled job for one that has not ended, and skips a message for it", () => {
    expect(state.isTerminal("scheduled")).toBe(false);
    const claim = state.claimOf(
      job({ state: "scheduled" }),
      { idx: 0, start: 0, count: 1, requests: "[]", state: "pending", error: null, resends: 0, sent: 0, touchedAt: 0 },
      () => new Set(),
      false,
    );
    expect(claim).toEqual({ action: "skip", reason: "not-due" });
  });
});
