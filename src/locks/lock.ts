/**
 * Lock: a leased lock with fencing tokens and FIFO long-poll waiters, one Durable Object per lock name.
 *
 * The record (holder, lease end, last token) lives in SQLite and is written on every grant, renew and release, so it
 * survives eviction and restarts. Waiters are parked promises (the callers' open requests), kept in memory: an
 * evicted object has no open requests left to answer. When the lock frees (release, expiry alarm, cancelled grant)
 * the oldest waiter gets it in the same event. Expiry alarms are at-least-once: the handler only acts on a lease
 * whose time is really up, so a repeated alarm changes nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { WaitQueue } from "../async";
import { EarliestAlarm } from "../async/earliest-alarm";
import { settings } from "../settings";
import { emptyLock, expire, grant, isFree, type LockRecord, release, renew } from "./lock-state";

export interface AcquireRequest {
  owner: string;
  ttlMs: number;
  waitMs: number;
  /** Identifies this call, so `cancel(waiterId)` can withdraw it (or hand back its grant) if the client leaves. */
  waiterId: string;
  /** Most callers in line (LEASE_MAX_WAITERS of the caller's settings; the object's own by default). */
  maxWaiters?: number;
}

export type AcquireResult =
  | { ok: true; token: number; owner: string; grantedAt: number; expiresAt: number }
  | { ok: false; reason: "held" | "queue-full" | "cancelled"; waiters: number };

export type LeaseResult = { ok: true; expiresAt: number } | { ok: false; detail: string };
export type ReleaseResult = { ok: true; released: boolean; releasedAt: number } | { ok: false; detail: string };

export interface LockStatus {
  holder: string | null;
  token: number | null;
  expiresAt: number | null;
  waiters: number;
  lastToken: number;
}

interface Row extends Record<string, SqlStorageValue> {
  owner: string | null;
  token: number | null;
  granted_at: number | null;
  expires_at: number | null;
  waiter_id: string | null;
  last_token: number;
  released_owner: string | null;
  released_token: number | null;
}

