/**
 * A Job object's storage, in one place: the SQLite schema (the job — with its owner, start, retry policy, callback
 * and index outbox —, its chunks, its results by request index, and the tombstone a deleted job leaves) and every
 * read and write of it, reading rows as the records job-state.ts decides on. No decisions here: what to write is
 * decided by the object and job-state.ts. Callers group writes that belong together in `transaction`.
 */

import type { ChunkRecord, DeadChunks, JobPlan, JobRecord } from "./job-state";
import type { CreateJobInput, JobResult, JobState, JobTombstone } from "./types";

/** The columns of a job row, named as `JobRecord` names them. */
const JOB = `id, type, body_hash AS bodyHash, state, total, spec, done, failed, attempts, error,
  created_at AS createdAt, updated_at AS updatedAt, listed_by AS listedBy, run_at AS runAt, retry, callback, cb_state AS cbState,
  cb_attempts AS cbAttempts, cb_error AS cbError, cb_next_at AS cbNextAt, cb_settled_at AS cbSettledAt,
  cb_round AS cbRound, idx_acked AS idxAcked, idx_retry_at AS idxRetryAt, idx_failures AS idxFailures`;

/**
 * Columns of the job row added after v2 (delayed jobs, retry policies, callbacks, the index outbox): added to the
 * rows of jobs stored before, where they read as "none".
 */
const JOB_V3 = [
  "listed_by TEXT",
  "run_at INTEGER",
  "retry TEXT",
  "callback TEXT",
  "cb_state TEXT",
  "cb_attempts INTEGER NOT NULL DEFAULT 0",
  "cb_error TEXT",
  "cb_next_at INTEGER",
  "cb_settled_at INTEGER",
  "cb_round INTEGER NOT NULL DEFAULT 0",
  "idx_acked TEXT",
  "idx_retry_at INTEGER",
  "idx_failures INTEGER NOT NULL DEFAULT 0",
  "idx_version INTEGER NOT NULL DEFAULT 0",
];
/** The columns of a chunk row that `ChunkRecord` carries. */
const CHUNK = "idx, start, count, requests, state, error, resends, sent, touched_at AS touchedAt";

/** A record as the SQL API types a row. */
type Row<T> = T & Record<string, SqlStorageValue>;

