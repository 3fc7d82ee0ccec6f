/**
 * Counter: an atomic integer, one Durable Object per counter name, in SQLite.
 *
 * Increments may be bounded (quotas, inventory), sets may be compare-and-set, and both may carry a fencing token
 * `{lock, token}` from a Lock: the counter keeps the highest token it has seen per lock and refuses a lower one, so a
 * client whose lease ran out while it paused cannot overwrite the work of the next holder (Kleppmann's fix for lease
 * locks). Results never leave the safe-integer range.
 */
import { DurableObject } from "cloudflare:workers";
import { nextValue } from "./counter-state";

export interface Fence {
  lock: string;
  token: number;
}

export interface CounterValue {
  value: number;
  updatedAt: number | null;
}

export type CounterResult =
  | ({ ok: true } & CounterValue)
  | { ok: false; reason: "stale-fence"; detail: string; highestToken: number }
  | { ok: false; reason: "out-of-bounds" | "mismatch" | "unsafe"; detail: string; value: number };

export interface IncrementRequest {
  by: number;
  min?: number;
  max?: number;
  fence?: Fence;
}

export interface SetRequest {
  value: number;
  ifValue?: number;
  fence?: Fence;
}

export class Counter extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS counter (
      id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    this.#sql.exec("CREATE TABLE IF NOT EXISTS fence (lock TEXT PRIMARY KEY, token INTEGER NOT NULL)");
  }

  /** The value; with a fence, a fenced read that also registers the token (and refuses a stale one). */
  async get(fence?: Fence): Promise<CounterResult> {
    const stale = this.#checkFence(fence);
    if (stale) return stale;
    return { ok: true, ...this.#read() };
  }

  async increment(req: IncrementRequest): Promise<CounterResult> {
    const stale = this.#checkFence(req.fence);
    if (stale) return stale;
    // One statement when the counter exists and the sum stays within the bounds (and the safe range); otherwise read,
    // decide and write as below, which also says why a refused increment was refused.
    const updatedAt = Date.now();
    const added = this.#sql
      .exec<{ value: number }>(
        "UPDATE counter SET value = value + ?1, updated_at = ?2 WHERE id = 1 AND value + ?1 BETWEEN ?3 AND ?4 RETURNING value",
        req.by,
        updatedAt,
        Math.max(req.min ?? -Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
        Math.min(req.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      )
      .toArray()[0];
    if (added) return { ok: true, value: added.value, updatedAt };
    const current = this.#read();
    const next = nextValue(current.value, req);
    if (!next.ok) return { ...next, value: current.value };
    return { ok: true, ...this.#write(next.value) };
  }

  /** Set the value; with `ifValue`, only if the current value is that (compare-and-set). */
  async set(req: SetRequest): Promise<CounterResult> {
    const stale = this.#checkFence(req.fence);
    if (stale) return stale;
    const current = this.#read();
    if (req.ifValue !== undefined && current.value !== req.ifValue) {
      return {
        ok: false,
        reason: "mismatch",
        detail: `the value is ${current.value}, not ${req.ifValue}`,
        value: current.value,
      };
    }
    return { ok: true, ...this.#write(req.value) };
  }

  /** Back to 0. The fencing tokens seen are kept: a stale holder stays stale after a reset. */
  async reset(): Promise<CounterValue> {
    this.#sql.exec("DELETE FROM counter");
    return { value: 0, updatedAt: null };
  }

  #read(): CounterValue {
    const row = this.#sql
      .exec<{ value: number; updated_at: number }>("SELECT value, updated_at FROM counter WHERE id = 1")
      .toArray()[0];
    return row ? { value: row.value, updatedAt: row.updated_at } : { value: 0, updatedAt: null };
  }

  #write(value: number): CounterValue {
    const updatedAt = Date.now();
    this.#sql.exec("INSERT OR REPLACE INTO counter (id, value, updated_at) VALUES (1, ?, ?)", value, updatedAt);
    return { value, updatedAt };
  }

  /** Refuse a token lower than the highest seen for its lock; otherwise remember it. */
  #checkFence(fence: Fence | undefined): CounterResult | null {
    if (!fence) return null;
    const row = this.#sql.exec<{ token: number }>("SELECT token FROM fence WHERE lock = ?", fence.lock).toArray()[0];
    if (row && row.token > fence.token) {
      return {
        ok: false,
        reason: "stale-fence",
        detail: `fencing token ${fence.token} of lock ${fence.lock} is stale: token ${row.token} has been seen`,
        highestToken: row.token,
      };
    }
    if (!row || row.token < fence.token) {
      this.#sql.exec("INSERT OR REPLACE INTO fence (lock, token) VALUES (?, ?)", fence.lock, fence.token);
    }
    return null;
  }
}