export class Lock extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #waiters = new WaitQueue<{ owner: string; ttlMs: number }, AcquireResult>();
  /** The expiry alarm: a freed lock keeps its alarm, which finds nothing to do. */
  readonly #alarm = new EarliestAlarm(this.ctx.storage);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS lock (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      owner TEXT, token INTEGER, granted_at INTEGER, expires_at INTEGER, waiter_id TEXT,
      last_token INTEGER NOT NULL, released_owner TEXT, released_token INTEGER)`);
  }

  /** Take the lock now, or wait in line up to `waitMs` for it. */
  async acquire(req: AcquireRequest): Promise<AcquireResult> {
    const now = Date.now();
    let lock = await this.#settle(now);
    if (isFree(lock, now) && this.#waiters.size === 0) {
      lock = grant(lock, req.owner, req.ttlMs, now, req.waiterId);
      await this.#save(lock);
      return granted(lock);
    }
    if (req.waitMs <= 0) return { ok: false, reason: "held", waiters: this.#waiters.size };
    if (this.#waiters.size >= (req.maxWaiters ?? settings(this.env).LEASE_MAX_WAITERS)) {
      return { ok: false, reason: "queue-full", waiters: this.#waiters.size };
    }
    return this.#waiters.wait(req.waiterId, { owner: req.owner, ttlMs: req.ttlMs }, req.waitMs, () => ({
      ok: false,
      reason: "held",
      waiters: this.#waiters.size,
    }));
  }

  /** Extend the lease of `token` by `ttlMs` from now. */
  async renew(owner: string, token: number, ttlMs: number): Promise<LeaseResult> {
    const now = Date.now();
    const outcome = renew(await this.#settle(now), owner, token, ttlMs, now);
    if (outcome.kind !== "ok") return { ok: false, detail: outcome.kind === "conflict" ? outcome.detail : "released" };
    await this.#save(outcome.lock);
    return { ok: true, expiresAt: outcome.lock.holder?.expiresAt as number };
  }

  /** Free the lock held with `token`, handing it to the oldest waiter. */
  async release(owner: string, token: number): Promise<ReleaseResult> {
    const now = Date.now();
    const outcome = release(await this.#settle(now), owner, token, now);
    if (outcome.kind === "conflict") return { ok: false, detail: outcome.detail };
    if (outcome.kind === "already-released") return { ok: true, released: false, releasedAt: now };
    await this.#handOver(outcome.lock, now);
    return { ok: true, released: true, releasedAt: now };
  }

  /**
   * The caller of acquire `waiterId` went away: take it out of the line, or, if it was granted meanwhile, free the
   * lock it never learned it had. True if anything changed.
   */
  async cancel(waiterId: string): Promise<boolean> {
    if (this.#waiters.cancel(waiterId, { ok: false, reason: "cancelled", waiters: this.#waiters.size })) return true;
    const now = Date.now();
    const lock = await this.#settle(now);
    if (lock.holder?.waiterId !== waiterId || isFree(lock, now)) return false;
    await this.#handOver({ ...lock, holder: null }, now);
    return true;
  }

  async status(): Promise<LockStatus> {
    const now = Date.now();
    const lock = await this.#settle(now);
    const live = isFree(lock, now) ? null : lock.holder;
    return {
      holder: live?.owner ?? null,
      token: live?.token ?? null,
      expiresAt: live?.expiresAt ?? null,
      waiters: this.#waiters.size,
      lastToken: lock.lastToken,
    };
  }

  /** Expiry: at-least-once, so it only acts on a lease whose time is really up, then re-arms for the next one. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const lock = await this.#settle(Date.now());
    // The alarm may have been set for an earlier lease: re-arm for the current one.
    if (lock.holder) await this.#alarm.armBy(lock.holder.expiresAt);
  }

  /** Load the record, and if the lease ran out, hand the lock to the next waiter (saving the change). */
  async #settle(now: number): Promise<LockRecord> {
    const lock = this.#load();
    const current = expire(lock, now);
    if (current === lock) return lock;
    return this.#handOver(current, now);
  }

  /** Save a freed lock, granting it first to the oldest waiter if there is one. */
  async #handOver(freed: LockRecord, now: number): Promise<LockRecord> {
    const next = this.#waiters.shift();
    const lock = next ? grant(freed, next.data.owner, next.data.ttlMs, now, next.id) : freed;
    await this.#save(lock);
    // The waiter's reply leaves only once the write above is durable (output gate).
    next?.settle(granted(lock));
    return lock;
  }

  #load(): LockRecord {
    const row = this.#sql.exec<Row>("SELECT * FROM lock WHERE id = 1").toArray()[0];
    if (!row) return emptyLock();
    return {
      holder:
        row.owner !== null && row.token !== null
          ? {
              owner: row.owner,
              token: row.token,
              grantedAt: row.granted_at as number,
              expiresAt: row.expires_at as number,
              waiterId: row.waiter_id,
            }
          : null,
      lastToken: row.last_token,
      lastReleased:
        row.released_owner !== null && row.released_token !== null
          ? { owner: row.released_owner, token: row.released_token }
          : null,
    };
  }

  async #save(lock: LockRecord): Promise<void> {
    const h = lock.holder;
    this.#sql.exec(
      `INSERT OR REPLACE INTO lock (id, owner, token, granted_at, expires_at, waiter_id, last_token, released_owner,
        released_token) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
      h?.owner ?? null,
      h?.token ?? null,
      h?.grantedAt ?? null,
      h?.expiresAt ?? null,
      h?.waiterId ?? null,
      lock.lastToken,
      lock.lastReleased?.owner ?? null,
      lock.lastReleased?.token ?? null,
    );
    if (h) await this.#alarm.armBy(h.expiresAt);
  }
}

function granted(lock: LockRecord): AcquireResult {
  const h = lock.holder;
  if (!h) throw new Error("granted() on a free lock");
  return { ok: true, token: h.token, owner: h.owner, grantedAt: h.grantedAt, expiresAt: h.expiresAt };
}
