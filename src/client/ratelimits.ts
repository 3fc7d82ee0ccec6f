/**
 * `client.rateLimit(key, { limit, periodMs })`: a smooth (GCRA) rate limit shared by every client. `take(n)` asks
 * once and answers the decision; `acquire(n)` waits until the units are allowed (`async with limiter:`).
 */
import { sleep } from "../async/sleep.js";
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import type { RateLimitDecision, RateLimitInput } from "./types.js";

export interface RateLimitOptions {
  /** Units per `periodMs`. */
  limit: number;
  periodMs: number;
  /** At most this many at once (default: `limit`). */
  burst?: number;
}

export class RateLimitClient {
  readonly key: string;
  readonly options: RateLimitOptions;
  readonly #transport: Transport;

  constructor(transport: Transport, key: string, options: RateLimitOptions) {
    this.#transport = transport;
    this.key = key;
    this.options = options;
  }

  /**
   * Take `cost` units (default 1) if the limit allows them now; a refusal is a decision (`allowed: false` with
   * `retryAfterMs`), not an error, and spends nothing.
   *
   * @example
   * const { allowed, retryAfterMs } = await client.rateLimit("user-42", { limit: 10, periodMs: 60_000 }).take();
   */
  take(cost = 1, options: { signal?: AbortSignal } = {}): Promise<RateLimitDecision> {
    const { limit, periodMs, burst } = this.options;
    return this.#transport.json<RateLimitDecision>(`/v1/ratelimits/${seg(this.key)}`, {
      json: { cost, limit, periodMs, burst } satisfies RateLimitInput,
      signal: options.signal,
    });
  }

  /**
   * Wait until `cost` units are allowed, then take them: each refusal's `retryAfterMs` is slept, then asked again.
   *
   * @example
   * const limiter = client.rateLimit("github", { limit: 5_000, periodMs: 3_600_000 });
   * for (const url of urls) {
   *   await limiter.acquire();
   *   await fetch(url);
   * }
   */
  async acquire(cost = 1, options: { signal?: AbortSignal } = {}): Promise<RateLimitDecision> {
    for (;;) {
      const decision = await this.take(cost, options);
      if (decision.allowed) return decision;
      await sleep(Math.max(1, decision.retryAfterMs), options.signal);
    }
  }
}
