/**
 * Schedule: one Durable Object per schedule, named by its owner and name. SQLite holds its definition and its last
 * runs (schedule-store.ts); its one alarm is set at the next fire time. When the alarm fires, schedule-state.ts
 * decides what runs (the fire time, the latest of those missed during downtime, or nothing) and the run's job is
 * created through the jobs wing's `createJob` under an Idempotency-Key derived from the name and the fire time, so an
 * alarm that fires twice for one time creates one job. This class is the RPC surface and the alarm.
 *
 * Membership of the owner's ScheduleIndex (which counts and lists schedules) is kept by an outbox: a schedule is
 * stored "adding" before the index is asked, goes live ("added") once it has answered, and is "removing" from a
 * delete on. Whatever does not finish (the index unreachable, the object reset half-way) is finished by the alarm,
 * which retries the index every RETRY_MS until it answers, then deletes the object's storage: a create that failed
 * leaves nothing behind, and a deleted schedule leaves no name in the index.
 */
import { DurableObject } from "cloudflare:workers";
import { log } from "../http/log";
import { tenantOfOwner } from "../http/owner";
import { createJob } from "../jobs";
import { settings } from "../settings";
import { cronTimes } from "./cron";
import type { AddOutcome } from "./schedule-index";
import {
  isFinal,
  type MissedPolicy,
  newRun,
  nextFires,
  type OverlapPolicy,
  overlapBlocks,
  planFire,
  runKey,
  runOfOutcome,
  tooSoon,
} from "./schedule-state";
import { type ScheduleRecord, ScheduleStore } from "./schedule-store";
import { type ScheduleSummary, type ScheduleWire, summaryOf, viewOf } from "./view";

/** How long the alarm waits before trying again what failed (the index, a job's creation). */
const RETRY_MS = 10_000;

export interface CreateScheduleInput {
  owner: string;
  name: string;
  cron: string;
  timezone: string;
  /** The job body each run creates (JSON). */
  jobJson: string;
  missed: MissedPolicy;
  overlap: OverlapPolicy;
  paused: boolean;
  /** Canonical JSON of what defines the schedule (all but `paused`): the same again is a replay. */
  definition: string;
  /** SCHEDULES_MAX_PER_CALLER as the route read it. */
  max: number;
}

export type CreateScheduleOutcome =
  | { outcome: "created" | "existing" | "conflict"; schedule: ScheduleWire }
  | { outcome: "full"; max: number }
  /** The index did not answer: nothing is live; the alarm removes what was stored unless the POST comes again. */
  | { outcome: "unavailable" };

