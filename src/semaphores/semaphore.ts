/**
 * Semaphore: weighted permits under a limit, leased (a crashed holder's permits come back when its lease expires by
 * alarm), with FIFO long-poll waiters, one Durable Object per semaphore name.
 *
 * Strict FIFO: a waiter that does not fit yet blocks the ones behind it, so large requests are not starved by small
 * ones. The limit belongs to the semaphore: a call with another limit is refused while permits are out or callers
 * wait, and takes effect once the semaphore is idle.
 *
 * Retention: an idle semaphore (no lease, nobody waiting) keeps its limit and the leases released in the last hour
 * (so a retried release is harmless), then its alarm deletes its storage: a name never used again leaves nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { WaitQueue } from "../async";
import { EarliestAlarm } from "../async/earliest-alarm";
import { log } from "../http/log";
import { settings } from "../settings";
import {
  admit,
  conflictingLimit,
  fits,
  inUse,
  type LeaseRequest,
  live,
  newLease,
  nextExpiry,
  notHeld,
  type SemaphoreLease,
} from "./semaphore-state";

export interface SemaphoreAcquireRequest {
  holder: string;
  permits: number;
  limit: number;
  ttlMs: number;
  waitMs: number;
  waiterId: string;
  /** Most callers in line (LEASE_MAX_WAITERS of the caller's settings; the object's own by default). */
  maxWaiters?: number;
}

export type SemaphoreAcquireResult =
  | { ok: true; leaseId: string; holder: string; permits: number; grantedAt: number; expiresAt: number }
  | { ok: false; reason: "full" | "queue-full" | "cancelled"; inUse: number; waiters: number }
  | { ok: false; reason: "limit-mismatch"; limit: number; inUse: number; waiters: number };

export type SemaphoreRenewResult = { ok: true; expiresAt: number } | { ok: false; detail: string };
export type SemaphoreReleaseResult =
  | { ok: true; released: boolean; releasedAt: number }
  | { ok: false; detail: string };

/** How long a released lease is remembered, so that releasing it again is harmless rather than a conflict. */
const RELEASED_MEMORY_MS = 60 * 60 * 1000;

export interface SemaphoreStatus {
  inUse: number;
  limit: number | null;
  leases: number;
  waiters: number;
}

interface LeaseRow extends Record<string, SqlStorageValue> {
  lease_id: string;
  holder: string;
  permits: number;
  granted_at: number;
  expires_at: number;
  waiter_id: string | null;
}

