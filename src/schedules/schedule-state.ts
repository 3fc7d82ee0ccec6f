/**
 * The Schedule object's decisions, as pure functions of its state and an injected `now` (ms): what a fire of its
 * alarm runs, what it records as missed after downtime, whether a run is skipped (the previous job still running,
 * or too soon after the last run), the idempotency key of a fire time's job, and the next fire times.
 */
import type { CreateJobOutcome } from "../jobs";
import type { CronTimes } from "./cron";
import type { RunRecord, RunState } from "./schedule-store";

export type MissedPolicy = "latest" | "skip";
export type OverlapPolicy = "skip" | "allow";

/** Fire times at most counted in one `missed` record (the range `from`…`until` is exact however many there were). */
export const MISSED_COUNT_MAX = 100;

/** What one fire of the alarm does. */
export interface FirePlan {
  /** The fire time whose job to create now, or null. */
  run: number | null;
  /** Fire times passed over without a job: the first, the last, how many (at most MISSED_COUNT_MAX counted). */
  missed: { from: number; until: number; count: number } | null;
  /** The next fire time after `now`, or null when the expression has none. */
  next: number | null;
}

/**
 * The plan of an alarm that fires at `now` for the fire time `due`; null when `due` has not come (an early alarm).
 * The latest fire time at or before `now` is on time if `now` is within `graceMs` of it: it runs, and any earlier
 * ones since `due` were missed. Otherwise every fire time since `due` was missed (the service was down): policy
 * "latest" still runs the latest of them once, "skip" runs none. Never more than one run per fire.
 *
 * @example
 * planFire(times, due, due + 250, { missed: "skip", graceMs: 60_000 }); // { run: due, missed: null, next }
 * planFire(times, due, due + 3 * DAY, { missed: "latest", graceMs: 60_000 }); // runs the latest, 2 missed
 */
export function planFire(
  times: CronTimes,
  due: number,
  now: number,
  policy: { missed: MissedPolicy; graceMs: number },
): FirePlan | null {
  if (now < due) return null;
  const next = times.next(now);
  const latest = times.latest(now);
  if (latest === null || latest < due) return { run: null, missed: null, next };
  const run = now - latest <= policy.graceMs || policy.missed === "latest" ? latest : null;
  // Passed over: every fire time from `due` up to the latest, the latest too when it does not run.
  const until = run === null ? latest : times.latest(latest - 1);
  if (until === null || until < due) return { run, missed: null, next };
  let count = 0;
  for (let t: number | null = due; t !== null && t <= until && count < MISSED_COUNT_MAX; t = times.next(t)) count++;
  return { run, missed: { from: due, until, count }, next };
}

/** True when a run at `at` would follow the last run that created a job (`lastRunAt`) sooner than `minIntervalMs`. */
export const tooSoon = (at: number, lastRunAt: number | null, minIntervalMs: number): boolean =>
  lastRunAt !== null && at - lastRunAt < minIntervalMs;

const FINAL = new Set(["succeeded", "partial", "failed", "canceled"]);

/**
 * True when policy "skip" holds a fire time back because the previous run's job has not ended (`state` is what its
 * Job object says now; null: no such job any more, e.g. deleted after its retention).
 */
export const overlapBlocks = (policy: OverlapPolicy, state: string | null): boolean =>
  policy === "skip" && state !== null && !FINAL.has(state);

/**
 * The Idempotency-Key of the job of fire time `at`: the same for every alarm that fires for it, so the job is
 * created once. A `/` is outside the key pattern of POST /v1/jobs: no caller's key can take it.
 *
 * @example
 * runKey("nightly", Date.parse("2026-11-26T02:30:00Z")); // "schedule/nightly/2026-11-26T02:30:00.000Z"
 */
export const runKey = (name: string, at: number): string => `schedule/${name}/${new Date(at).toISOString()}`;

/** The next `n` fire times after `now` (fewer when the expression ends). */
export function nextFires(times: CronTimes, now: number, n: number): number[] {
  const out: number[] = [];
  for (let t = times.next(now); t !== null && out.length < n; t = times.next(t)) out.push(t);
  return out;
}

/** The run of fire time `fireAt` in `state`, with nothing else known yet (no job, reason, range or error). */
export const newRun = (fireAt: number, state: RunState): RunRecord => ({
  fireAt,
  state,
  jobId: null,
  jobState: null,
  reason: null,
  until: null,
  count: null,
  error: null,
});

/** True for the states a job ends in. */
export const isFinal = (state: string | null): boolean => state !== null && FINAL.has(state);

/**
 * The run a fire time's job creation leaves: created (with the job id; a job whose chunks the queue refused is
 * stored and sent by its watchdog), or failed with why (the job is checked again when each run creates it: a URL the
 * guard now blocks, a setting lowered, a secret gone).
 */
export function runOfOutcome(fireAt: number, o: CreateJobOutcome): RunRecord {
  const run = newRun(fireAt, "failed");
  switch (o.outcome) {
    case "queued":
      return { ...run, state: "created", jobId: o.status.id, jobState: o.status.state };
    case "queue-unavailable":
      return { ...run, state: "created", jobId: o.id, error: "queue-unavailable: the job's watchdog sends its chunks" };
    case "too-many-requests":
      return { ...run, error: `too-many-requests: ${o.requests}, JOBS_MAX_REQUESTS allows ${o.max}` };
    case "headers-over-limit":
      return { ...run, error: `headers-over-limit: request ${o.breach.index}, ${o.breach.setting} ${o.breach.max}` };
    case "url-blocked":
      return { ...run, error: `url-blocked: ${o.errors[0].path}: ${o.errors[0].message}` };
    case "key-reused":
      return { ...run, jobId: o.id, error: "idempotency-key-reused" };
    case "not-configured":
      return { ...run, error: `not-configured: ${o.detail}` };
    default:
      return { ...run, error: o.outcome };
  }
}
