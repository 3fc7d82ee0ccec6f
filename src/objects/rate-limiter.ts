/**
 * RateLimiter: exact per-key rate limiting, one Durable Object per key, GCRA state (one number, the theoretical
 * arrival time) kept in memory and written to storage on every allowed request.
 *
 * The write is `allowUnconfirmed`: the answer does not wait for it to be durable (the output gate would otherwise add
 * a commit to every rate-limited request). The object is single-threaded, so decisions stay exact while it lives;
 * if it crashes before a write lands, the key gets back at most the requests of that instant. That is the right
 * trade for a limiter, and the wrong one for a lock, which waits for its writes.
 */
import { DurableObject } from "cloudflare:workers";
import { type GcraLimits, gcra, gcraBatch } from "../async";
import type { Limiter, RateLimitDecision, RateLimitLease } from "../http/rate-limit";

const TAT = "tat";

/** The `Limiter` the rateLimit middleware asks, one object per key. */
export class RateLimiter extends DurableObject<Env> implements Limiter {
  #tat: number | undefined;

  /** Take `cost` units if the limit allows it now. */
  async limit(limits: GcraLimits): Promise<RateLimitDecision> {
    this.#tat ??= (await this.ctx.storage.get<number>(TAT)) ?? 0;
    const { tat, ...decision } = gcra(this.#tat, Date.now(), limits);
    if (decision.allowed) {
      this.#tat = tat;
      await this.ctx.storage.put(TAT, tat, { allowUnconfirmed: true });
    }
    return decision;
  }

  /**
   * Take a batch of single-unit requests for a caller that admits them itself (the rateLimit middleware's lease):
   * `floor(available / divisor)` of them, at most `max`, at least 1 while any is available. They count as spent now.
   */
  async lease(limits: Omit<GcraLimits, "cost">, max: number, divisor: number): Promise<RateLimitLease> {
    this.#tat ??= (await this.ctx.storage.get<number>(TAT)) ?? 0;
    const { tat, ...decision } = gcraBatch(this.#tat, Date.now(), limits, max, divisor);
    if (decision.granted > 0) {
      this.#tat = tat;
      await this.ctx.storage.put(TAT, tat, { allowUnconfirmed: true });
    }
    return decision;
  }
}
