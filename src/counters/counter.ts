/**
 * Counter: an atomic integer, one Durable Object per counter name, in SQLite.
 *
 * Increments may be bounded (quotas, inventory), sets may be compare-and-set, and both may carry a fencing token
 * `{lock, token}` from a Lock: the counter keeps the highest token it has seen per lock and refuses a lower one, so a
 * client whose lease ran out while it paused cannot overwrite the work of the next holder (Kleppmann's fix for lease
 * locks). Results never leave the safe-integer range.
 *
 * Group commit and shards (docs/counters.md): `incrementBatch` applies many increments in one call and one
 * transaction, each with its own answer (src/counters/ batches them in the isolate). A counter may be spread over
 * N objects: this one, the home, keeps the shard count (set once, before the first write) and refuses what needs one
 * place of truth (bounds, compare-and-set, fences) once sharded; the others, named `<name>#<i>`, only add.
 */
import { DurableObject } from "cloudflare:workers";
import { applyIncrements, type IncrementMember, type Sharded, sharded } from "./counter-state";

export type { IncrementMember, Sharded } from "./counter-state";

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
  | { ok: false; reason: "out-of-bounds" | "mismatch" | "unsafe"; detail: string; value: number }
  | Sharded;

/** A batch's answers in order, or, from the home, the shard count when the caller's was wrong (nothing applied). */
export type BatchAnswer = { ok: true; results: CounterResult[] } | { ok: false; shards: number };

/** One object's value as read, with the counter's shard count (the home's; 1 elsewhere). */
export interface Snapshot extends CounterValue {
  shards: number;
}

export type ShardsAnswer =
  | { ok: true; shards: number }
  | { ok: false; reason: "shards-set"; detail: string; shards: number }
  | { ok: false; reason: "written"; detail: string; value: number };

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
  /** The shard count stored in this object as a home, if one was set. */
  #set: number | undefined;
  #calls = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS counter (
      id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    this.#sql.exec("CREATE TABLE IF NOT EXISTS fence (lock TEXT PRIMARY KEY, token INTEGER NOT NULL)");
    this.#sql.exec("CREATE TABLE IF NOT EXISTS shards (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL)");
    this.#set = this.#sql.exec<{ count: number }>("SELECT count FROM shards WHERE id = 1").toArray()[0]?.count;
  }

  /** The counter's shard count as its home knows it (1 when none was set, and in every other shard). */
  get #shards(): number {
    return this.#set ?? 1;
  }

  /**
   * Increment calls (`incrementBatch`, `increment`) this instance has served since it started: tests read it with
   * runInDurableObject, the bench by RPC.
   */
  get incrementCalls(): number {
    return this.#calls;
  }

  /** The value; with a fence, a fenced read that also registers the token (and refuses a stale one). */
  async get(fence?: Fence): Promise<CounterResult> {
    if (fence && this.#shards > 1) return sharded(this.#shards);
    const stale = this.#checkFence(fence);
    if (stale) return stale;
    return { ok: true, ...this.#read() };
  }

  /** This object's value and the counter's shard count: a sharded read sums the snapshots of every shard. */
  async snapshot(): Promise<Snapshot> {
    return { ...this.#read(), shards: this.#shards };
  }

  /**
   * Set the shard count, once: the same count again is accepted; another one, or any count once a value is stored
   * (written and not reset), is refused.
   */
  async configureShards(shards: number): Promise<ShardsAnswer> {
    const set = this.#set;
    if (set !== undefined) {
      if (set === shards) return { ok: true, shards };
      return { ok: false, reason: "shards-set", detail: `it has ${set} shards, set once`, shards: set };
    }
    const { value, updatedAt } = this.#read();
    if (updatedAt !== null) {
      return {
        ok: false,
        reason: "written",
        detail: `it was written (value ${value})`,
        value,
      };
    }
    this.#sql.exec("INSERT INTO shards (id, count) VALUES (1, ?)", shards);
    this.#set = shards;
    return { ok: true, shards };
  }

  /**
   * Apply `members` in order in one transaction, each with the rules of a lone increment and its own answer
   * (`applyIncrements`). `shards`, sent to the home only, is the count the caller believes in: when it is not this
   * home's, nothing is applied and the answer says the right one.
   */
  async incrementBatch(members: IncrementMember[], shards?: number): Promise<BatchAnswer> {
    this.#calls++;
    if (shards !== undefined && shards !== this.#shards) return { ok: false, shards: this.#shards };
    return { ok: true, results: this.#apply(members) };
  }

  async increment(req: IncrementRequest): Promise<CounterResult> {
    this.#calls++;
    if (this.#shards > 1 && (req.fence || req.min !== undefined || req.max !== undefined)) {
      return sharded(this.#shards);
    }
    const stale = this.#checkFence(req.fence);
    if (stale) return stale;
    return this.#apply([req])[0] as CounterResult;
  }

  /** Increments applied in order in one transaction (`applyIncrements`), one read and at most one write. */
  #apply(members: readonly IncrementMember[]): CounterResult[] {
    return this.ctx.storage.transactionSync(() => {
      const current = this.#read();
      const { value, outcomes } = applyIncrements(current.value, members);
      const written = outcomes.some((o) => o.ok) ? this.#write(value) : current;
      return outcomes.map((o): CounterResult => (o.ok ? { ...o, updatedAt: written.updatedAt } : o));
    });
  }

  /** Set the value; with `ifValue`, only if the current value is that (compare-and-set). */
  async set(req: SetRequest): Promise<CounterResult> {
    if (this.#shards > 1) return sharded(this.#shards);
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

  /**
   * Back to 0. The fencing tokens seen are kept (a stale holder stays stale after a reset), and so is the shard count:
   * the caller resets the other shards.
   */
  async reset(): Promise<Snapshot> {
    this.#sql.exec("DELETE FROM counter");
    return { value: 0, updatedAt: null, shards: this.#shards };
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
