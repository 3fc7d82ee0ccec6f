/**
 * RateLimiter: exact per-key rate limiting, one Durable Object per key, GCRA state (one number) in SQLite.
 * Every allowed request is written before its answer leaves (output gate), so the limit holds across eviction.
 */
import { DurableObject } from "cloudflare:workers";
import { type GcraLimits, gcra } from "../async/gcra";

export interface RateLimitDecision {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export class RateLimiter extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec("CREATE TABLE IF NOT EXISTS gcra (id INTEGER PRIMARY KEY CHECK (id = 1), tat REAL NOT NULL)");
  }

  /** Take `cost` units if the limit allows it now. */
  async limit(limits: GcraLimits): Promise<RateLimitDecision> {
    const row = this.#sql.exec<{ tat: number }>("SELECT tat FROM gcra WHERE id = 1").toArray()[0];
    const { tat, ...decision } = gcra(row?.tat ?? 0, Date.now(), limits);
    if (decision.allowed) this.#sql.exec("INSERT OR REPLACE INTO gcra (id, tat) VALUES (1, ?)", tat);
    return decision;
  }
}