export class Semaphore extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** A waiter that gives up may have been blocking smaller ones behind it (strict FIFO): hand over again. */
  readonly #waiters = new WaitQueue<LeaseRequest, SemaphoreAcquireResult>({
    afterTimeout: () => {
      this.#handOver(Date.now()).catch((err: unknown) =>
        log("error", "semaphore hand-over after a waiter timed out failed", { error: String(err) }),
      );
    },
  });
  /** The expiry alarm: one left over after the last release finds nothing to do. */
  readonly #alarm = new EarliestAlarm(this.ctx.storage);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS lease (
      lease_id TEXT PRIMARY KEY, holder TEXT NOT NULL, permits INTEGER NOT NULL,
      granted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, waiter_id TEXT)`);
    this.#sql.exec("CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), lim INTEGER NOT NULL)");
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS released (
      lease_id TEXT PRIMARY KEY, holder TEXT NOT NULL, released_at INTEGER NOT NULL)`);
  }

  async acquire(req: SemaphoreAcquireRequest): Promise<SemaphoreAcquireResult> {
    const now = Date.now();
    const leases = await this.#settle(now);
    const limit = this.#limit();
    const waiters = this.#waiters.size;
    const other = conflictingLimit(limit, req.limit, leases.length > 0 || waiters > 0);
    if (other !== null)
      return { ok: false, reason: "limit-mismatch", limit: other, inUse: inUse(leases, now), waiters };
    if (limit !== req.limit) this.#sql.exec("INSERT OR REPLACE INTO meta (id, lim) VALUES (1, ?)", req.limit);
    const admission = admit(leases, req, waiters, req.maxWaiters ?? settings(this.env).LEASE_MAX_WAITERS, now);
    if (admission === "grant") {
      const lease = this.#grant(req, now, req.waiterId);
      await this.#arm();
      return granted(lease);
    }
    if (admission !== "wait") return { ok: false, reason: admission, inUse: inUse(leases, now), waiters };
    const waiting: LeaseRequest = { holder: req.holder, permits: req.permits, ttlMs: req.ttlMs };
    return this.#waiters.wait(req.waiterId, waiting, req.waitMs, () => ({
      ok: false,
      reason: "full",
      inUse: inUse(this.#leases(), Date.now()),
      waiters: this.#waiters.size,
    }));
  }

  async renew(leaseId: string, holder: string, ttlMs: number): Promise<SemaphoreRenewResult> {
    const now = Date.now();
    const lease = (await this.#settle(now)).find((l) => l.leaseId === leaseId);
    if (!lease || lease.holder !== holder) return { ok: false, detail: notHeld(leaseId, lease) };
    const expiresAt = now + ttlMs;
    this.#sql.exec("UPDATE lease SET expires_at = ? WHERE lease_id = ?", expiresAt, leaseId);
    await this.#arm();
    return { ok: true, expiresAt };
  }

  async release(leaseId: string, holder: string): Promise<SemaphoreReleaseResult> {
    const now = Date.now();
    const lease = (await this.#settle(now)).find((l) => l.leaseId === leaseId);
    if (!lease) {
      // Releasing a lease twice (a retried request) is harmless, as for locks; anyone else's is a conflict.
      const before = this.#sql
        .exec<{ holder: string; released_at: number }>(
          "SELECT holder, released_at FROM released WHERE lease_id = ?",
          leaseId,
        )
        .toArray()[0];
      if (before?.holder === holder) return { ok: true, released: false, releasedAt: before.released_at };
      return { ok: false, detail: notHeld(leaseId, lease) };
    }
    if (lease.holder !== holder) return { ok: false, detail: notHeld(leaseId, lease) };
    this.#sql.exec("DELETE FROM lease WHERE lease_id = ?", leaseId);
    this.#sql.exec("DELETE FROM released WHERE released_at < ?", now - RELEASED_MEMORY_MS);
    this.#sql.exec(
      "INSERT OR REPLACE INTO released (lease_id, holder, released_at) VALUES (?, ?, ?)",
      leaseId,
      holder,
      now,
    );
    await this.#handOver(now);
    return { ok: true, released: true, releasedAt: now };
  }

  /** The caller of acquire `waiterId` went away: withdraw it, or free the permits it was granted meanwhile. */
  async cancel(waiterId: string): Promise<boolean> {
    const leases = this.#leases();
    const cancelled: SemaphoreAcquireResult = {
      ok: false,
      reason: "cancelled",
      inUse: inUse(leases, Date.now()),
      waiters: this.#waiters.size,
    };
    if (this.#waiters.cancel(waiterId, cancelled)) {
      // The withdrawn waiter may have been blocking smaller ones behind it.
      await this.#handOver(Date.now());
      return true;
    }
    const lease = leases.find((l) => l.waiterId === waiterId);
    if (!lease) return false;
    this.#sql.exec("DELETE FROM lease WHERE lease_id = ?", lease.leaseId);
    await this.#handOver(Date.now());
    return true;
  }

  async status(): Promise<SemaphoreStatus> {
    const now = Date.now();
    const leases = await this.#settle(now);
    return { inUse: inUse(leases, now), limit: this.#limit(), leases: leases.length, waiters: this.#waiters.size };
  }

  /** Lease expiry; and once idle and past the released leases' hour, the deletion of the object's storage. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const now = Date.now();
    const leases = await this.#settle(now);
    if (leases.length === 0 && this.#waiters.size === 0 && this.#idleUntil() <= now) {
      await this.ctx.storage.deleteAll();
      await this.ctx.storage.deleteAlarm();
      this.#createSchema();
      return;
    }
    await this.#arm();
  }

  /** Drop expired leases and let waiters in; the live leases. */
  async #settle(now: number): Promise<SemaphoreLease[]> {
    const leases = this.#leases();
    const current = live(leases, now);
    if (current.length === leases.length) return leases;
    this.#sql.exec("DELETE FROM lease WHERE expires_at <= ?", now);
    return this.#handOver(now);
  }

  /** Grant waiters in FIFO order while the oldest one fits; re-arm the expiry alarm. */
  async #handOver(now: number): Promise<SemaphoreLease[]> {
    const limit = this.#limit() ?? 0;
    const grants: Array<[(value: SemaphoreAcquireResult) => void, SemaphoreLease]> = [];
    for (let head = this.#waiters.peek(); head; head = this.#waiters.peek()) {
      if (!fits(this.#leases(), head.data.permits, limit, now)) break;
      const next = this.#waiters.shift();
      if (!next) break;
      grants.push([next.settle, this.#grant(next.data, now, next.id)]);
    }
    await this.#arm();
    // Replies leave only once the writes above are durable (output gate).
    for (const [settle, lease] of grants) settle(granted(lease));
    return this.#leases();
  }

  #grant(request: LeaseRequest, now: number, waiterId: string): SemaphoreLease {
    const lease = newLease(request, now, crypto.randomUUID(), waiterId);
    this.#sql.exec(
      "INSERT INTO lease (lease_id, holder, permits, granted_at, expires_at, waiter_id) VALUES (?, ?, ?, ?, ?, ?)",
      lease.leaseId,
      lease.holder,
      lease.permits,
      lease.grantedAt,
      lease.expiresAt,
      lease.waiterId,
    );
    return lease;
  }

  /** Make sure the alarm fires no later than the soonest lease end, or, once idle, than the end of `#idleUntil`. */
  async #arm(): Promise<void> {
    const soonest = nextExpiry(this.#leases());
    if (soonest !== null) await this.#alarm.armBy(soonest);
    else if (this.#waiters.size === 0) await this.#alarm.armBy(this.#idleUntil());
  }

  /** When an idle semaphore may forget everything: once no released lease needs remembering (0: now). */
  #idleUntil(): number {
    const last = this.#sql.exec<{ at: number | null }>("SELECT MAX(released_at) AS at FROM released").one().at;
    return last === null ? 0 : last + RELEASED_MEMORY_MS;
  }

  #limit(): number | null {
    return this.#sql.exec<{ lim: number }>("SELECT lim FROM meta WHERE id = 1").toArray()[0]?.lim ?? null;
  }

  #leases(): SemaphoreLease[] {
    return this.#sql
      .exec<LeaseRow>("SELECT * FROM lease ORDER BY granted_at")
      .toArray()
      .map((r) => ({
        leaseId: r.lease_id,
        holder: r.holder,
        permits: r.permits,
        grantedAt: r.granted_at,
        expiresAt: r.expires_at,
        waiterId: r.waiter_id,
      }));
  }
}

function granted(l: SemaphoreLease): SemaphoreAcquireResult {
  return {
    ok: true,
    leaseId: l.leaseId,
    holder: l.holder,
    permits: l.permits,
    grantedAt: l.grantedAt,
    expiresAt: l.expiresAt,
  };
}
