/**
 * RateLimiter: exact per-key rate limiting, one Durable Object per key, GCRA state (the theoretical arrival time, and
 * the interval per unit it was computed under) kept in memory and written to storage on every allowed request.
 *
 * The limit is the caller's, per call, so it can change under a stored state: another caller of the key, or a setting
 * changed between deploys (API_RATE_LIMIT). The state is read under the limit in force (`gcraRescale`: the units
 * spent are kept, never more than a full bucket of the current limit), and a call that finds it in another limit's
 * terms stores it in the current one's even when refused, so the wait it answers is the wait it means.
 *
 * The write is `allowUnconfirmed`: the answer does not wait for it to be durable (the output gate would otherwise add
 * a commit to every rate-limited request). The object is single-threaded, so decisions stay exact while it lives;
 * if it crashes before a write lands, the key gets back at most the requests of that instant. That is the right
 * trade for a limiter, and the wrong one for a lock, which waits for its writes.
 *
 * Retention: once the arrival time has passed, the key's bucket is full again, exactly the state of a key with
 * nothing stored. So the object keeps an alarm no later than IDLE_MS after its arrival time, and the alarm that finds
 * the key idle that long deletes its storage (one that finds it still spending moves on): a key never seen again
 * leaves nothing behind. The minute of grace spares a busy key whose bucket briefly fills between two batches of the
 * middleware's leases a delete and a re-creation each time.
 */
import { DurableObject } from "cloudflare:workers";
import { type GcraLimits, gcra, gcraBatch, gcraInterval, gcraRescale } from "../async";
import { EarliestAlarm } from "../async/earliest-alarm";
import type { Limiter, RateLimitDecision, RateLimitLease } from "./rate-limit";

const TAT = "tat";
/** The ms per unit of the limit the TAT was computed under (absent in state stored before it was kept). */
const INTERVAL = "interval";

interface Stored {
  tat: number;
  interval: number | undefined;
}
/** How long a key stays stored after its bucket is full again. */
export const IDLE_MS = 60_000;

/** The `Limiter` the rateLimit middleware asks, one object per key. */
export class RateLimiter extends DurableObject<Env> implements Limiter {
  #state: Stored | undefined;
  /** Set once per idle period: an alarm due before the arrival time finds the key busy and moves on to it. */
  readonly #alarm = new EarliestAlarm(this.ctx.storage);

  /** Take `cost` units if the limit allows it now. */
  async limit(limits: GcraLimits): Promise<RateLimitDecision> {
    const now = Date.now();
    const { tat, ...decision } = gcra(await this.#read(now, limits), now, limits);
    await this.#keep(decision.allowed, tat, now, limits);
    return decision;
  }

  /**
   * Take a batch of single-unit requests for a caller that admits them itself (the rateLimit middleware's lease):
   * `floor(available / divisor)` of them, at most `max`, at least 1 while any is available. They count as spent now.
   */
  async lease(limits: Omit<GcraLimits, "cost">, max: number, divisor: number): Promise<RateLimitLease> {
    const now = Date.now();
    const { tat, ...decision } = gcraBatch(await this.#read(now, limits), now, limits, max, divisor);
    await this.#keep(decision.granted > 0, tat, now, limits);
    return decision;
  }

  /** IDLE_MS after the arrival time: an idle key's storage is deleted; a key still spending is looked at later. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const { tat } = await this.#load();
    if (tat + IDLE_MS > Date.now()) {
      await this.#alarm.armBy(tat + IDLE_MS);
      return;
    }
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.deleteAlarm();
    this.#state = undefined;
  }

  /** The stored TAT in the terms of `limits`. */
  async #read(now: number, limits: GcraLimits): Promise<number> {
    const { tat, interval } = await this.#load();
    return gcraRescale(tat, interval, now, limits);
  }

  /** Store `tat` when it was taken from, or when the stored state was in another limit's terms. */
  async #keep(taken: boolean, tat: number, now: number, limits: GcraLimits): Promise<void> {
    const interval = gcraInterval(limits);
    const stored = this.#state;
    if (taken || (stored && stored.tat > now && (stored.tat !== tat || stored.interval !== interval))) {
      await this.#save({ tat, interval });
    }
  }

  async #load(): Promise<Stored> {
    if (!this.#state) {
      const stored = await this.ctx.storage.get<number>([TAT, INTERVAL]);
      this.#state = { tat: stored.get(TAT) ?? 0, interval: stored.get(INTERVAL) };
    }
    return this.#state;
  }

  async #save(state: Stored): Promise<void> {
    this.#state = state;
    await this.ctx.storage.put({ [TAT]: state.tat, [INTERVAL]: state.interval }, { allowUnconfirmed: true });
    await this.#alarm.armBy(state.tat + IDLE_MS);
  }
}
