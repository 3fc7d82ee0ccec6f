/**
 * Job: one Durable Object per job. Its SQLite (job-store.ts) holds the job (type, spec, state, counters), its chunks
 * (requests, delivery attempts, pending/done/dead) and its results by request index, so a chunk delivered twice
 * (Queues are at-least-once) is applied once. It sends its own chunks to the queue and publishes throttled progress.
 * This class is the RPC surface and the alarm; what they decide is decided in job-state.ts.
 *
 * Watchdog: each chunk records when it was last sent, delivered or recorded (`touched_at`). While chunks are
 * pending the object keeps one alarm at the job's stall deadline (its latest activity + JOBS_STALL_SECONDS). Quiet
 * is not loss: a chunk may be waiting behind other jobs' messages. So at the deadline the alarm asks the queue for
 * its backlog (`metrics()`), and a chunk whose message the queue may still hold (it holds messages sent no later
 * than the chunk's last activity) is left alone and looked at again a stall period later. Only a message the queue
 * has moved past is lost (the local in-memory broker restarted, a dead letter that could not be marked): it is sent
 * again, at most JOBS_STALL_RESENDS times, then the chunk is dead, so the job ends partial or failed, not hanging.
 *
 * Retention: once the job has ended, the same alarm waits JOBS_RETENTION_HOURS, then deletes the object's storage
 * (`deleteAll`) and leaves a tombstone, so the id answers 410 Gone (and its Idempotency-Key does not run the job
 * again) for JOBS_TOMBSTONE_DAYS; then the tombstone goes too and the object holds nothing. Its progress room
 * `job:<id>` goes with it (`forgetProgressRoom`).
 *
 * The same one alarm also holds a delayed job (`scheduled`) until its `runAt`, then sends its chunks; delivers its
 * completion callback when it ends (retried with backoff; retention starts once it is delivered or given up); and
 * retries a failed update of its owner's index. The index (JobIndex, GET /v1/jobs) gets the job's row whenever its
 * state changes; the row the index acknowledged is stored (`idx_acked`), so an update that failed is an outbox
 * entry: the alarm sends the current row again, with backoff, until the index has it. The index applies an update
 * only if its version is newer, so a late one changes nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { log } from "../http/log";
import { settings } from "../settings";
import { backoffSeconds } from "./backoff";
import { deliverCallback } from "./callback";
import { batchesOf } from "./chunks";
import {
  type Backlog,
  type ChunkRecord,
  callbackAfter,
  callbackOnEnd,
  callbackUnsettled,
  claimOf,
  endOf,
  indexEntryOf,
  indexRetryMs,
  indexSignature,
  isStalled,
  isTerminal,
  type JobRecord,
  messagesOf,
  nextAlarm,
  type PolicyInForce,
  pageOf,
  planJob,
  progressOf,
  resultsOf,
  retentionEnd,
  stallDeadline,
  statusOf,
  tombstoneOf,
  watchdogPlan,
} from "./job-state";
import { JobStore } from "./job-store";
import { callTimeoutMs, type RetryInput, retryPolicy } from "./policy";
import { forgetProgressRoom, PROGRESS_INTERVAL_MS, publishProgress } from "./progress";
import { Throttle } from "./throttle";
import type {
  CallbackSpec,
  CancelOutcome,
  Claim,
  CreateJobInput,
  CreateOutcome,
  DispatchOutcome,
  JobResult,
  JobStatus,
  JobTombstone,
  ResultsPage,
  RetryOutcome,
} from "./types";

/** The namespace of a job's owner (`ns:<namespace>`), where its progress room lives; none for other owners. */
const namespaceOf = (owner: string | null): string | undefined =>
  owner?.startsWith("ns:") ? owner.slice(3) : undefined;

