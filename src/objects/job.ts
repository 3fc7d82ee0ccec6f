/**
 * Job: one Durable Object per job. Its SQLite holds the job (type, spec, state, counters), its chunks (requests,
 * delivery attempts, pending/done/dead) and its results by request index, so a chunk delivered twice (Queues are
 * at-least-once) is applied once. It sends its own chunks to the queue and publishes throttled progress.
 *
 * Watchdog: each chunk records when it was last sent, delivered or recorded (`touched_at`). While chunks are
 * pending the object keeps one alarm at the job's stall deadline (its latest activity + JOBS_STALL_SECONDS). A job
 * that reaches it has lost its messages (the local in-memory broker restarted, a dead letter that could not be
 * marked): the alarm sends every pending chunk again, at most JOBS_STALL_RESENDS times each, then marks it dead, so
 * the job ends partial or failed instead of hanging.
 */
import { DurableObject } from "cloudflare:workers";
import { log } from "../http/log";
import { batchesOf, chunkMessage, chunkRanges } from "../jobs/chunks";
import { type JobProgress, publishProgress } from "../jobs/progress";
import { Throttle } from "../jobs/throttle";
import type {
  CancelOutcome,
  Claim,
  CreateJobInput,
  CreateOutcome,
  DispatchOutcome,
  JobMessage,
  JobResult,
  JobState,
  JobStatus,
  JobType,
  ResultsPage,
  RetryOutcome,
} from "../jobs/types";
import { settings } from "../settings";

/** At most ~5 progress updates a second per job. */
export const PROGRESS_INTERVAL_MS = 200;

interface JobRow {
  id: string;
  type: JobType;
  body_hash: string;
  state: JobState;
  total: number;
  spec: string;
  done: number;
  failed: number;
  attempts: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  [column: string]: SqlStorageValue;
}

interface ChunkRow {
  idx: number;
  start: number;
  count: number;
  requests: string;
  state: "pending" | "done" | "dead";
  attempts: number;
  sent: number;
  recorded: number;
  error: string | null;
  touched_at: number;
  resends: number;
  [column: string]: SqlStorageValue;
}

