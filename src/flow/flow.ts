/**
 * Flow: one Durable Object per flow-control key (and caller), shared by every job, fan-out and crawl that names the
 * key. It grants permits under the key's parallelism and rate window in one decision (flow-state.ts), leased to their
 * holders, with a FIFO line of waiting holders. A holder asks for several permits at once and lets its calls reuse
 * them (gate.ts), so most calls cost no round trip here; a crashed holder's permits come back when its lease expires
 * (alarm). The limits in force are the latest call's: a parallelism lowered below what is in flight lets nobody in
 * until enough calls end, and slices counted under another period still count while they overlap the new window.
 *
 * Retention: a key with no lease and nobody waiting deletes its storage a minute after its rate window emptied, or,
 * when paused, FLOW_PAUSE_RETENTION_HOURS after the last call that touched it.
 */
import { DurableObject } from "cloudflare:workers";
import { WaitQueue } from "../async";
import { EarliestAlarm } from "../async/earliest-alarm";
import { log } from "../http/log";
import { settings } from "../settings";
import {
  type FlowLease,
  type FlowLimits,
  type FlowState,
  grantable,
  inFlight,
  live,
  type Refusal,
  type Slice,
  startsOf,
  used,
  windowEnd,
} from "./flow-state";

/** What a holder asks of the key: permits (and a renewal of its lease), handing back the ones it cannot use. */
export interface TakeRequest {
  leaseId: string;
  holder: string;
  /** Permits wanted now; 0 only renews the lease (and takes `give` back). */
  want: number;
  /** Permits handed back first: free ones the holder has no call for. */
  give: number;
  /** Permits the holder believes it holds (before `give`): a lease gone meanwhile is reported `lost`. */
  held: number;
  limits: FlowLimits;
  ttlMs: number;
  /** How long to wait in line for at least one permit (0: answer at once). */
  waitMs: number;
  /** Names this call in line, so `cancel` can withdraw it. */
  waiterId: string;
  /** The caller's FLOW_MAX_PARALLELISM and LEASE_MAX_WAITERS. */
  maxParallelism: number;
  maxWaiters: number;
}

export type TakeResult =
  /** `starts`: calls the permits may start before the holder asks again; those past `permits` within `startsMs`. */
  | { ok: true; permits: number; starts: number; startsMs: number; expiresAt: number; lost: boolean }
  | { ok: false; blocked: Refusal | "cancelled"; retryAfterMs: number | null; lost: boolean };

export interface FlowStatusData {
  inFlight: number;
  waiting: number;
  holders: number;
  rateUsed: number | null;
  parallelism: number | null;
  rate: FlowLimits["rate"];
  paused: boolean;
}

interface Waiting {
  leaseId: string;
  ttlMs: number;
  holder: string;
  want: number;
  maxParallelism: number;
}

interface Meta {
  limits: FlowLimits;
  paused: boolean;
  slices: Slice[];
  touchedAt: number;
}

interface MetaRow extends Record<string, SqlStorageValue> {
  parallelism: number | null;
  rate_limit: number | null;
  rate_period: number | null;
  paused: number;
  slices: string;
  touched_at: number;
}

interface LeaseRow extends Record<string, SqlStorageValue> {
  lease_id: string;
  holder: string;
  permits: number;
  expires_at: number;
}

/** How long an idle, unpaused key stays stored after its window emptied. */
const IDLE_MS = 60_000;

type Settle = () => void;