export class Job extends DurableObject<Env> {
  readonly #store: JobStore;
  readonly #throttle = new Throttle(PROGRESS_INTERVAL_MS);
  /** Index updates, one at a time: each sends the job's current row. */
  #indexing: Promise<void> = Promise.resolve();
  /** The policies in force, by the job's creation time (its spec does not change, nor the settings in an instance). */
  #policy: { createdAt: number; policy: PolicyInForce } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new JobStore(ctx.storage);
  }

  /**
   * Create the job once: a second call with the same body hash returns the existing job ("existing"), one with
   * a different body returns "conflict". Nothing is sent: call `dispatch()` next (the watchdog's alarm is armed,
   * so chunks never sent are sent by it after JOBS_STALL_SECONDS). A job with a later `runAt` is `scheduled`: its
   * alarm sends it then. Its owner's index has its row when this returns (or the alarm retries the update).
   */
  async create(input: CreateJobInput): Promise<CreateOutcome> {
    const tombstone = this.#store.tombstone();
    // The id comes from the owner's scope and key: whoever reaches an existing job here is its owner.
    if (tombstone) return { outcome: "gone", tombstone };
    const existing = this.#store.job();
    if (existing) {
      return {
        outcome: existing.bodyHash === input.bodyHash ? "existing" : "conflict",
        status: this.#status(existing),
      };
    }
    this.#store.insertJob(input, planJob(input), Date.now());
    await this.#syncIndex();
    await this.#arm();
    return { outcome: "created", status: this.#status(this.#store.mustJob()) };
  }

  /**
   * Send every pending chunk not sent yet to the queue (idempotent: a chunk is marked sent before the send, and
   * unmarked if the send fails, so concurrent calls never send a chunk twice). Returns the number sent, and the
   * queue's error when a send failed (the chunks it left are sent by the next call).
   */
  async dispatch(): Promise<DispatchOutcome> {
    const job = this.#store.job();
    if (!job || job.state === "canceled" || job.state === "scheduled") return { sent: 0 };
    const chunks = this.#store.unsent();
    if (chunks.length === 0) return { sent: 0 };
    this.#store.markSent(Date.now());
    const outcome = await this.#send(job, chunks);
    for (const c of chunks.slice(outcome.sent)) this.#store.markUnsent(c.idx);
    return outcome;
  }

  /**
   * What is left of this id's job if it was deleted after its retention (410 Gone), else null. Every call a route
   * makes for a caller passes its `reader` (`tenantOf`; none for the root token): another owner's job answers as if
   * there were none (404, never 403: whether it exists is not told).
   */
  gone(reader?: string): JobTombstone | null {
    return this.#visible(reader) ? this.#store.tombstone() : null;
  }

  /** The job's status, or null when no job has this id (for this reader). */
  status(reader?: string): JobStatus | null {
    const job = this.#visible(reader) ? this.#store.job() : null;
    return job ? this.#status(job) : null;
  }

  #visible(reader: string | undefined): boolean {
    return reader === undefined || reader === (this.#store.owner() ?? "root");
  }

  /**
   * A delivery of chunk `chunk` starts: count the attempt and say what to run (only requests without a result),
   * or why to skip it (canceled job, chunk already done or dead).
   */
  claim(chunk: number, withRequests: boolean): Claim {
    const job = this.#store.job();
    const claim = claimOf(job, this.#store.chunk(chunk), () => this.#store.recorded(chunk), withRequests);
    if (claim.action === "run") {
      this.#store.countAttempt(chunk, Date.now());
      if (job?.state === "queued") {
        this.#progress(false);
        this.#indexSoon();
      }
    }
    return claim;
  }

  /**
   * Record final results of chunk `chunk` (by job-wide index; an index already recorded is ignored, so duplicate
   * deliveries are applied once). The chunk is done when all its requests have a result; the job ends when no
   * chunk is pending. `note.lastError` keeps the chunk's last transient failure (shown if it dies);
   * `note.jobError` sets the job's error (a webhook delivery that ended without a 2xx). Returns the status after.
   */
  async record(
    chunk: number,
    resultsJson: string,
    note: { lastError?: string; jobError?: string } = {},
  ): Promise<JobStatus | null> {
    const job = this.#store.job();
    const row = this.#store.chunk(chunk);
    if (!job || !row) return null;
    const results = resultsOf(row, JSON.parse(resultsJson) as JobResult[]);
    this.#store.transaction(() => {
      let inserted = 0;
      let failed = 0;
      for (const result of results) {
        if (!this.#store.insertResult(chunk, result)) continue;
        inserted++;
        if (!result.ok) failed++;
      }
      this.#store.countResults(chunk, inserted, failed, note.lastError ?? null, Date.now());
      if (note.jobError) this.#store.setError(note.jobError);
      this.#finish();
    });
    await this.#settled();
    return this.status();
  }

  /**
   * Flow control deferred chunk `chunk`'s calls not yet run: send its message again after `delaySeconds`, carrying
   * `deferrals`. A new message, so flow waits never use up the queue's max_retries; the delivery does not count in
   * `attempts` either. False (nothing sent) when the chunk no longer runs.
   */
  async defer(chunk: number, delaySeconds: number, deferrals: number): Promise<boolean> {
    const job = this.#store.job();
    const row = this.#store.chunk(chunk);
    if (!job || !row || row.state !== "pending" || job.state === "canceled") return false;
    const [message] = messagesOf(job, [row]);
    await this.env.JOBS_QUEUE.send({ ...message, deferrals }, { delaySeconds, contentType: "json" });
    this.#store.uncountAttempt(chunk, Date.now());
    return true;
  }

  /**
   * The handlers of chunk `chunk` reported how their items are getting on (`[{index, data}]` as JSON): the chunk was
   * active (the watchdog's clock moves), and the job's room gets it as `job-item-progress`. False (nothing published)
   * when the chunk no longer runs.
   */
  progress(chunk: number, itemsJson: string): boolean {
    const job = this.#store.job();
    const row = this.#store.chunk(chunk);
    if (!job || !row || row.state !== "pending" || isTerminal(job.state)) return false;
    this.#store.touchChunk(chunk, Date.now());
    const items = (JSON.parse(itemsJson) as { index: number; data: unknown }[]).filter(
      (item) => item.index >= row.start && item.index < row.start + row.count,
    );
    const update = { kind: "job-item-progress" as const, id: job.id, items };
    this.ctx.waitUntil(publishProgress(this.env, update, namespaceOf(this.#store.owner())));
    return true;
  }

  /** The dead-letter consumer: chunk `chunk` ran out of retries. The job ends partial or failed, not hanging. */
  async markDead(chunk: number, error: string): Promise<JobStatus | null> {
    const job = this.#store.job();
    const row = this.#store.chunk(chunk);
    if (!job || !row) return null;
    if (row.state === "pending") {
      this.#store.transaction(() => {
        this.#store.markDead(chunk, error);
        this.#store.touch(Date.now());
        this.#finish();
      });
      await this.#settled();
    }
    return this.status();
  }

  /** Cancel: chunks not yet run are skipped (and acked) when delivered. A finished job cannot be canceled. */
  async cancel(reader?: string): Promise<CancelOutcome | null> {
    const job = this.#visible(reader) ? this.#store.job() : null;
    if (!job) return null;
    if (job.state === "canceled") return { outcome: "canceled", status: this.#status(job) };
    if (isTerminal(job.state)) return { outcome: "conflict", status: this.#status(job) };
    const now = Date.now();
    this.#store.transaction(() => {
      this.#store.cancel(now);
      this.#callbackOnEnd(now);
    });
    this.#progress(true);
    await this.#syncIndex();
    await this.#arm();
    return { outcome: "canceled", status: this.#status(this.#store.mustJob()) };
  }

  /**
   * Put dead chunks back on the queue (fresh attempts); the job runs again until they end. `requeued` counts the
   * chunks sent now (a failed send leaves the rest for the next call).
   */
  async retryDead(reader?: string): Promise<RetryOutcome | null> {
    const job = this.#visible(reader) ? this.#store.job() : null;
    if (!job) return null;
    if (job.state === "canceled") return { outcome: "conflict", requeued: 0, status: this.#status(job) };
    const dead = this.#store.deadChunkCount();
    if (dead > 0) this.#store.reviveDead(Date.now());
    // Also sends pending chunks an earlier failed send left behind.
    const dispatched = await this.dispatch();
    if (dead > 0) {
      await this.#syncIndex();
      await this.#arm();
    }
    if (dead === 0 && dispatched.sent === 0) return { outcome: "nothing", requeued: 0, status: this.#status(job) };
    this.#progress(false);
    return { outcome: "requeued", requeued: dispatched.sent, status: this.#status(this.#store.mustJob()) };
  }

  /**
   * The one alarm: a failed index update is sent again; a delayed job whose time has come starts; a finished job's
   * callback is delivered (or tried again), then its retention ends (`#expire`); and the watchdog. At the stall
   * deadline (no chunk of the job sent, delivered or recorded for JOBS_STALL_SECONDS),
   * each pending chunk whose message the queue may still hold waits (looked at again a stall period later); the
   * others are lost: sent again (counted in `resends`) or, after JOBS_STALL_RESENDS re-sends, marked dead so the
   * job ends. Fired early (activity moved the deadline), again, or for a finished job, it changes nothing but the
   * next alarm. A failed send is logged, not thrown: it counts as a lost message.
   */
  override async alarm(): Promise<void> {
    const s = settings(this.env);
    const now = Date.now();
    const tombstone = this.#store.tombstone();
    if (tombstone) {
      await this.#forget(tombstone, now);
      return;
    }
    const before = this.#store.job();
    if (!before) return;
    if (before.idxRetryAt !== null && before.idxRetryAt <= now) await this.#syncIndex();
    const job = this.#store.mustJob();
    if (job.state === "scheduled") {
      if ((job.runAt ?? 0) <= now) await this.#start();
      else await this.#arm();
      return;
    }
    if (isTerminal(job.state)) {
      if (!callbackUnsettled(job)) await this.#expire(job, now);
      else if ((job.cbNextAt ?? 0) <= now) await this.#deliverCallback(job);
      else await this.#arm();
      return;
    }
    if (!isStalled(stallDeadline(this.#store.activity(), s.JOBS_STALL_SECONDS), now)) {
      await this.#arm();
      return;
    }
    const backlog = await this.#backlog(job.id);
    const { waiting, resend, lost } = watchdogPlan(
      this.#store.pending(),
      { seconds: s.JOBS_STALL_SECONDS, resends: s.JOBS_STALL_RESENDS },
      backlog,
    );
    this.#store.transaction(() => {
      for (const c of resend) this.#store.markResent(c.idx, now);
      for (const c of lost) this.#store.markLost(c.idx, c.error);
      if (lost.length > 0) {
        this.#store.touch(now);
        this.#finish();
      }
    });
    if (lost.length > 0) await this.#syncIndex();
    if (waiting.length > 0) {
      log("info", "job chunks quiet but still in the queue's backlog", {
        jobId: job.id,
        chunks: waiting.map((c) => c.idx),
        backlog,
      });
    }
    if (resend.length > 0) {
      const outcome = await this.#send(job, resend);
      log(outcome.error ? "error" : "warn", "job chunks re-sent after a stall", {
        jobId: job.id,
        chunks: resend.map((c) => c.idx),
        sent: outcome.sent,
        ...(outcome.error ? { error: outcome.error } : {}),
      });
    }
    if (lost.length > 0) {
      log("warn", "job chunks lost", {
        jobId: job.id,
        chunks: lost.map((c) => c.idx),
        state: this.#store.job()?.state,
      });
    }
    this.#progress(this.#isTerminal());
    // Chunks still in the backlog are looked at again a stall period from now, not at once.
    await this.#arm(waiting.length > 0 ? now + s.JOBS_STALL_SECONDS * 1_000 : 0);
  }

  /** A page of results in index order, after index `after`, at most `limit` items and about `maxBytes`. */
  results(after: number, limit: number, maxBytes: number, reader?: string): ResultsPage | null {
    if (!this.#visible(reader) || !this.#store.job()) return null;
    return pageOf(this.#store.resultsAfter(after, limit + 1), limit, maxBytes);
  }

  // ---- internals

  /** Send these chunks' messages (sendBatch calls within the queue's limits); `sent` counts those that went out. */
  async #send(job: JobRecord, chunks: ChunkRecord[]): Promise<DispatchOutcome> {
    let sent = 0;
    try {
      for (const batch of batchesOf(messagesOf(job, chunks))) {
        await this.env.JOBS_QUEUE.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
        sent += batch.length;
      }
    } catch (err) {
      return { sent, error: err instanceof Error ? err.message : String(err) };
    }
    return { sent };
  }

  /**
   * Keep the one alarm (`nextAlarm`): at the stall deadline (not before `notBefore`) while the job runs, at its start
   * while it is scheduled, at its callback's next attempt or else the end of its retention once it has ended, and
   * at the retry of a failed index update.
   */
  async #arm(notBefore = 0): Promise<void> {
    const s = settings(this.env);
    const job = this.#store.job();
    const stall = job && !isTerminal(job.state) ? stallDeadline(this.#store.activity(), s.JOBS_STALL_SECONDS) : null;
    const at = job ? nextAlarm(job, stall, s.JOBS_RETENTION_HOURS, notBefore) : null;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  /** A delayed job's time has come: queue it and send its chunks (a failed send is the watchdog's to repeat). */
  async #start(): Promise<void> {
    const job = this.#store.mustJob();
    this.#store.start(Date.now());
    const outcome = await this.dispatch();
    const late = Date.now() - (job.runAt ?? 0);
    log(outcome.error ? "error" : "info", "delayed job started", { jobId: job.id, lateMs: late, ...outcome });
    this.#progress(false);
    await this.#syncIndex();
    await this.#arm();
  }

  /**
   * Deliver the finished job's callback once (its final status, signed) and decide what follows: delivered, given up,
   * or another attempt after a backoff. A job revived meanwhile (a new round) keeps its new state.
   */
  async #deliverCallback(job: JobRecord): Promise<void> {
    const s = settings(this.env);
    const spec = JSON.parse(job.callback ?? "null") as CallbackSpec;
    const { callback: _callback, ...status } = this.#status(job);
    const attempt = await deliverCallback(
      `cb_${job.id}_${job.cbRound}`,
      spec.url,
      status,
      this.env.JOBS_WEBHOOK_SECRET,
      s,
    );
    const now = Date.now();
    const current = this.#store.job();
    if (!current || current.cbRound !== job.cbRound || !callbackUnsettled(current)) return;
    const backoff = { baseSeconds: s.JOBS_RETRY_BASE_SECONDS, maxSeconds: s.JOBS_RETRY_MAX_SECONDS };
    const next = callbackAfter(
      attempt,
      current.cbAttempts,
      s.JOBS_CALLBACK_ATTEMPTS,
      (n) => backoffSeconds(n, backoff) * 1_000,
      now,
    );
    this.#store.callbackAttempted(next);
    log(next.state === "failing" ? "warn" : next.state === "given-up" ? "error" : "info", "job callback", {
      jobId: job.id,
      state: next.state,
      attempts: next.attempts,
      ...(next.error ? { error: next.error } : {}),
    });
    await this.#syncIndex();
    await this.#arm();
  }

  /**
   * A finished job whose retention is over: take it out of its owner's index (an update that fails waits for the
   * alarm's retry: the job is kept until the index has let it go), delete its storage, leaving a tombstone with its
   * own alarm.
   */
  async #expire(job: JobRecord, now: number): Promise<void> {
    const s = settings(this.env);
    if (now < retentionEnd(job, s.JOBS_RETENTION_HOURS)) {
      await this.#arm();
      return;
    }
    if (job.listedBy !== null) {
      try {
        await this.#indexing; // an update still on its way must not land after the removal
        await this.env.JOB_INDEX.getByName(job.listedBy).remove(job.id);
      } catch (err) {
        this.#indexFailed(job, err);
        await this.#arm();
        return;
      }
    }
    const tombstone = tombstoneOf(job, now, s.JOBS_TOMBSTONE_DAYS);
    const owner = this.#store.owner();
    await forgetProgressRoom(this.env, job.id, namespaceOf(owner));
    await this.#store.deleteAll();
    this.#store.insertTombstone(tombstone);
    // The tombstone answers only its owner too.
    if (owner !== null) this.#store.setOwner(owner);
    await this.ctx.storage.setAlarm(tombstone.forgetAt);
    log("info", "job deleted after its retention", { jobId: job.id, state: job.state, endedAt: job.updatedAt });
  }

  /** The tombstone's own retention: once over, the object holds nothing (and has no alarm). */
  async #forget(tombstone: JobTombstone, now: number): Promise<void> {
    if (now < tombstone.forgetAt) {
      await this.ctx.storage.setAlarm(tombstone.forgetAt);
      return;
    }
    await this.#store.deleteAll();
    await this.ctx.storage.deleteAlarm();
  }

  /** The queue's backlog, or null when its metrics cannot be read (then every sent chunk may still arrive). */
  async #backlog(jobId: string): Promise<Backlog | null> {
    try {
      const m = await this.env.JOBS_QUEUE.metrics();
      // Typed as a Date; the local broker answers milliseconds (0 when empty).
      const oldest = m.oldestMessageTimestamp as Date | number | undefined;
      const oldestAt = oldest === undefined ? null : typeof oldest === "number" ? oldest : oldest.getTime();
      return { count: m.backlogCount, oldestAt: oldestAt || null };
    } catch (err) {
      log("warn", "the queue's backlog is unknown: the job watchdog re-sends nothing sent", {
        jobId,
        error: err instanceof Error ? err.message : String(err),
      });
      return null;
    }
  }

  #isTerminal(): boolean {
    const state = this.#store.job()?.state;
    return state !== undefined && isTerminal(state);
  }

  /** After results or a dead chunk: publish progress; a job that has ended updates its index and alarm. */
  async #settled(): Promise<void> {
    const ended = this.#isTerminal();
    this.#progress(ended);
    if (ended) {
      this.#indexSoon();
      await this.#arm();
    }
  }

  /** When no chunk is pending, settle the job's final state (a canceled job stays canceled); its callback is due. */
  #finish(): void {
    const job = this.#store.mustJob();
    if (job.state === "canceled" || this.#store.pendingCount() > 0) return;
    const dead = this.#store.dead(true);
    const end = endOf(job, dead);
    const now = Date.now();
    this.#store.end(end.state, end.error, now);
    this.#callbackOnEnd(now);
  }

  /** The job has just ended: its callback (if it has one waiting) is due now, or skipped for this end state. */
  #callbackOnEnd(now: number): void {
    const job = this.#store.mustJob();
    const next = callbackOnEnd(job, job.state);
    if (next === "pending" || next === "skipped") this.#store.callbackEnded(next, now);
  }

  // ---- the owner's index

  /** Update the index in the background if it does not hold the job's current row (the hot paths do not wait). */
  #indexSoon(): void {
    const job = this.#store.job();
    if (!job?.listedBy) return;
    const entry = indexEntryOf(job, settings(this.env).JOBS_RETENTION_HOURS);
    if (indexSignature(entry) !== job.idxAcked) this.ctx.waitUntil(this.#syncIndex());
  }

  /** Send the job's current row to its owner's index, after the update in flight; never throws (see #pushIndex). */
  #syncIndex(): Promise<void> {
    this.#indexing = this.#indexing.then(() => this.#pushIndex());
    return this.#indexing;
  }

  /**
   * Until the index holds the job's current row: send it (a newer version each time), and store what the index
   * acknowledged. A failure is stored with the time of the next try, which the alarm keeps.
   */
  async #pushIndex(): Promise<void> {
    const hours = settings(this.env).JOBS_RETENTION_HOURS;
    for (;;) {
      const job = this.#store.job();
      if (!job?.listedBy) return;
      const entry = indexEntryOf(job, hours);
      const signature = indexSignature(entry);
      if (signature === job.idxAcked) return;
      try {
        await this.env.JOB_INDEX.getByName(job.listedBy).upsert({ ...entry, version: this.#store.nextIndexVersion() });
      } catch (err) {
        this.#indexFailed(job, err);
        await this.#arm();
        return;
      }
      this.#store.indexAcked(signature);
    }
  }

  #indexFailed(job: JobRecord, err: unknown): void {
    const failures = job.idxFailures + 1;
    const retryAt = Date.now() + indexRetryMs(failures);
    this.#store.indexFailed(failures, retryAt);
    log("warn", "job index update failed: the job's alarm tries again", {
      jobId: job.id,
      failures,
      retryAt,
      error: err instanceof Error ? err.message : String(err),
    });
  }

  #status(job: JobRecord): JobStatus {
    return statusOf(job, this.#store.counts(), this.#policyOf(job));
  }

  /** The retry policy and per-call timeout in force for this job (policy.ts). */
  #policyOf(job: JobRecord): PolicyInForce {
    if (this.#policy?.createdAt !== job.createdAt) {
      const s = settings(this.env);
      const spec = JSON.parse(job.spec) as { timeoutMs?: number } | null;
      const own = job.retry ? (JSON.parse(job.retry) as RetryInput) : null;
      const policy = { retry: retryPolicy(own, s), timeoutMs: callTimeoutMs(job.type, spec?.timeoutMs, s) };
      this.#policy = { createdAt: job.createdAt, policy };
    }
    return this.#policy.policy;
  }

  /** Publish progress, throttled; the final state always goes out. */
  #progress(final: boolean): void {
    const decision = this.#throttle.offer(Date.now(), final);
    if (decision.action === "now") {
      this.#publish();
    } else if (decision.action === "later") {
      setTimeout(() => {
        this.#throttle.fired(Date.now());
        this.#publish();
      }, decision.delayMs);
    }
  }

  #publish(): void {
    const status = this.status();
    const owner = this.#store.owner();
    if (status) this.ctx.waitUntil(publishProgress(this.env, progressOf(status), namespaceOf(owner)));
  }
}