export class Job extends DurableObject<Env> {
  #sql: SqlStorage;
  #throttle = new Throttle(PROGRESS_INTERVAL_MS);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Schema v1.
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS job (
      singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
      id TEXT NOT NULL, type TEXT NOT NULL, body_hash TEXT NOT NULL, state TEXT NOT NULL,
      total INTEGER NOT NULL, spec TEXT NOT NULL,
      done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
      error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS chunks (
      idx INTEGER PRIMARY KEY, start INTEGER NOT NULL, count INTEGER NOT NULL, requests TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0,
      recorded INTEGER NOT NULL DEFAULT 0, error TEXT,
      touched_at INTEGER NOT NULL DEFAULT 0, resends INTEGER NOT NULL DEFAULT 0)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS results (
      idx INTEGER PRIMARY KEY, chunk INTEGER NOT NULL, ok INTEGER NOT NULL, data TEXT NOT NULL)`);
  }

  /**
   * Create the job once: a second call with the same body hash returns the existing job ("existing"), one with
   * a different body returns "conflict". Nothing is sent: call `dispatch()` next (the watchdog's alarm is armed,
   * so chunks never sent are sent by it after JOBS_STALL_SECONDS).
   */
  async create(input: CreateJobInput): Promise<CreateOutcome> {
    const existing = this.#job();
    if (existing) {
      return {
        outcome: existing.body_hash === input.bodyHash ? "existing" : "conflict",
        status: this.#status(existing),
      };
    }
    const now = Date.now();
    const requests = input.type === "fanout" ? (JSON.parse(input.requestsJson ?? "[]") as unknown[]) : [];
    const total = input.type === "fanout" ? requests.length : 1;
    const spec = (input.type === "fanout" ? input.optionsJson : input.webhookJson) ?? "{}";
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO job (singleton, id, type, body_hash, state, total, spec, created_at, updated_at)
         VALUES (1, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
        input.id,
        input.type,
        input.bodyHash,
        total,
        spec,
        now,
        now,
      );
      if (input.type === "fanout") {
        for (const range of chunkRanges(total, input.chunkSize)) {
          this.#sql.exec(
            "INSERT INTO chunks (idx, start, count, requests, touched_at) VALUES (?, ?, ?, ?, ?)",
            range.index,
            range.start,
            range.count,
            JSON.stringify(requests.slice(range.start, range.start + range.count)),
            now,
          );
        }
      } else {
        this.#sql.exec("INSERT INTO chunks (idx, start, count, requests, touched_at) VALUES (0, 0, 1, 'null', ?)", now);
      }
    });
    await this.#arm();
    return { outcome: "created", status: this.#status(this.#mustJob()) };
  }

  /**
   * Send every pending chunk not sent yet to the queue (idempotent: a chunk is marked sent before the send, and
   * unmarked if the send fails, so concurrent calls never send a chunk twice). Returns the number sent, and the
   * queue's error when a send failed (the chunks it left are sent by the next call).
   */
  async dispatch(): Promise<DispatchOutcome> {
    const job = this.#job();
    if (!job || job.state === "canceled") return { sent: 0 };
    const chunks = this.#sql
      .exec<ChunkRow>("SELECT * FROM chunks WHERE sent = 0 AND state = 'pending' ORDER BY idx")
      .toArray();
    if (chunks.length === 0) return { sent: 0 };
    this.#sql.exec("UPDATE chunks SET sent = 1, touched_at = ? WHERE sent = 0 AND state = 'pending'", Date.now());
    const outcome = await this.#send(job, chunks);
    for (const c of chunks.slice(outcome.sent)) this.#sql.exec("UPDATE chunks SET sent = 0 WHERE idx = ?", c.idx);
    return outcome;
  }

  /** The job's status, or null when no job has this id. */
  status(): JobStatus | null {
    const job = this.#job();
    return job ? this.#status(job) : null;
  }

  /**
   * A delivery of chunk `chunk` starts: count the attempt and say what to run (only requests without a result),
   * or why to skip it (canceled job, chunk already done or dead).
   */
  claim(chunk: number, withRequests: boolean): Claim {
    const job = this.#job();
    if (!job) return { action: "skip", reason: "unknown-job" };
    if (job.state === "canceled") return { action: "skip", reason: "canceled" };
    const row = this.#chunk(chunk);
    if (!row) return { action: "skip", reason: "unknown-chunk" };
    if (row.state !== "pending") return { action: "skip", reason: row.state };
    const recorded = new Set(
      this.#sql
        .exec<{ idx: number }>("SELECT idx FROM results WHERE chunk = ?", chunk)
        .toArray()
        .map((r) => r.idx),
    );
    const pending: number[] = [];
    for (let i = row.start; i < row.start + row.count; i++) if (!recorded.has(i)) pending.push(i);
    const now = Date.now();
    this.#sql.exec("UPDATE chunks SET attempts = attempts + 1, touched_at = ? WHERE idx = ?", now, chunk);
    this.#sql.exec(
      "UPDATE job SET attempts = attempts + 1, state = CASE state WHEN 'queued' THEN 'running' ELSE state END, updated_at = ?",
      now,
    );
    if (job.state === "queued") this.#progress(false);
    return {
      action: "run",
      type: job.type,
      pending,
      start: row.start,
      optionsJson: job.type === "fanout" ? job.spec : "{}",
      ...(withRequests && job.type === "fanout" ? { requestsJson: row.requests } : {}),
      ...(job.type === "webhook" ? { webhookJson: job.spec } : {}),
    };
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
    const job = this.#job();
    const row = this.#chunk(chunk);
    if (!job || !row) return null;
    const results = JSON.parse(resultsJson) as JobResult[];
    let inserted = 0;
    let failed = 0;
    this.ctx.storage.transactionSync(() => {
      for (const result of results) {
        if (result.index < row.start || result.index >= row.start + row.count) continue;
        const cursor = this.#sql.exec(
          "INSERT OR IGNORE INTO results (idx, chunk, ok, data) VALUES (?, ?, ?, ?)",
          result.index,
          chunk,
          result.ok ? 1 : 0,
          JSON.stringify(result),
        );
        if (cursor.rowsWritten > 0) {
          inserted++;
          if (!result.ok) failed++;
        }
      }
      const now = Date.now();
      this.#sql.exec(
        `UPDATE chunks SET recorded = recorded + ?, error = COALESCE(?, error), touched_at = ?,
           state = CASE WHEN recorded + ? >= count THEN 'done' ELSE state END WHERE idx = ?`,
        inserted,
        note.lastError ?? null,
        now,
        inserted,
        chunk,
      );
      this.#sql.exec(
        `UPDATE job SET done = done + ?, failed = failed + ?, updated_at = ?,
           state = CASE state WHEN 'queued' THEN 'running' ELSE state END`,
        inserted,
        failed,
        now,
      );
      if (note.jobError) this.#sql.exec("UPDATE job SET error = ?", note.jobError);
      this.#finish();
    });
    this.#progress(this.#isTerminal());
    if (this.#isTerminal()) await this.#arm();
    return this.status();
  }

  /** The dead-letter consumer: chunk `chunk` ran out of retries. The job ends partial or failed, not hanging. */
  async markDead(chunk: number, error: string): Promise<JobStatus | null> {
    const job = this.#job();
    const row = this.#chunk(chunk);
    if (!job || !row) return null;
    if (row.state === "pending") {
      this.ctx.storage.transactionSync(() => {
        this.#sql.exec("UPDATE chunks SET state = 'dead', error = COALESCE(error, ?) WHERE idx = ?", error, chunk);
        this.#sql.exec("UPDATE job SET updated_at = ?", Date.now());
        this.#finish();
      });
      this.#progress(this.#isTerminal());
      if (this.#isTerminal()) await this.#arm();
    }
    return this.status();
  }

  /** Cancel: chunks not yet run are skipped (and acked) when delivered. A finished job cannot be canceled. */
  async cancel(): Promise<CancelOutcome | null> {
    const job = this.#job();
    if (!job) return null;
    if (job.state === "canceled") return { outcome: "canceled", status: this.#status(job) };
    if (job.state !== "queued" && job.state !== "running") return { outcome: "conflict", status: this.#status(job) };
    this.#sql.exec("UPDATE job SET state = 'canceled', updated_at = ? ", Date.now());
    this.#progress(true);
    await this.#arm();
    return { outcome: "canceled", status: this.#status(this.#mustJob()) };
  }

  /**
   * Put dead chunks back on the queue (fresh attempts); the job runs again until they end. `requeued` counts the
   * chunks sent now (a failed send leaves the rest for the next call).
   */
  async retryDead(): Promise<RetryOutcome | null> {
    const job = this.#job();
    if (!job) return null;
    if (job.state === "canceled") return { outcome: "conflict", requeued: 0, status: this.#status(job) };
    const dead = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE state = 'dead'").one().n;
    if (dead > 0) {
      this.ctx.storage.transactionSync(() => {
        this.#sql.exec(
          "UPDATE chunks SET state = 'pending', attempts = 0, sent = 0, resends = 0, error = NULL WHERE state = 'dead'",
        );
        this.#sql.exec("UPDATE job SET state = 'running', error = NULL, updated_at = ?", Date.now());
      });
    }
    // Also sends pending chunks an earlier failed send left behind.
    const dispatched = await this.dispatch();
    if (dead > 0) await this.#arm();
    if (dead === 0 && dispatched.sent === 0) return { outcome: "nothing", requeued: 0, status: this.#status(job) };
    this.#progress(false);
    return { outcome: "requeued", requeued: dispatched.sent, status: this.#status(this.#mustJob()) };
  }

  /**
   * The watchdog. At the stall deadline (no chunk of the job sent, delivered or recorded for JOBS_STALL_SECONDS),
   * every pending chunk is taken as lost: sent again (counted in `resends`) or, after JOBS_STALL_RESENDS re-sends,
   * marked dead so the job ends. Fired early (activity moved the deadline), again, or for a finished job, it
   * changes nothing but the next alarm. A failed send is logged, not thrown: it counts as a lost message.
   */
  override async alarm(): Promise<void> {
    const job = this.#job();
    if (!job || this.#isTerminal()) return;
    const s = settings(this.env);
    const now = Date.now();
    const deadline = this.#stallDeadline(s.JOBS_STALL_SECONDS);
    if (deadline === null || deadline > now) {
      await this.#arm();
      return;
    }
    const stalled = this.#sql.exec<ChunkRow>("SELECT * FROM chunks WHERE state = 'pending' ORDER BY idx").toArray();
    const resend = stalled.filter((c) => c.resends < s.JOBS_STALL_RESENDS);
    const lost = stalled.filter((c) => c.resends >= s.JOBS_STALL_RESENDS);
    this.ctx.storage.transactionSync(() => {
      for (const c of resend) {
        this.#sql.exec("UPDATE chunks SET resends = resends + 1, sent = 1, touched_at = ? WHERE idx = ?", now, c.idx);
      }
      for (const c of lost) {
        const error =
          `chunk ${c.idx}: its queue message was lost (nothing heard of it for JOBS_STALL_SECONDS = ` +
          `${s.JOBS_STALL_SECONDS} s after ${c.resends} re-send(s), JOBS_STALL_RESENDS)` +
          (c.error ? `; before that: ${c.error}` : "");
        this.#sql.exec("UPDATE chunks SET state = 'dead', error = ? WHERE idx = ?", error, c.idx);
      }
      if (lost.length > 0) {
        this.#sql.exec("UPDATE job SET updated_at = ?", now);
        this.#finish();
      }
    });
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
      log("warn", "job chunks lost", { jobId: job.id, chunks: lost.map((c) => c.idx), state: this.#job()?.state });
    }
    this.#progress(this.#isTerminal());
    await this.#arm();
  }

  /** A page of results in index order, after index `after`, at most `limit` items and about `maxBytes`. */
  results(after: number, limit: number, maxBytes: number): ResultsPage | null {
    if (!this.#job()) return null;
    const rows = this.#sql
      .exec<{ idx: number; data: string }>(
        "SELECT idx, data FROM results WHERE idx > ? ORDER BY idx LIMIT ?",
        after,
        limit + 1,
      )
      .toArray();
    const items: string[] = [];
    let bytes = 0;
    let last: number | null = null;
    for (const row of rows.slice(0, limit)) {
      if (items.length > 0 && bytes + row.data.length > maxBytes) break;
      items.push(row.data);
      bytes += row.data.length;
      last = row.idx;
    }
    const more = rows.length > items.length;
    return { items, next: more ? last : null };
  }

  // ---- internals

  /** Send these chunks' messages (sendBatch calls within the queue's limits); `sent` counts those that went out. */
  async #send(job: JobRow, chunks: ChunkRow[]): Promise<DispatchOutcome> {
    const messages: JobMessage[] = chunks.map((c) =>
      chunkMessage(job.id, c.idx, job.type === "fanout" ? (JSON.parse(c.requests) as unknown[]) : undefined),
    );
    let sent = 0;
    try {
      for (const batch of batchesOf(messages)) {
        await this.env.JOBS_QUEUE.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
        sent += batch.length;
      }
    } catch (err) {
      return { sent, error: err instanceof Error ? err.message : String(err) };
    }
    return { sent };
  }

  /** The job's stall deadline: its latest chunk activity + the stall time, or null when no chunk is pending. */
  #stallDeadline(stallSeconds: number): number | null {
    const row = this.#sql
      .exec<{ pending: number; last: number | null }>(
        "SELECT SUM(state = 'pending') AS pending, MAX(touched_at) AS last FROM chunks",
      )
      .one();
    return row.pending > 0 && row.last !== null ? row.last + stallSeconds * 1_000 : null;
  }

  /** Keep the one alarm at the stall deadline while the job runs; a finished or canceled job has none. */
  async #arm(): Promise<void> {
    const deadline = this.#isTerminal() ? null : this.#stallDeadline(settings(this.env).JOBS_STALL_SECONDS);
    if (deadline === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(deadline);
  }

  #job(): JobRow | null {
    return this.#sql.exec<JobRow>("SELECT * FROM job WHERE singleton = 1").toArray()[0] ?? null;
  }

  #mustJob(): JobRow {
    const job = this.#job();
    if (!job) throw new Error("job row missing");
    return job;
  }

  #chunk(idx: number): ChunkRow | null {
    return this.#sql.exec<ChunkRow>("SELECT * FROM chunks WHERE idx = ?", idx).toArray()[0] ?? null;
  }

  #isTerminal(): boolean {
    const state = this.#job()?.state;
    return state !== undefined && state !== "queued" && state !== "running";
  }

  /** Requests of dead chunks that have no result. */
  #deadCount(): number {
    return (
      this.#sql.exec<{ n: number | null }>("SELECT SUM(count - recorded) AS n FROM chunks WHERE state = 'dead'").one()
        .n ?? 0
    );
  }

  /** When no chunk is pending, settle the job's final state (a canceled job stays canceled). */
  #finish(): void {
    const job = this.#mustJob();
    if (job.state === "canceled") return;
    const pending = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE state = 'pending'").one().n;
    if (pending > 0) return;
    const dead = this.#deadCount();
    const failed = job.failed + dead;
    const ok = job.done - job.failed;
    const state: JobState = failed === 0 ? "succeeded" : ok === 0 ? "failed" : "partial";
    let error = job.error;
    if (dead > 0) {
      const chunks = this.#sql
        .exec<{ idx: number; error: string | null }>("SELECT idx, error FROM chunks WHERE state = 'dead' ORDER BY idx")
        .toArray();
      error = `${chunks.length} chunk(s) ran out of retries (${dead} request(s) without a result); last error: ${chunks.at(-1)?.error ?? "unknown"}`;
    }
    this.#sql.exec("UPDATE job SET state = ?, error = ?, updated_at = ?", state, error, Date.now());
  }

  #status(job: JobRow): JobStatus {
    const dead = this.#deadCount();
    const chunks = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks").one().n;
    return {
      id: job.id,
      type: job.type,
      state: job.state,
      total: job.total,
      done: job.done,
      failed: job.failed + dead,
      dead,
      attempts: job.attempts,
      resends: this.#sql.exec<{ n: number | null }>("SELECT SUM(resends) AS n FROM chunks").one().n ?? 0,
      chunks,
      createdAt: new Date(job.created_at).toISOString(),
      updatedAt: new Date(job.updated_at).toISOString(),
      ...(job.error ? { error: job.error } : {}),
    };
  }

  #snapshot(): JobProgress | null {
    const s = this.status();
    if (!s) return null;
    return { kind: "job-progress", id: s.id, state: s.state, total: s.total, done: s.done, failed: s.failed };
  }

  /** Publish progress, throttled; the final state always goes out. */
  #progress(final: boolean): void {
    const decision = this.#throttle.offer(Date.now(), final);
    if (decision.action === "now") {
      const snapshot = this.#snapshot();
      if (snapshot) this.ctx.waitUntil(publishProgress(this.env, snapshot));
    } else if (decision.action === "later") {
      setTimeout(() => {
        this.#throttle.fired(Date.now());
        const snapshot = this.#snapshot();
        if (snapshot) this.ctx.waitUntil(publishProgress(this.env, snapshot));
      }, decision.delayMs);
    }
  }
}
