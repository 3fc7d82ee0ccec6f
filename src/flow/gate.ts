/**
 * The holder side of a flow key: a `FlowGate` stands before each upstream call of one fan-out, crawl or job chunk
 * (the fan-out engine's `CallGate`). It asks the key's Flow object for several permits at once (up to the caller's own
 * concurrency), lets its calls reuse them while the grant's start budget lasts, renews their lease while calls run,
 * and gives back what it cannot use. So a fan-out of 200 calls at concurrency 20 under a key with no rate costs a few
 * object calls, not 200. Under a rate each start is granted by the object (counted in its window when granted, so the
 * call starts at once).
 *
 * A call waits in the gate's own line (FIFO) while the gate asks, one ask at a time. A fan-out's ask waits in the
 * key's line until its deadline; a job chunk's waits FLOW_JOB_WAIT_MS, and if it gets nothing the gate refuses every
 * call not started (`FlowRefused`: the consumer defers them).
 */
import { log } from "../http/log";
import type { TakeRequest, TakeResult } from "./flow";
import type { FlowLimits, Refusal } from "./flow-state";

/** What the gate asks of the key: the Flow object's RPC methods. */
export interface FlowStubLike {
  take(req: TakeRequest): Promise<TakeResult>;
  release(leaseId: string): Promise<number>;
  cancel(waiterId: string): Promise<boolean>;
}

export interface FlowGateOptions {
  stub: FlowStubLike;
  /** The key, for messages. */
  key: string;
  /** Who holds the permits (fan-out, crawl or job chunk), as the key's leases show. */
  holder: string;
  limits: FlowLimits;
  /** Most permits to hold at once: the caller's own concurrency. */
  max: number;
  /** FLOW_LEASE_TTL_MS: renewed every third of it while permits are held. */
  ttlMs: number;
  /** How long the next ask may wait in the key's line (a fan-out: until its deadline). */
  waitMs: () => number;
  /**
   * A job chunk: an ask that gets nothing while none of its calls runs refuses every call not started (they are
   * deferred); while some run, the gate asks again when one ends.
   */
  refuseWhenRefused?: boolean;
  maxParallelism: number;
  maxWaiters: number;
}

/** A call the gate will not admit: a job chunk's key had no permit within FLOW_JOB_WAIT_MS (or the gate closed). */
export class FlowRefused extends Error {
  override name = "FlowRefused";
}