export class Schedule extends DurableObject<Env> {
  readonly #store: ScheduleStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new ScheduleStore(ctx.storage);
  }

  /**
   * Create the schedule and add it to its owner's index (refused, storing nothing, when the owner has `max`). The
   * same definition again answers "existing"; another one "conflict". Other calls wait until this one has ended.
   */
  create(input: CreateScheduleInput): Promise<CreateScheduleOutcome> {
    return this.ctx.blockConcurrencyWhile(async () => {
      let s = this.#store.schedule();
      // A schedule deleted under this name is still leaving the index: finish that first.
      if (s?.indexState === "removing") {
        try {
          await this.#leave(s);
        } catch (err) {
          this.#failed("schedule index unreachable on create", err);
          return { outcome: "unavailable" };
        }
        s = null;
      }
      if (s?.indexState === "added") {
        return { outcome: s.definition === input.definition ? "existing" : "conflict", schedule: this.#view(s, 5) };
      }
      // A create that did not finish: it never went live; the same one carries on, another starts afresh.
      if (s && s.definition !== input.definition) {
        await this.#store.deleteAll();
        s = null;
      }
      const now = Date.now();
      if (!s) {
        this.#store.insert({
          name: input.name,
          owner: input.owner,
          cron: input.cron,
          timezone: input.timezone,
          job: input.jobJson,
          missed: input.missed,
          overlap: input.overlap,
          definition: input.definition,
          paused: input.paused ? 1 : 0,
          createdAt: now,
          updatedAt: now,
          nextAt: input.paused ? null : cronTimes(input.cron, input.timezone).next(now),
          indexState: "adding",
        });
      }
      this.#store.update({ retryAt: now + RETRY_MS });
      await this.#arm();
      let added: AddOutcome;
      try {
        added = await this.#index(input.owner).add(input.name, input.max);
      } catch (err) {
        this.#failed("schedule index unreachable on create", err);
        return { outcome: "unavailable" };
      }
      if (added === "full") {
        await this.#store.deleteAll();
        return { outcome: "full", max: input.max };
      }
      this.#store.update({ indexState: "added", retryAt: null });
      await this.#arm();
      return { outcome: "created", schedule: this.#view(this.#mustLive(), 5) };
    });
  }

  /** The schedule with its next `next` fire times and its runs (their jobs' states read again until they end). */
  async view(next: number): Promise<ScheduleWire | null> {
    const s = this.#live();
    if (!s) return null;
    const history = settings(this.env).SCHEDULES_HISTORY;
    const stale = this.#store.runs(history).filter((r) => r.jobId !== null && !isFinal(r.jobState));
    // Best effort: a Job object that does not answer leaves the state last read.
    await Promise.allSettled(
      stale.map(async (r) => {
        const state = await this.#jobState(r.jobId as string);
        if (state !== null && state !== r.jobState && this.#same(s)) this.#store.setJobState(r.fireAt, state);
      }),
    );
    const now = this.#live();
    return now ? this.#view(now, next) : null;
  }

  summary(): ScheduleSummary | null {
    const s = this.#live();
    return s ? summaryOf(s) : null;
  }

  /** Stop firing (the alarm is cleared); fire times while paused are not missed ones. */
  async pause(): Promise<ScheduleSummary | null> {
    const s = this.#live();
    if (!s) return null;
    if (s.paused === 0) {
      this.#store.update({ paused: 1, nextAt: null, updatedAt: Date.now() });
      await this.#arm();
    }
    return summaryOf(this.#mustLive());
  }

  /** Fire again from the first fire time after now. */
  async resume(): Promise<ScheduleSummary | null> {
    const s = this.#live();
    if (!s) return null;
    if (s.paused === 1) {
      const now = Date.now();
      this.#store.update({ paused: 0, nextAt: cronTimes(s.cron, s.timezone).next(now), updatedAt: now });
      await this.#arm();
    }
    return summaryOf(this.#mustLive());
  }

  /** Delete the schedule: gone at once for every call; its name leaves the index, then its storage goes. */
  remove(): Promise<boolean> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const s = this.#live();
      if (!s) return false;
      this.#store.update({ indexState: "removing", nextAt: null, retryAt: Date.now() + RETRY_MS });
      await this.#arm();
      await this.#leave(s).catch((err: unknown) => this.#failed("schedule index unreachable on delete", err));
      return true;
    });
  }

  /**
   * The fire time has come (or a retry): finish leaving the index if on the way out; else finish any run whose job
   * creation was cut short, then run what `planFire` decides, record it and set the alarm at the next fire time.
   * Never throws: a failure is logged and tried again RETRY_MS later (an alarm that throws is retried only a few
   * times by the platform, after which the schedule would stop).
   */
  override async alarm(): Promise<void> {
    const s = this.#store.schedule();
    if (!s) return;
    try {
      if (s.indexState !== "added") await this.#leave(s);
      else await this.#fire(s, Date.now());
    } catch (err) {
      this.#failed("schedule alarm failed", err);
      if (this.#store.schedule()) this.#store.update({ retryAt: Date.now() + RETRY_MS });
    }
    await this.#arm();
  }

  // ---- internals

  async #fire(first: ScheduleRecord, now: number): Promise<void> {
    const cfg = settings(this.env);
    this.#store.update({ retryAt: null });
    // A run left `creating` is finished first (the same key: the same job). Only the newest is tried: an older one
    // was overtaken by a later fire time while creation kept failing, and is given up (at most one waits at a time).
    const pending = this.#store.creating();
    for (const run of pending.slice(0, -1)) {
      this.#store.putRun({ ...newRun(run.fireAt, "failed"), error: "job creation did not finish" });
    }
    const unfinished = pending.at(-1);
    let retry = false;
    if (unfinished) {
      try {
        await this.#run(first, unfinished.fireAt);
      } catch (err) {
        this.#failed("schedule run: job creation failed again", err);
        retry = true;
      }
      if (!this.#same(first)) return;
    }
    if (retry) this.#store.update({ retryAt: now + RETRY_MS });
    const s = this.#live();
    if (!s || s.paused === 1 || s.nextAt === null) return;
    const times = cronTimes(s.cron, s.timezone);
    const plan = planFire(times, s.nextAt, now, { missed: s.missed, graceMs: cfg.SCHEDULES_GRACE_SECONDS * 1_000 });
    if (!plan) return;
    // The plan is recorded before anything is awaited: an alarm cut short finishes the `creating` run next time.
    this.#store.transaction(() => {
      if (plan.missed) {
        const { from, until, count } = plan.missed;
        this.#store.putRun({ ...newRun(from, "missed"), until, count });
      }
      if (plan.run !== null) this.#store.putRun(newRun(plan.run, "creating"));
      this.#store.update({ nextAt: plan.next });
    });
    if (plan.run !== null) await this.#run(s, plan.run);
    if (this.#same(s)) this.#store.trim(cfg.SCHEDULES_HISTORY);
  }

  /**
   * Run fire time `at` (a `creating` run): skipped if too soon after the last run before it that created a job, or
   * while that job runs (overlap "skip"); else its job is created.
   */
  async #run(s: ScheduleRecord, at: number): Promise<void> {
    const minMs = settings(this.env).SCHEDULES_MIN_INTERVAL_SECONDS * 1_000;
    const last = this.#store.lastCreated(at);
    if (tooSoon(at, last?.fireAt ?? null, minMs)) {
      this.#store.putRun({ ...newRun(at, "skipped"), reason: "interval" });
      return;
    }
    if (s.overlap === "skip" && last?.jobId) {
      const state = await this.#jobState(last.jobId);
      if (!this.#same(s)) return;
      if (state !== null) this.#store.setJobState(last.fireAt, state);
      if (overlapBlocks(s.overlap, state)) {
        this.#store.putRun({ ...newRun(at, "skipped"), reason: "overlap", jobId: last.jobId, jobState: state });
        return;
      }
    }
    const tenant = tenantOfOwner(s.owner);
    const outcome = await createJob(this.env, { body: JSON.parse(s.job), key: runKey(s.name, at), ...tenant });
    if (this.#same(s)) this.#store.putRun(runOfOutcome(at, outcome));
  }

  /** A job's state now; after its retention, the state it ended in; null when there is no such job. */
  async #jobState(id: string): Promise<string | null> {
    const job = this.env.JOB.getByName(id);
    const status = await job.status();
    if (status) return status.state;
    return (await job.gone())?.state ?? null;
  }

  /** Take the name out of the index, then delete everything (throws, keeping the schedule, if the index fails). */
  async #leave(s: ScheduleRecord): Promise<void> {
    await this.#index(s.owner).remove(s.name);
    if (this.#same(s)) await this.#store.deleteAll();
  }

  /** The one alarm: at the next fire time of a live, unpaused schedule, or sooner to retry what failed. */
  async #arm(): Promise<void> {
    const s = this.#store.schedule();
    const fire = s && s.indexState === "added" && s.paused === 0 ? s.nextAt : null;
    const times = [fire, s?.retryAt ?? null].filter((t): t is number => t !== null);
    if (times.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...times));
  }

  #index(owner: string) {
    return this.env.SCHEDULE_INDEX.getByName(owner);
  }

  /** The schedule if it is live (added to its index; not being created or deleted). */
  #live(): ScheduleRecord | null {
    const s = this.#store.schedule();
    return s?.indexState === "added" ? s : null;
  }

  #mustLive(): ScheduleRecord {
    const s = this.#live();
    if (!s) throw new Error("schedule row missing");
    return s;
  }

  /** True while the schedule `s` is still there (not deleted, or deleted and created again, during an await). */
  #same(s: ScheduleRecord): boolean {
    return this.#store.schedule()?.createdAt === s.createdAt;
  }

  #view(s: ScheduleRecord, next: number): ScheduleWire {
    const nextRuns = s.paused === 1 ? [] : nextFires(cronTimes(s.cron, s.timezone), Date.now(), next);
    return viewOf(s, this.#store.runs(settings(this.env).SCHEDULES_HISTORY), nextRuns);
  }

  #failed(message: string, err: unknown): void {
    const s = this.#store.schedule();
    log("error", message, { schedule: s?.name, error: err instanceof Error ? err.message : String(err) });
  }
}
