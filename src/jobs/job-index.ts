/**
 * JobIndex: one Durable Object per owner (the route's `ownerOf`), the list GET /v1/jobs reads: a row per job (its
 * type, state, size, when it was created, starts, ended and is deleted), newest first, by state. The Job objects keep
 * it: each sends its row when its state changes (`upsert`, applied only when newer than the row held) and takes it
 * out when its retention deletes the job (`remove`); a Job whose update failed sends it again from its alarm until
 * the index has it (job.ts). Bounded: the newest JOBS_LIST_MAX rows are kept (older rows leave the list, not their
 * jobs), and a row leaves at its `expiresAt` by the index's own alarm even if its Job's removal never arrives.
 */
import { DurableObject } from "cloudflare:workers";
import { settings } from "../settings";
import type { JobIndexEntry, JobIndexPage, JobState } from "./types";

const COLUMNS = `id, type, state, total, created_at AS createdAt, run_at AS runAt, ended_at AS endedAt,
  expires_at AS expiresAt, version`;

type Row = JobIndexEntry & Record<string, SqlStorageValue>;

export class JobIndex extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY, type TEXT NOT NULL, state TEXT NOT NULL, total INTEGER NOT NULL,
      created_at INTEGER NOT NULL, run_at INTEGER, ended_at INTEGER, expires_at INTEGER, version INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_at, id);
      CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at, id);
      CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at);
      CREATE TABLE IF NOT EXISTS meta (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), count INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (singleton, count) VALUES (1, 0)`);
  }

  /**
   * Hold this row for its job, unless the row held is newer (a higher version of the same job). A new row beyond
   * JOBS_LIST_MAX drops the oldest rows.
   */
  async upsert(entry: JobIndexEntry): Promise<void> {
    const held = this.#sql
      .exec<{ version: number; createdAt: number }>(
        "SELECT version, created_at AS createdAt FROM jobs WHERE id = ?",
        entry.id,
      )
      .toArray()[0];
    if (held && held.createdAt === entry.createdAt && held.version >= entry.version) return;
    this.#sql.exec(
      `INSERT OR REPLACE INTO jobs (id, type, state, total, created_at, run_at, ended_at, expires_at, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.id,
      entry.type,
      entry.state,
      entry.total,
      entry.createdAt,
      entry.runAt,
      entry.endedAt,
      entry.expiresAt,
      entry.version,
    );
    if (!held) {
      const max = settings(this.env).JOBS_LIST_MAX;
      const count = this.#count() + 1;
      if (count > max) {
        this.#sql.exec(
          "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs ORDER BY created_at, id LIMIT ?)",
          count - max,
        );
      }
      this.#setCount(Math.min(count, max));
    }
    if (entry.expiresAt !== null) {
      const alarm = await this.ctx.storage.getAlarm();
      if (alarm === null || entry.expiresAt < alarm) await this.ctx.storage.setAlarm(entry.expiresAt);
    }
  }

  /** The job was deleted after its retention: its row goes. */
  remove(id: string): void {
    const gone = this.#sql.exec<{ id: string }>("DELETE FROM jobs WHERE id = ? RETURNING id", id).toArray();
    if (gone.length > 0) this.#setCount(this.#count() - gone.length);
  }

  /**
   * Up to `limit` rows, newest first (by creation, then id), in `state` if given, after `after` (the last row of the
   * page before); `next` is set when more follow.
   */
  list(state: JobState | null, after: { createdAt: number; id: string } | null, limit: number): JobIndexPage {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (state !== null) {
      where.push("state = ?");
      args.push(state);
    }
    if (after !== null) {
      where.push("(created_at < ? OR (created_at = ? AND id < ?))");
      args.push(after.createdAt, after.createdAt, after.id);
    }
    const rows = this.#sql
      .exec<Row>(
        `SELECT ${COLUMNS} FROM jobs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY created_at DESC, id DESC LIMIT ?`,
        ...args,
        limit + 1,
      )
      .toArray();
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
  }

  /** Rows past their job's retention leave (their Job's removal may have been lost); an empty index clears itself. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const gone = this.#sql
      .exec<{ id: string }>("DELETE FROM jobs WHERE expires_at <= ? RETURNING id", now)
      .toArray().length;
    const count = this.#count() - gone;
    if (count <= 0) {
      await this.ctx.storage.deleteAll();
      this.#createSchema();
      return;
    }
    this.#setCount(count);
    const next = this.#sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM jobs").one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  #count(): number {
    return this.#sql.exec<{ count: number }>("SELECT count FROM meta WHERE singleton = 1").one().count;
  }

  #setCount(count: number): void {
    this.#sql.exec("UPDATE meta SET count = ? WHERE singleton = 1", Math.max(0, count));
  }
}
