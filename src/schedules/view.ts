/**
 * What the service answers about a schedule, built from its stored records: times as ISO strings, each run with
 * only the fields its state has.
 */
import type { z } from "@hono/zod-openapi";
import type { RunRecord, ScheduleRecord } from "./schedule-store";
import type { ScheduleSchema, ScheduleSummarySchema } from "./schema";

export type ScheduleView = z.output<typeof ScheduleSchema>;
export type ScheduleSummary = z.output<typeof ScheduleSummarySchema>;
export type RunView = ScheduleView["runs"][number];
/** A ScheduleView as it crosses RPC: the job as JSON text (its payload may be any JSON, which RPC types cannot say). */
export type ScheduleWire = Omit<ScheduleView, "job"> & { job: string };

/** The view a route answers with. */
export const fromWire = (w: ScheduleWire): ScheduleView => ({ ...w, job: JSON.parse(w.job) as ScheduleView["job"] });

const iso = (ms: number) => new Date(ms).toISOString();

export function summaryOf(s: ScheduleRecord): ScheduleSummary {
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    missed: s.missed,
    overlap: s.overlap,
    paused: s.paused === 1,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
    nextRunAt: s.nextAt === null || s.paused === 1 ? null : iso(s.nextAt),
  };
}

export function runOf(r: RunRecord): RunView {
  const run: RunView = { fireAt: iso(r.fireAt), state: r.state };
  if (r.jobId !== null) run.jobId = r.jobId;
  if (r.jobState !== null) run.jobState = r.jobState;
  if (r.reason === "overlap" || r.reason === "interval") run.reason = r.reason;
  if (r.until !== null) run.until = iso(r.until);
  if (r.count !== null) run.count = r.count;
  if (r.error !== null) run.error = r.error;
  return run;
}

export function viewOf(s: ScheduleRecord, runs: RunRecord[], nextRuns: number[]): ScheduleWire {
  return {
    ...summaryOf(s),
    job: s.job,
    nextRuns: nextRuns.map(iso),
    runs: runs.map(runOf),
  };
}