export class Flow extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #waiters = new WaitQueue<Waiting, TakeResult>({ afterTimeout: () => this.#wake() });
  readonly #alarm = new EarliestAlarm(this.ctx.storage);
  /** The hand-over when the head of the line waits for the rate window. */
  #rateTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#createSchema();
  }

  #createSchema(): void {
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS lease (lease_id TEXT PRIMARY KEY, holder TEXT, permits INTEGER, expires_at INTEGER)",
    );
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY, parallelism INTEGER, rate_limit INTEGER," +
        " rate_period INTEGER, paused INTEGER, slices TEXT, touched_at INTEGER)",
    );
  }

  /**
   * Hand back `give` permits, renew the lease, and take up to `want` permits: at once if they fit and nobody waits,
   * else in FIFO order within `waitMs`. The limits of a call that asks for permits become the key's (a renewal's do
   * not: it would bring back the limits in force when its holder started).
   */
  async take(req: TakeRequest): Promise<TakeResult> {
    const now = Date.now();
    const meta = this.#meta() ?? { limits: req.limits, paused: false, slices: [], touchedAt: now };
    this.#saveMeta({ ...meta, limits: req.want > 0 ? req.limits : meta.limits, touchedAt: now });
    this.#sql.exec("DELETE FROM lease WHERE expires_at <= ?", now);
    const lease = this.#leases().find((l) => l.leaseId === req.leaseId);
    const lost = !lease && req.held > 0;
    if (lease) {
      const permits = Math.max(0, lease.permits - req.give);
      if (permits === 0) this.#sql.exec("DELETE FROM lease WHERE lease_id = ?", req.leaseId);
      else {
        this.#sql.exec(
          "UPDATE lease SET permits = ?, expires_at = ? WHERE lease_id = ?",
          permits,
          now + req.ttlMs,
          req.leaseId,
        );
      }
    }
    const settles = this.#handOver(now);
    let answer: TakeResult | Promise<TakeResult>;
    if (req.want <= 0) {
      answer = { ok: true, permits: 0, starts: 0, startsMs: 0, expiresAt: now + req.ttlMs, lost };
    } else {
      const free = this.#waiters.size === 0 ? grantable(this.#state(now), req.want, now, req.maxParallelism) : null;
      if (free && free.permits > 0) answer = { ...this.#grant(req, free.permits, now), lost };
      else if (req.waitMs <= 0 || this.#waiters.size >= req.maxWaiters) {
        answer = { ok: false, blocked: free?.blocked ?? "line", retryAfterMs: free?.retryAfterMs ?? null, lost };
      } else {
        const waiting = { leaseId: req.leaseId, ttlMs: req.ttlMs, holder: req.holder, want: req.want };
        answer = this.#waiters.wait(req.waiterId, { ...waiting, maxParallelism: req.maxParallelism }, req.waitMs, () =>
          this.#timedOut(req, lost),
        );
        this.#timeRate(now);
      }
    }
    await this.#commit(settles);
    return answer;
  }

  /** Give back every permit of a lease (a holder that is done); the permits it had, 0 if none. */
  async release(leaseId: string): Promise<number> {
    const lease = this.#leases().find((l) => l.leaseId === leaseId);
    if (!lease) return 0;
    this.#sql.exec("DELETE FROM lease WHERE lease_id = ?", leaseId);
    await this.#commit(this.#handOver(Date.now()));
    return lease.expiresAt > Date.now() ? lease.permits : 0;
  }

  /** The holder of waiter `waiterId` went away: withdraw it from the line (its lease is released apart). */
  async cancel(waiterId: string): Promise<boolean> {
    const now = Date.now();
    const cancelled = this.#waiters.cancel(waiterId, {
      ok: false,
      blocked: "cancelled",
      retryAfterMs: null,
      lost: false,
    });
    if (cancelled) await this.#commit(this.#handOver(now));
    return cancelled;
  }

  /** Stop granting: calls in flight go on, new ones wait. */
  async pause(): Promise<FlowStatusData> {
    return this.#setPaused(true);
  }

  /** Grant again, to the line first. */
  async resume(): Promise<FlowStatusData> {
    return this.#setPaused(false);
  }

  /** In flight, waiting, holders, the rate window's use, the limits in force and the pause: read only. */
  status(): FlowStatusData {
    const now = Date.now();
    const meta = this.#meta();
    const leases = live(this.#leases(), now);
    const rate = meta?.limits.rate ?? null;
    return {
      inFlight: inFlight(leases, now),
      waiting: this.#waiters.size,
      holders: leases.length,
      rateUsed: meta && rate ? used(meta.slices, now, rate.periodMs) : null,
      parallelism: meta?.limits.parallelism ?? null,
      rate,
      paused: meta?.paused ?? false,
    };
  }

  /** Lease expiry (the line gets the permits); once idle long enough, the deletion of the key's storage. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const now = Date.now();
    this.#sql.exec("DELETE FROM lease WHERE expires_at <= ?", now);
    const settles = this.#handOver(now);
    if (this.#leases().length === 0 && this.#waiters.size === 0 && this.#idleUntil() <= now) {
      await this.ctx.storage.deleteAll();
      await this.ctx.storage.deleteAlarm();
      this.#createSchema();
      return;
    }
    await this.#commit(settles);
  }

  // ---- internals

  async #setPaused(paused: boolean): Promise<FlowStatusData> {
    const now = Date.now();
    const meta = this.#meta() ?? { limits: { parallelism: null, rate: null }, paused, slices: [], touchedAt: now };
    this.#saveMeta({ ...meta, paused, touchedAt: now });
    await this.#commit(paused ? [] : this.#handOver(now));
    return this.status();
  }

  /** Grant the line in FIFO order while its head gets at least one permit; the replies, to send once committed. */
  #handOver(now: number): Settle[] {
    const settles: Settle[] = [];
    for (let head = this.#waiters.peek(); head; head = this.#waiters.peek()) {
      const free = grantable(this.#state(now), head.data.want, now, head.data.maxParallelism);
      if (free.permits === 0) break;
      const next = this.#waiters.shift();
      if (!next) break;
      const result: TakeResult = { ...this.#grant(next.data, free.permits, now), lost: false };
      settles.push(() => next.settle(result));
    }
    this.#timeRate(now);
    return settles;
  }

  /** Keep a timer at the moment the rate window lets the head of the line in (none when it waits for anything else). */
  #timeRate(now: number): void {
    clearTimeout(this.#rateTimer);
    this.#rateTimer = undefined;
    const head = this.#waiters.peek();
    if (!head) return;
    const free = grantable(this.#state(now), head.data.want, now, head.data.maxParallelism);
    if (free.permits === 0 && free.blocked === "rate" && free.retryAfterMs !== null) {
      this.#rateTimer = setTimeout(() => this.#wake(), Math.max(1, free.retryAfterMs));
    }
  }

  /** A hand-over nobody called for (a waiter gave up, the rate window moved on). */
  #wake(): void {
    this.#commit(this.#handOver(Date.now())).catch((err: unknown) =>
      log("error", "flow hand-over failed", { error: String(err) }),
    );
  }

  /** Write a grant of `permits` to `who`'s lease (and count its starts in the rate window). */
  #grant(
    who: { leaseId: string; holder: string; ttlMs: number },
    permits: number,
    now: number,
  ): Omit<Extract<TakeResult, { ok: true }>, "lost"> {
    const expiresAt = now + who.ttlMs;
    this.#sql.exec(
      "INSERT INTO lease VALUES (?, ?, ?, ?) ON CONFLICT (lease_id) DO UPDATE SET permits = permits +" +
        " excluded.permits, expires_at = excluded.expires_at",
      who.leaseId,
      who.holder,
      permits,
      expiresAt,
    );
    const meta = this.#meta() as Meta;
    const { starts, forMs, slices } = startsOf(permits, this.#state(now), now, this.#waiters.size > 0);
    if (meta.limits.rate) this.#saveMeta({ ...meta, slices });
    return { ok: true, permits, starts, startsMs: forMs, expiresAt };
  }

  #timedOut(req: TakeRequest, lost: boolean): TakeResult {
    const now = Date.now();
    const free = grantable(this.#state(now), req.want, now, req.maxParallelism);
    return { ok: false, blocked: free.blocked ?? "line", retryAfterMs: free.retryAfterMs, lost };
  }

  /** Arm the alarm (the soonest lease end, or the end of the idle time), then send the replies of the grants. */
  async #commit(settles: Settle[]): Promise<void> {
    const leases = this.#leases();
    if (leases.length > 0) await this.#alarm.armBy(Math.min(...leases.map((l) => l.expiresAt)));
    else if (this.#waiters.size === 0) await this.#alarm.armBy(this.#idleUntil());
    // Replies leave only once the writes above are durable (output gate).
    for (const settle of settles) settle();
  }

  /** When an idle key may forget everything (0: now). */
  #idleUntil(): number {
    const meta = this.#meta();
    if (!meta) return 0;
    if (meta.paused) return meta.touchedAt + settings(this.env).FLOW_PAUSE_RETENTION_HOURS * 3_600_000;
    return Math.max(windowEnd(meta.slices, meta.limits), meta.touchedAt) + IDLE_MS;
  }

  #state(now: number): FlowState {
    const meta = this.#meta();
    return {
      leases: live(this.#leases(), now),
      slices: meta?.slices ?? [],
      limits: meta?.limits ?? { parallelism: null, rate: null },
      paused: meta?.paused ?? false,
    };
  }

  #meta(): Meta | null {
    const row = this.#sql.exec<MetaRow>("SELECT * FROM meta WHERE id = 1").toArray()[0];
    if (!row) return null;
    const rate =
      row.rate_limit === null || row.rate_period === null ? null : { limit: row.rate_limit, periodMs: row.rate_period };
    return {
      limits: { parallelism: row.parallelism, rate },
      paused: row.paused === 1,
      slices: JSON.parse(row.slices) as Slice[],
      touchedAt: row.touched_at,
    };
  }

  #saveMeta(m: Meta): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO meta VALUES (1, ?, ?, ?, ?, ?, ?)",
      m.limits.parallelism,
      m.limits.rate?.limit ?? null,
      m.limits.rate?.periodMs ?? null,
      m.paused ? 1 : 0,
      JSON.stringify(m.slices),
      m.touchedAt,
    );
  }

  #leases(): FlowLease[] {
    return this.#sql
      .exec<LeaseRow>("SELECT * FROM lease")
      .toArray()
      .map((r) => ({ leaseId: r.lease_id, holder: r.holder, permits: r.permits, expiresAt: r.expires_at }));
  }
}