interface Waiter {
  resolve(leave: () => void): void;
  reject(err: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

/**
 * @example
 * const gate = new FlowGate({ stub, key, holder: "fanout:…", limits, max: 20, ttlMs: 15_000, waitMs: () => 5_000, … });
 * try {
 *   const leave = await gate.enter(signal);
 *   try { await fetch(url, { signal }) } finally { leave() }
 * } finally { await gate.close() }
 */
export class FlowGate {
  readonly #o: FlowGateOptions;
  readonly #leaseId = crypto.randomUUID();
  /** Permits the key counts for this gate's lease; those in use by a call; calls they may still start. */
  #held = 0;
  #inUse = 0;
  #starts = 0;
  /** Under a rate: the starts past a grant's permits are reserved until then (Date.now()). */
  #startsUntil = 0;
  /** Bumped when the lease was lost: calls admitted under the old one leave without counting. */
  #generation = 0;
  readonly #line: Waiter[] = [];
  #asking: { waiterId: string; done: Promise<void> } | undefined;
  #scheduled = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #renew: ReturnType<typeof setTimeout> | undefined;
  #granted = false;
  /** A job chunk's ask got nothing while its calls ran: the next ask waits for one of them to end. */
  #untilLeave = false;
  #refusal: { blocked: Refusal; retryAfterMs: number | null } | undefined;
  #abandoned = false;
  #closed = false;

  constructor(options: FlowGateOptions) {
    this.#o = options;
  }

  /** True once a call gave up waiting (its signal fired: the deadline came while calls waited for permits). */
  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** Why a job chunk's gate refused its calls, once it has. */
  get refusal(): { blocked: Refusal; retryAfterMs: number | null } | undefined {
    return this.#refusal;
  }

  /** Wait for a permit; resolves with the call's `leave`, to call once the call has ended. */
  enter(signal: AbortSignal): Promise<() => void> {
    if (this.#refusal || this.#closed) return Promise.reject(this.#refused());
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#line.indexOf(waiter);
          if (at < 0) return;
          this.#line.splice(at, 1);
          this.#abandoned = true;
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#line.push(waiter);
      this.#serve();
      if (this.#line.length > 0) this.#schedule();
    });
  }

  /** Give every permit back (after the last call): withdraws a pending ask and releases the lease. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#linger);
    clearTimeout(this.#renew);
    for (const w of this.#line.splice(0)) this.#drop(w).reject(this.#refused());
    const asking = this.#asking;
    try {
      if (asking) {
        await this.#o.stub.cancel(asking.waiterId);
        await asking.done;
      }
      if (this.#granted) await this.#o.stub.release(this.#leaseId);
    } catch (err) {
      // Its lease expires within FLOW_LEASE_TTL_MS anyway.
      log("warn", "flow release failed", { key: this.#o.key, error: String(err) });
    }
  }

  #refused(): FlowRefused {
    const r = this.#refusal;
    const why = r
      ? `no permit within FLOW_JOB_WAIT_MS (${r.blocked === "line" ? "others wait" : r.blocked})`
      : "closed";
    return new FlowRefused(`flow key ${this.#o.key}: ${why}`);
  }

  #drop(w: Waiter): Waiter {
    w.signal.removeEventListener("abort", w.onAbort);
    return w;
  }

  /** Admit waiters on the permits held while the start budget lasts (a rate's reserved starts, while reserved). */
  #serve(): void {
    if (this.#o.limits.rate && this.#starts > 0 && Date.now() >= this.#startsUntil) this.#starts = 0;
    while (this.#line.length > 0 && this.#held > this.#inUse && this.#starts > 0) {
      const w = this.#drop(this.#line.shift() as Waiter);
      this.#inUse++;
      this.#starts--;
      w.resolve(this.#leave(this.#generation));
    }
  }

  #leave(generation: number): () => void {
    let left = false;
    return () => {
      if (left || generation !== this.#generation) return;
      left = true;
      this.#inUse--;
      this.#untilLeave = false;
      this.#serve();
      const free = this.#held - this.#inUse;
      // Free permits nobody here can use go back soon (after the calls that follow at once have taken theirs).
      if (free > 0 && (this.#line.length === 0 || this.#starts === 0) && !this.#linger && !this.#closed) {
        this.#linger = setTimeout(() => this.#giveBack(), 0);
      }
      if (this.#line.length > 0) this.#schedule();
    };
  }

  #giveBack(): void {
    this.#linger = undefined;
    const free = this.#held - this.#inUse;
    if (free <= 0 || (this.#line.length > 0 && this.#starts > 0) || this.#closed) return;
    this.#held -= free;
    this.#starts = this.#held > 0 ? this.#starts : 0;
    this.#call({ want: 0, give: free, held: this.#held + free, waitMs: 0 });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#ask();
    });
  }

  /** Ask the key for permits for the waiters (one ask at a time), handing back free permits with no starts left. */
  #ask(): void {
    this.#serve();
    if (this.#asking || this.#untilLeave || this.#line.length === 0 || this.#closed || this.#refusal) return;
    const free = this.#held - this.#inUse;
    const give = this.#starts === 0 ? free : 0;
    const want = Math.min(this.#line.length, this.#o.max - (this.#held - give));
    const waitMs = Math.max(0, this.#o.waitMs());
    if (want <= 0) return;
    const held = this.#held;
    this.#held -= give;
    const waiterId = crypto.randomUUID();
    this.#asking = { waiterId, done: this.#call({ want, give, held, waitMs }, waiterId) };
  }

  async #call(ask: { want: number; give: number; held: number; waitMs: number }, waiterId?: string): Promise<void> {
    const o = this.#o;
    const sentAt = Date.now();
    let r: TakeResult;
    try {
      r = await o.stub.take({
        ...ask,
        leaseId: this.#leaseId,
        holder: o.holder,
        limits: o.limits,
        ttlMs: o.ttlMs,
        waiterId: waiterId ?? crypto.randomUUID(),
        maxParallelism: o.maxParallelism,
        maxWaiters: o.maxWaiters,
      });
    } catch (err) {
      log("warn", "flow take failed", { key: o.key, error: String(err) });
      r = { ok: false, blocked: "line", retryAfterMs: null, lost: false };
    }
    if (waiterId) this.#asking = undefined;
    if (r.lost) {
      // The lease expired unrenewed: the key freed its permits, so the calls running under it no longer count here.
      this.#generation++;
      this.#held = 0;
      this.#inUse = 0;
      this.#starts = 0;
    }
    if (r.ok) {
      this.#held += r.permits;
      if (r.permits > 0) this.#granted = true;
      if (o.limits.rate && r.starts > 0) {
        // Counted by the rate window when granted: the permits' own start now, the rest within startsMs of the grant
        // (which came after `sentAt`), or never.
        this.#starts = r.starts;
        this.#startsUntil = Number.POSITIVE_INFINITY;
        this.#serve();
        this.#startsUntil = sentAt + r.startsMs;
        if (r.startsMs === 0) this.#starts = 0;
      } else {
        this.#starts += r.starts;
        this.#serve();
      }
      if (this.#held - this.#inUse > 0 && this.#line.length === 0 && !this.#linger && !this.#closed) {
        this.#linger = setTimeout(() => this.#giveBack(), 0);
      }
      this.#keepRenewing();
    } else if (waiterId && r.blocked !== "cancelled" && !this.#closed) {
      if (o.refuseWhenRefused && this.#inUse > 0) this.#untilLeave = true;
      else if (o.refuseWhenRefused) {
        this.#refusal = { blocked: r.blocked, retryAfterMs: r.retryAfterMs };
        for (const w of this.#line.splice(0)) this.#drop(w).reject(this.#refused());
        return;
      } else {
        // A fan-out asks again (its ask ended before its deadline: the line was full, or the object failed).
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, Math.max(50, r.retryAfterMs ?? 100))));
      }
    }
    if (waiterId && this.#line.length > 0) this.#schedule();
  }

  /** Renew the lease every third of its TTL while permits are held. */
  #keepRenewing(): void {
    if (this.#renew || this.#closed) return;
    this.#renew = setTimeout(
      () => {
        this.#renew = undefined;
        if (this.#held === 0 || this.#closed) return;
        this.#call({ want: 0, give: 0, held: this.#held, waitMs: 0 }).then(() => this.#keepRenewing());
      },
      Math.max(1, Math.floor(this.#o.ttlMs / 3)),
    );
  }
}
