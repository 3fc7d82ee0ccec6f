/**
 * Rate-limit middleware on RateLimiter Durable Objects (GCRA, exact per key): over the limit it answers 429
 * problem+json with `Retry-After`; every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (seconds). `apiRateLimit()` is the service's own limit on /v1, per bearer token.
 */
import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import type { RateLimitDecision } from "../objects/rate-limiter";
import { settings } from "../settings";
import { problem } from "./problem";

type Setting<E extends HonoEnv> = number | ((c: Context<E>) => number);

export interface RateLimitOptions<E extends HonoEnv> {
  /** The key to count under (one RateLimiter object per key). Never put a secret in it: hash it first. */
  key: (c: Context<E>) => string | Promise<string>;
  /** Requests per period; 0 turns the limit off. A function reads it per request (settings). */
  limit: Setting<E>;
  periodMs: Setting<E>;
  /** Largest burst from idle; defaults to `limit`. */
  burst?: number;
  /** The setting the limit comes from, named in the 429 (e.g. "API_RATE_LIMIT"). */
  setting?: string;
  /** Which RateLimiter to ask; defaults to the RATE_LIMITER binding. */
  limiter?: (c: Context<E>, key: string) => { limit: (l: LimitArgs) => Promise<RateLimitDecision> };
}

interface LimitArgs {
  limit: number;
  periodMs: number;
  burst?: number;
  cost?: number;
}

function checkNumber(name: string, value: unknown, min: number): void {
  if (typeof value === "number" && !(Number.isInteger(value) && value >= min)) {
    throw new Error(`rateLimit: ${name} must be an integer ≥ ${min}, got ${value}`);
  }
}

/**
 * @example
 * app.use("/v1/search/*", rateLimit({ key: (c) => c.req.header("cf-connecting-ip") ?? "anon", limit: 10, periodMs: 1000 }))
 */
export const rateLimit = <E extends HonoEnv = { Bindings: Env }>(
  options: RateLimitOptions<E>,
): MiddlewareHandler<E> => {
  checkNumber("limit", options.limit, 0);
  checkNumber("periodMs", options.periodMs, 1);
  checkNumber("burst", options.burst, 1);
  const read = (s: Setting<E>, c: Context<E>) => (typeof s === "number" ? s : s(c));
  const limiter = options.limiter ?? ((c: Context<E>, key: string) => (c.env as Env).RATE_LIMITER.getByName(key));
  return async function rateLimit(c, next) {
    const limit = read(options.limit, c);
    if (limit === 0) return next();
    const periodMs = read(options.periodMs, c);
    const key = await options.key(c);
    const d = await limiter(c, key).limit({ limit, periodMs, burst: options.burst });
    const headers = {
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": String(d.remaining),
      "ratelimit-reset": String(Math.ceil(d.resetMs / 1000)),
    };
    if (!d.allowed) {
      const retryAfter = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      const which = options.setting ? ` (${options.setting})` : "";
      throw problem(
        429,
        `Rate limit of ${limit} requests per ${periodMs} ms${which} exceeded: retry in ${retryAfter} s.`,
        {
          type: "rate-limited",
          extensions: { retryAfterMs: d.retryAfterMs, ...(options.setting ? { limit: options.setting } : {}) },
          headers: { ...headers, "retry-after": String(retryAfter) },
        },
      );
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
  };
};

const encoder = new TextEncoder();

/** A short, stable, non-reversible id of a secret, for use as a key. */
export async function hashKey(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(secret)));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The service's limit on /v1 per bearer token (API_RATE_LIMIT per API_RATE_PERIOD_MS), keyed by the token's hash. */
export const apiRateLimit = (): MiddlewareHandler<{ Bindings: Env }> =>
  rateLimit<{ Bindings: Env }>({
    key: async (c) => {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      return `api:${await hashKey(token)}`;
    },
    limit: (c) => settings(c.env).API_RATE_LIMIT,
    periodMs: (c) => settings(c.env).API_RATE_PERIOD_MS,
    setting: "API_RATE_LIMIT",
  });