export class JobStore {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    // Schema v1; v2 adds the tombstone table; v3 the owner table (a job stored before has none: the root token's) and
    // the job's columns in JOB_V3.
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
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS tombstone (
      singleton INTEGER PRIMARY KEY CHECK (singleton = 1), id TEXT NOT NULL, state TEXT NOT NULL,
      ended_at INTEGER NOT NULL, deleted_at INTEGER NOT NULL, forget_at INTEGER NOT NULL)`);
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS owner (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), owner TEXT NOT NULL)",
    );
    const columns = new Set(
      this.#sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('job')")
        .toArray()
        .map((c) => c.name),
    );
    for (const column of JOB_V3) {
      if (!columns.has(column.split(" ")[0] as string)) this.#sql.exec(`ALTER TABLE job ADD COLUMN ${column}`);
    }
  }

  /** Who created the job (`tenantOf`'s owner), or null for a job stored before owners were (the root token's). */
  owner(): string | null {
    return this.#sql.exec<{ owner: string }>("SELECT owner FROM owner WHERE singleton = 1").toArray()[0]?.owner ?? null;
  }

  setOwner(owner: string): void {
    this.#sql.exec("INSERT OR REPLACE INTO owner (singleton, owner) VALUES (1, ?)", owner);
  }

  // ---- retention

  /** Delete everything the object stores (its alarm aside); the schema is created again, empty. */
  async deleteAll(): Promise<void> {
    await this.#storage.deleteAll();
    this.#createSchema();
  }

  tombstone(): JobTombstone | null {
    return (
      this.#sql
        .exec<Row<JobTombstone>>(
          `SELECT id, state, ended_at AS endedAt, deleted_at AS deletedAt, forget_at AS forgetAt
           FROM tombstone WHERE singleton = 1`,
        )
        .toArray()[0] ?? null
    );
  }

  insertTombstone(t: JobTombstone): void {
    this.#sql.exec(
      "INSERT INTO tombstone (singleton, id, state, ended_at, deleted_at, forget_at) VALUES (1, ?, ?, ?, ?, ?)",
      t.id,
      t.state,
      t.endedAt,
      t.deletedAt,
      t.forgetAt,
    );
  }

  /** Run `fn`'s writes as one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn);
  }

  // ---- the job

  job(): JobRecord | null {
    return this.#sql.exec<Row<JobRecord>>(`SELECT ${JOB} FROM job WHERE singleton = 1`).toArray()[0] ?? null;
  }

  mustJob(): JobRecord {
    const job = this.job();
    if (!job) throw new Error("job row missing");
    return job;
  }

  /**
   * Store a new job (scheduled when it starts later, else queued) and its chunks (pending, touched now), in one
   * transaction.
   */
  insertJob(
    input: Pick<
      CreateJobInput,
      "id" | "type" | "bodyHash" | "owner" | "listedBy" | "runAt" | "retryJson" | "callbackJson"
    >,
    plan: JobPlan,
    now: number,
  ): void {
    const runAt = input.runAt ?? null;
    this.transaction(() => {
      if (input.owner !== undefined) this.setOwner(input.owner);
      this.#sql.exec(
        `INSERT INTO job (singleton, id, type, body_hash, state, total, spec, created_at, updated_at, listed_by, run_at,
           retry, callback, cb_state)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        input.id,
        input.type,
        input.bodyHash,
        runAt !== null && runAt > now ? "scheduled" : "queued",
        plan.total,
        plan.spec,
        now,
        now,
        input.listedBy ?? null,
        runAt,
        input.retryJson ?? null,
        input.callbackJson ?? null,
        input.callbackJson ? "waiting" : null,
      );
      for (const c of plan.chunks) {
        this.#sql.exec(
          "INSERT INTO chunks (idx, start, count, requests, touched_at) VALUES (?, ?, ?, ?, ?)",
          c.index,
          c.start,
          c.count,
          c.requests,
          now,
        );
      }
    });
  }

  /** A delivery ran: count the attempt; a queued job is running from now. */
  countAttempt(chunk: number, now: number): void {
    this.#sql.exec("UPDATE chunks SET attempts = attempts + 1, touched_at = ? WHERE idx = ?", now, chunk);
    this.#sql.exec(
      "UPDATE job SET attempts = attempts + 1, state = CASE state WHEN 'queued' THEN 'running' ELSE state END, updated_at = ?",
      now,
    );
  }

  /** Take back the attempt of a delivery flow control deferred (`countAttempt` counted it); the chunk was active. */
  uncountAttempt(chunk: number, now: number): void {
    this.#sql.exec("UPDATE chunks SET attempts = MAX(0, attempts - 1), touched_at = ? WHERE idx = ?", now, chunk);
    this.#sql.exec("UPDATE job SET attempts = MAX(0, attempts - 1)");
  }

  /** The chunk was active (its handlers reported progress): its last activity is now. */
  touchChunk(chunk: number, now: number): void {
    this.#sql.exec("UPDATE chunks SET touched_at = ? WHERE idx = ?", now, chunk);
  }

  /** Add `inserted` new results (`failed` of them not ok) of `chunk`; the chunk is done once all have one. */
  countResults(chunk: number, inserted: number, failed: number, lastError: string | null, now: number): void {
    this.#sql.exec(
      `UPDATE chunks SET recorded = recorded + ?, error = COALESCE(?, error), touched_at = ?,
         state = CASE WHEN recorded + ? >= count THEN 'done' ELSE state END WHERE idx = ?`,
      inserted,
      lastError,
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
  }

  setError(error: string): void {
    this.#sql.exec("UPDATE job SET error = ?", error);
  }

  touch(now: number): void {
    this.#sql.exec("UPDATE job SET updated_at = ?", now);
  }

  /** Set the job's state and error. */
  end(state: JobState, error: string | null, now: number): void {
    this.#sql.exec("UPDATE job SET state = ?, error = ?, updated_at = ?", state, error, now);
  }

  cancel(now: number): void {
    this.#sql.exec("UPDATE job SET state = 'canceled', updated_at = ? ", now);
  }

  /** A delayed job's time has come: it is queued, and its chunks' stall clock starts now. */
  start(now: number): void {
    this.transaction(() => {
      this.#sql.exec("UPDATE job SET state = 'queued', updated_at = ? WHERE state = 'scheduled'", now);
      this.#sql.exec("UPDATE chunks SET touched_at = ? WHERE state = 'pending'", now);
    });
  }

  // ---- the completion callback

  /** The job ended: its callback is due now (a new round) or skipped. */
  callbackEnded(state: "pending" | "skipped", now: number): void {
    this.#sql.exec(
      `UPDATE job SET cb_state = ?, cb_round = cb_round + 1, cb_attempts = 0, cb_error = NULL, cb_next_at = ?,
         cb_settled_at = NULL`,
      state,
      state === "pending" ? now : null,
    );
  }

  /** After a delivery attempt. */
  callbackAttempted(c: {
    state: string;
    attempts: number;
    error: string | null;
    nextAt: number | null;
    settledAt: number | null;
  }): void {
    this.#sql.exec(
      "UPDATE job SET cb_state = ?, cb_attempts = ?, cb_error = ?, cb_next_at = ?, cb_settled_at = ?",
      c.state,
      c.attempts,
      c.error,
      c.nextAt,
      c.settledAt,
    );
  }

  // ---- the index outbox

  /** The version of the next update sent to the index: one more than the last. */
  nextIndexVersion(): number {
    return this.#sql
      .exec<{ v: number }>("UPDATE job SET idx_version = idx_version + 1 RETURNING idx_version AS v")
      .one().v;
  }

  /** The index holds the row whose signature this is: nothing to retry. */
  indexAcked(signature: string): void {
    this.#sql.exec("UPDATE job SET idx_acked = ?, idx_retry_at = NULL, idx_failures = 0", signature);
  }

  /** An index update failed (`failures` in a row): the alarm tries again at `retryAt`. */
  indexFailed(failures: number, retryAt: number): void {
    this.#sql.exec("UPDATE job SET idx_failures = ?, idx_retry_at = ?", failures, retryAt);
  }

  // ---- chunks

  chunk(idx: number): ChunkRecord | null {
    return this.#sql.exec<Row<ChunkRecord>>(`SELECT ${CHUNK} FROM chunks WHERE idx = ?`, idx).toArray()[0] ?? null;
  }

  /** Pending chunks, in order. */
  pending(): ChunkRecord[] {
    return this.#sql
      .exec<Row<ChunkRecord>>(`SELECT ${CHUNK} FROM chunks WHERE state = 'pending' ORDER BY idx`)
      .toArray();
  }

  /** Pending chunks whose message has not been sent, in order. */
  unsent(): ChunkRecord[] {
    return this.#sql
      .exec<Row<ChunkRecord>>(`SELECT ${CHUNK} FROM chunks WHERE sent = 0 AND state = 'pending' ORDER BY idx`)
      .toArray();
  }

  pendingCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE state = 'pending'").one().n;
  }

  /** Mark every pending chunk not sent yet as sent (touched now), before their messages go out. */
  markSent(now: number): void {
    this.#sql.exec("UPDATE chunks SET sent = 1, touched_at = ? WHERE sent = 0 AND state = 'pending'", now);
  }

  /** A send failed: the chunk is left for the next dispatch. */
  markUnsent(idx: number): void {
    this.#sql.exec("UPDATE chunks SET sent = 0 WHERE idx = ?", idx);
  }

  /** The watchdog sends the chunk again. */
  markResent(idx: number, now: number): void {
    this.#sql.exec("UPDATE chunks SET resends = resends + 1, sent = 1, touched_at = ? WHERE idx = ?", now, idx);
  }

  /** The chunk's message was lost for good: dead, with the reason. */
  markLost(idx: number, error: string): void {
    this.#sql.exec("UPDATE chunks SET state = 'dead', error = ? WHERE idx = ?", error, idx);
  }

  /** The chunk ran out of retries (the dead-letter queue): dead, keeping its last error if it has one. */
  markDead(idx: number, error: string): void {
    this.#sql.exec("UPDATE chunks SET state = 'dead', error = COALESCE(error, ?) WHERE idx = ?", error, idx);
  }

  deadChunkCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE state = 'dead'").one().n;
  }

  /** Requests of dead chunks that have no result, and each dead chunk's error (`errors` only when asked). */
  dead(withErrors = false): DeadChunks {
    const requests =
      this.#sql.exec<{ n: number | null }>("SELECT SUM(count - recorded) AS n FROM chunks WHERE state = 'dead'").one()
        .n ?? 0;
    if (!withErrors) return { requests, errors: [] };
    const errors = this.#sql
      .exec<{ error: string | null }>("SELECT error FROM chunks WHERE state = 'dead' ORDER BY idx")
      .toArray()
      .map((r) => r.error);
    return { requests, errors };
  }

  /** Dead chunks become pending with fresh attempts; the job runs again (and its callback waits for its end). */
  reviveDead(now: number): void {
    this.transaction(() => {
      this.#sql.exec(
        "UPDATE chunks SET state = 'pending', attempts = 0, sent = 0, resends = 0, error = NULL WHERE state = 'dead'",
      );
      this.#sql.exec(
        `UPDATE job SET state = 'running', error = NULL, updated_at = ?,
           cb_state = CASE WHEN callback IS NULL THEN NULL ELSE 'waiting' END, cb_next_at = NULL`,
        now,
      );
    });
  }

  /** Pending chunks and the latest activity of any chunk, for the stall deadline. */
  activity(): { pending: number; last: number | null } {
    return this.#sql
      .exec<{ pending: number; last: number | null }>(
        "SELECT SUM(state = 'pending') AS pending, MAX(touched_at) AS last FROM chunks",
      )
      .one();
  }

  /** Counts for the status: requests of dead chunks, chunks, re-sends. */
  counts(): { dead: number; count: number; resends: number } {
    return {
      dead: this.dead().requests,
      count: this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM chunks").one().n,
      resends: this.#sql.exec<{ n: number | null }>("SELECT SUM(resends) AS n FROM chunks").one().n ?? 0,
    };
  }

  // ---- results

  /** Job-wide indices of `chunk`'s requests that have a result. */
  recorded(chunk: number): Set<number> {
    return new Set(
      this.#sql
        .exec<{ idx: number }>("SELECT idx FROM results WHERE chunk = ?", chunk)
        .toArray()
        .map((r) => r.idx),
    );
  }

  /** Store a result unless its index has one already; true if it was new. */
  insertResult(chunk: number, result: JobResult): boolean {
    const cursor = this.#sql.exec(
      "INSERT OR IGNORE INTO results (idx, chunk, ok, data) VALUES (?, ?, ?, ?)",
      result.index,
      chunk,
      result.ok ? 1 : 0,
      JSON.stringify(result),
    );
    return cursor.rowsWritten > 0;
  }

  /** Results after index `after`, in index order, at most `limit`. */
  resultsAfter(after: number, limit: number): { idx: number; data: string }[] {
    return this.#sql
      .exec<{ idx: number; data: string }>(
        "SELECT idx, data FROM results WHERE idx > ? ORDER BY idx LIMIT ?",
        after,
        limit,
      )
      .toArray();
  }
}
