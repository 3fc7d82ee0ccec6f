/**
 * The limit on failed authentication per client address: AUTH_FAIL_LIMIT failures per AUTH_FAIL_PERIOD_MS (GCRA on
 * a RateLimiter object keyed `auth-fail:<address>`), then 429 with `Retry-After`. It is apart from the per-token
 * limit, which only ever counts verified tokens.
 *
 * It counts and refuses failures only: every token is compared, and the right one is let through whatever its
 * address did, so a guesser behind a shared address (an office, a carrier's NAT, one IPv6 /64) cannot lock the
 * token's holders out. The price: a guesser that ignores the 429 still learns each guess is wrong (docs/api.md#auth).
 * Only failures reach the object, and while an address is over its limit this isolate remembers it until the
 * `Retry-After`, so its further failures cost no object call either.
 */
import type { Context } from "hono";
import { settings } from "../settings";
import { clientAddress } from "./client-address";
import { overLimit, type Problem } from "./problem";

/** Addresses one isolate remembers as over their limit; the oldest is forgotten beyond this. */
const MAX_REMEMBERED = 1_024;

type Ctx = Context<{ Bindings: Env }>;

export interface FailedAuthLimit {
  /** After a failure: counts it, and gives the problem to throw: the 429 once the address is over, else `refusal`. */
  failed(c: Ctx, refusal: Problem): Promise<Problem>;
}

/**
 * @example
 * const failures = failedAuthLimit();
 * if (!valid) throw await failures.failed(c, problem(401, "The bearer token is not valid."));
 */
export const failedAuthLimit = (now: () => number = Date.now): FailedAuthLimit => {
  /** Address key → when this isolate may ask the object again (its last Retry-After). */
  const over = new Map<string, number>();

  const throttled = (c: Ctx, key: string, retryAfterMs: number): Problem => {
    const s = settings(c.env);
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    const detail =
      `Too many failed authentication attempts from this address: AUTH_FAIL_LIMIT (${s.AUTH_FAIL_LIMIT}) per ` +
      `AUTH_FAIL_PERIOD_MS (${s.AUTH_FAIL_PERIOD_MS} ms). Retry in ${retryAfter} s.`;
    if (!over.has(key) && over.size >= MAX_REMEMBERED) over.delete(over.keys().next().value as string);
    over.set(key, now() + retryAfterMs);
    return overLimit("AUTH_FAIL_LIMIT", s.AUTH_FAIL_LIMIT, detail, {
      status: 429,
      type: "auth-throttled",
      extensions: { retryAfterMs },
      headers: { "retry-after": String(retryAfter) },
    });
  };

  /** How long the address is still known to be over its limit here (0 when it is not). */
  const waitOf = (key: string): number => {
    const until = over.get(key);
    if (until === undefined) return 0;
    const wait = until - now();
    if (wait <= 0) over.delete(key);
    return Math.max(0, wait);
  };

  return {
    async failed(c, refusal) {
      const s = settings(c.env);
      if (s.AUTH_FAIL_LIMIT === 0) return refusal;
      const { key } = clientAddress(c.req.raw);
      const wait = waitOf(key);
      if (wait > 0) return throttled(c, key, wait);
      const limiter = c.env.RATE_LIMITER.getByName(`auth-fail:${key}`);
      const d = await limiter.limit({ limit: s.AUTH_FAIL_LIMIT, periodMs: s.AUTH_FAIL_PERIOD_MS });
      return d.allowed ? refusal : throttled(c, key, d.retryAfterMs);
    },
  };
};
