/**
 * RateLimiter: exact per-key rate limiting, one Durable Object per key, GCRA state (one number, the theoretical
 * arrival time) kept in memory and written to storage on every allowed request.
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
import { type GcraLimits, gcra, gcraBatch } from "../async";
import { EarliestAlarm } from "../async/earliest-alarm";
import type { Limiter, RateLimitDecision, RateLimitLease } from "./rate-limit";

const TAT = "tat";
/** How long a key stays stored after its bucket is full again. */
export const IDLE_MS = 60_000;

/** The `Limiter` the rateLimit middleware asks, one object per key. */
export class RateLimiter extends DurableObject<Env> implements Limiter {
  #tat: number | undefined;
  /** Set once per idle period: an alarm due before the arrival time finds the key busy and moves on to it. */
  readonly #alarm = new EarliestAlarm(this.ctx.storage);

  /** Take `cost` units if the limit allows it now. */
  async limit(limits: GcraLimits): Promise<RateLimitDecision> {
    const { tat, ...decision } = gcra(await this.#load(), Date.now(), limits);
    if (decision.allowed) await this.#save(tat);
    return decision;
  }

  /**
   * Take a batch of single-unit requests for a caller that admits them itself (the rateLimit middleware's lease):
   * `floor(available / divisor)` of them, at most `max`, at least 1 while any is available. They count as spent now.
   */
  async lease(limits: Omit<GcraLimits, "cost">, max: number, divisor: number): Promise<RateLimitLease> {
    const { tat, ...decision } = gcraBatch(await this.#load(), Date.now(), limits, max, divisor);
    if (decision.granted > 0) await this.#save(tat);
    return decision;
  }

  /** IDLE_MS after the arrival time: an idle key's storage is deleted; a key still spending is looked at later. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const tat = await this.#load();
    if (tat + IDLE_MS > Date.now()) {
      await this.#alarm.armBy(tat + IDLE_MS);
      return;
    }
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.deleteAlarm();
    this.#tat = undefined;
  }

  async #load(): Promise<number> {
    this.#tat ??= (await this.ctx.storage.get<number>(TAT)) ?? 0;
    return this.#tat;
  }

  async #save(tat: number): Promise<void> {
    this.#tat = tat;
    await this.ctx.storage.put(TAT, tat, { allowUnconfirmed: true });
    await this.#alarm.armBy(tat + IDLE_MS);
  }
}
