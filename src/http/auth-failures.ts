/**
 * The limit on failed authentication per client address: AUTH_FAIL_LIMIT failures per AUTH_FAIL_PERIOD_MS (GCRA on
 * a RateLimiter object keyed `auth-fail:<address>`), then 429 with `Retry-After`. It is apart from the per-token
 * limit, which only ever counts verified tokens.
 *
 * Only failures reach the object: an accepted token costs no object call. While an address is over its limit this
 * isolate remembers it until the `Retry-After`, so further failures from it are answered without an object call
 * either, and a client address (one caller, set by the platform) is refused before its token is even compared: that
 * is what makes guessing slow. A shared address (none, loopback: see client-address.ts) stands for many callers, so
 * there a valid token is still compared and let through, and only the failures get 429.
 */
import type { Context } from "hono";
import { settings } from "../settings";
import { clientAddress } from "./client-address";
import { overLimit, type Problem } from "./problem";

/** Addresses one isolate remembers as over their limit; the oldest is forgotten beyond this. */
const MAX_REMEMBERED = 1_024;

type Ctx = Context<{ Bindings: Env }>;

export interface FailedAuthLimit {
  /** Before the token is compared: throws the 429 for a client address this isolate knows to be over its limit. */
  before(c: Ctx): void;
  /** After a failure: counts it, and gives the problem to throw: the 429 once the address is over, else `refusal`. */
  failed(c: Ctx, refusal: Problem): Promise<Problem>;
}

/**
 * @example
 * const failures = failedAuthLimit();
 * failures.before(c);
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
    before(c) {
      // Nothing remembered as over its limit here: nothing to refuse, and no address to parse.
      if (over.size === 0 || settings(c.env).AUTH_FAIL_LIMIT === 0) return;
      const address = clientAddress(c.req.raw);
      if (address.shared) return;
      const wait = waitOf(address.key);
      if (wait > 0) throw throttled(c, address.key, wait);
    },

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
