/**
 * A Schedule object's storage: the schedule (its definition, pause, next fire time, where it stands with its
 * owner's index) and its runs by fire time, in SQLite. Reads and writes only; the object and schedule-state.ts decide.
 */
import type { MissedPolicy, OverlapPolicy } from "./schedule-state";

/**
 * Where the schedule stands with its owner's ScheduleIndex: "added" is a live schedule; "adding" (a create that did
 * not finish) and "removing" (a delete) are on their way out: the object's alarm takes the name out of the index,
 * then deletes its storage.
 */
export type IndexState = "adding" | "added" | "removing";

export interface ScheduleRecord {
  name: string;
  owner: string;
  cron: string;
  timezone: string;
  /** The job body (JSON) each run creates. */
  job: string;
  missed: MissedPolicy;
  overlap: OverlapPolicy;
  /** The definition as canonical JSON: a create with the same one is a replay. */
  definition: string;
  paused: number;
  createdAt: number;
  updatedAt: number;
  /** The fire time the alarm is for (null while paused, or when the expression has no more). */
  nextAt: number | null;
  indexState: IndexState;
  /** When the alarm tries the index again (a schedule on its way out). */
  retryAt: number | null;
}

export type RunState = "creating" | "created" | "skipped" | "missed" | "failed";

export interface RunRecord {
  fireAt: number;
  state: RunState;
  jobId: string | null;
  jobState: string | null;
  reason: string | null;
  until: number | null;
  count: number | null;
  error: string | null;
}

const SCHEDULE = `name, owner, cron, timezone, job, missed, overlap, definition, paused, created_at AS createdAt,
  updated_at AS updatedAt, next_at AS nextAt, index_state AS indexState, retry_at AS retryAt`;
const RUN = "fire_at AS fireAt, state, job_id AS jobId, job_state AS jobState, reason, until, count, error";

type Row<T> = T & Record<string, SqlStorageValue>;

/**
 * The tables are created by the first `insert`, not by the constructor: a call for a name that has no schedule (a
 * GET, a pause) reads and writes nothing, so it leaves no object behind.
 */
export class ScheduleStore {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;
  #ready: boolean;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#ready = this.#sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'schedule'").toArray().length > 0;
  }

  #createSchema(): void {
    // Schema v1.
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS schedule (
      singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
      name TEXT NOT NULL, owner TEXT NOT NULL, cron TEXT NOT NULL, timezone TEXT NOT NULL, job TEXT NOT NULL,
      missed TEXT NOT NULL, overlap TEXT NOT NULL, definition TEXT NOT NULL, paused INTEGER NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_at INTEGER,
      index_state TEXT NOT NULL, retry_at INTEGER)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS runs (
      fire_at INTEGER PRIMARY KEY, state TEXT NOT NULL, job_id TEXT, job_state TEXT, reason TEXT,
      until INTEGER, count INTEGER, error TEXT)`);
    this.#ready = true;
  }

  /** Delete everything (the alarm too): the object holds nothing until the next `insert`. */
  async deleteAll(): Promise<void> {
    await this.#storage.deleteAlarm();
    await this.#storage.deleteAll();
    this.#ready = false;
  }

  /** Run `fn`'s writes as one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn);
  }

  schedule(): ScheduleRecord | null {
    if (!this.#ready) return null;
    return this.#sql.exec<Row<ScheduleRecord>>(`SELECT ${SCHEDULE} FROM schedule`).toArray()[0] ?? null;
  }

  insert(s: Omit<ScheduleRecord, "retryAt">): void {
    this.#createSchema();
    this.#sql.exec(
      `INSERT INTO schedule (singleton, name, owner, cron, timezone, job, missed, overlap, definition, paused,
         created_at, updated_at, next_at, index_state)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      s.name,
      s.owner,
      s.cron,
      s.timezone,
      s.job,
      s.missed,
      s.overlap,
      s.definition,
      s.paused,
      s.createdAt,
      s.updatedAt,
      s.nextAt,
      s.indexState,
    );
  }

  update(fields: Partial<Pick<ScheduleRecord, "paused" | "updatedAt" | "nextAt" | "indexState" | "retryAt">>): void {
    const columns: Record<string, string> = {
      paused: "paused",
      updatedAt: "updated_at",
      nextAt: "next_at",
      indexState: "index_state",
      retryAt: "retry_at",
    };
    const entries = Object.entries(fields);
    if (entries.length === 0) return;
    this.#sql.exec(
      `UPDATE schedule SET ${entries.map(([k]) => `${columns[k]} = ?`).join(", ")}`,
      ...entries.map(([, v]) => v ?? null),
    );
  }

  /** The newest `limit` runs, newest first. */
  runs(limit: number): RunRecord[] {
    if (!this.#ready) return [];
    return this.#sql.exec<Row<RunRecord>>(`SELECT ${RUN} FROM runs ORDER BY fire_at DESC LIMIT ?`, limit).toArray();
  }

  /** Runs whose job creation did not finish (an alarm that stopped half-way): done again first. */
  creating(): RunRecord[] {
    if (!this.#ready) return [];
    return this.#sql
      .exec<Row<RunRecord>>(`SELECT ${RUN} FROM runs WHERE state = 'creating' ORDER BY fire_at`)
      .toArray();
  }

  /** The latest run before fire time `before` that created a job. */
  lastCreated(before: number): RunRecord | null {
    if (!this.#ready) return null;
    return (
      this.#sql
        .exec<Row<RunRecord>>(
          `SELECT ${RUN} FROM runs WHERE state = 'created' AND fire_at < ? ORDER BY fire_at DESC LIMIT 1`,
          before,
        )
        .toArray()[0] ?? null
    );
  }

  /** Record a run (a fire time already recorded is replaced: the same fire time done again). */
  putRun(r: RunRecord): void {
    this.#sql.exec(
      `INSERT OR REPLACE INTO runs (fire_at, state, job_id, job_state, reason, until, count, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      r.fireAt,
      r.state,
      r.jobId,
      r.jobState,
      r.reason,
      r.until,
      r.count,
      r.error,
    );
  }

  setJobState(fireAt: number, jobState: string): void {
    this.#sql.exec("UPDATE runs SET job_state = ? WHERE fire_at = ?", jobState, fireAt);
  }

  /** Keep the newest `keep` runs (and any still being created). */
  trim(keep: number): void {
    this.#sql.exec(
      `DELETE FROM runs WHERE state != 'creating' AND fire_at NOT IN
         (SELECT fire_at FROM runs ORDER BY fire_at DESC LIMIT ?)`,
      keep,
    );
  }
}
