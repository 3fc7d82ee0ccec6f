/**
 * Rate-limit middleware on RateLimiter Durable Objects (GCRA): over the limit it answers 429 problem+json with
 * `Retry-After`; every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
 * (seconds). `apiRateLimit()` is the service's own limit on /v1, per verified bearer token (the rooms upgrade, which
 * has none, is limited by its Room object per verified ticket user: `joinLimit` there). `rateCheck` is the limit
 * without the middleware, for a route that limits by something it verifies itself; `rateLimited` its 429.
 *
 * Exact by default: one object call per request. With `lease`, the middleware (one per isolate) takes requests from
 * the object in batches and admits them itself until the batch runs out or expires, so most requests cost no call.
 * The object deducts a batch up front, so the isolates together never admit more than the object granted; what an
 * isolate does not spend in time is lost (under-admission, never over-admission). A batch is a share of what the
 * key has left (1 per call near the limit), so near the limit the middleware is exact again.
 */
import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import type { GcraLimits } from "../async";
import { callerScope, principalOf } from "../http/principal";
import { type Problem, problem } from "../http/problem";
import { settings } from "../settings";

type Setting<E extends HonoEnv> = number | ((c: Context<E>) => number);

export interface RateLimitOptions<E extends HonoEnv> {
  /** The key to count under (one RateLimiter object per key). Never put a secret in it: hash it first. */
  key: (c: Context<E>) => string | Promise<string>;
  /** Requests per period; 0 turns the limit off. A function reads it per request (settings). */
  limit: Setting<E>;
  periodMs: Setting<E>;
  /** Largest burst from idle; defaults to `limit`. */
  burst?: number;
  /** The setting the limit comes from, named in the 429 (e.g. "API_RATE_LIMIT"); a function reads it per request. */
  setting?: string | ((c: Context<E>) => string);
  /**
   * Take requests in batches of up to `max` that this middleware admits itself within `ttlMs` (see the module
   * comment). A `max` of 1 asks the object on every request.
   */
  lease?: { max: Setting<E>; ttlMs: Setting<E> };
  /** Which RateLimiter to ask; defaults to the RATE_LIMITER binding. */
  limiter?: (c: Context<E>, key: string) => Limiter;
  /** The clock batches expire by (tests). */
  now?: () => number;
}

/** A limiter's answer for one request: the RateLimiter object's RPC result. */
export interface RateLimitDecision {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export interface RateLimitLease extends RateLimitDecision {
  /** Units taken for the caller to spend itself (0 when refused). */
  granted: number;
}

/** What the middleware asks of a key's limiter: the RateLimiter object implements it. */
export interface Limiter {
  limit(l: GcraLimits): Promise<RateLimitDecision>;
  lease(l: Omit<GcraLimits, "cost">, max: number, divisor: number): Promise<RateLimitLease>;
}

/** A batch is at most this share of what the key has left: 1 per call once fewer than 2 × LEASE_DIVISOR are left. */
const LEASE_DIVISOR = 32;
/** Keys whose batches one middleware remembers; the oldest is forgotten (its unspent batch lost) beyond this. */
const MAX_KEYS = 1_024;

/** What one middleware (one isolate) holds for a key. */
interface Held {
  /** Unspent batches, oldest first. */
  batches: { left: number; expiresAt: number }[];
  /** The object's `remaining` and reset time as of its last answer. */
  remaining: number;
  resetAt: number;
  /** The object refused until then: no request can be allowed before (nothing ever returns to a key). */
  refusedUntil: number;
  /**
   * A batch request is in flight: requests meanwhile ask for one unit each rather than for another batch. They do not
   * wait for its answer: a promise one request made and another awaits ties the second to the first's I/O context
   * (workerd warns, and a first request cancelled by its client would leave the others waiting for ever).
   */
  asking: boolean;
}

/** A decision from what `h` holds at `t` (a unit of a batch, or the refusal still running), or none: ask the object. */
function fromHeld(h: Held, t: number): RateLimitDecision | undefined {
  h.batches = h.batches.filter((b) => b.left > 0 && b.expiresAt > t);
  const batch = h.batches[0];
  if (batch) {
    batch.left--;
    const remaining = h.remaining + h.batches.reduce((sum, b) => sum + b.left, 0);
    return { allowed: true, remaining, resetMs: Math.max(0, h.resetAt - t), retryAfterMs: 0 };
  }
  if (h.refusedUntil > t) {
    return { allowed: false, remaining: 0, resetMs: Math.max(0, h.resetAt - t), retryAfterMs: h.refusedUntil - t };
  }
  return undefined;
}

function checkNumber(name: string, value: unknown, min: number): void {
  if (typeof value === "number" && !(Number.isInteger(value) && value >= min)) {
    throw new Error(`rateLimit: ${name} must be an integer ≥ ${min}, got ${value}`);
  }
}

/**
 * Take one request for a key now: throws the 429 problem when the limit refuses it, else returns the
 * `RateLimit-*` headers for the answer (none when the limit is off).
 */
export type RateCheck<E extends HonoEnv> = (c: Context<E>, key: string) => Promise<Record<string, string>>;

/**
 * The limit of `rateLimit`, for a key the caller computes itself: a route that verifies something first (a ticket)
 * limits by what it verified.
 *
 * @example
 * const joins = rateCheck({ limit: 60, periodMs: 60_000, setting: "JOIN_LIMIT" });
 * const headers = await joins(c, `join:${verifiedUser}`); // throws the 429
 */
export const rateCheck = <E extends HonoEnv = { Bindings: Env }>(
  options: Omit<RateLimitOptions<E>, "key">,
): RateCheck<E> => {
  checkNumber("limit", options.limit, 0);
  checkNumber("periodMs", options.periodMs, 1);
  checkNumber("burst", options.burst, 1);
  checkNumber("lease.max", options.lease?.max, 1);
  checkNumber("lease.ttlMs", options.lease?.ttlMs, 1);
  const read = (s: Setting<E>, c: Context<E>) => (typeof s === "number" ? s : s(c));
  const limiter =
    options.limiter ?? ((c: Context<E>, key: string): Limiter => (c.env as Env).RATE_LIMITER.getByName(key));
  const now = options.now ?? Date.now;
  const held = new Map<string, Held>();

  /** Admit from a held batch or take a new one; the decision and the headers' view of the key. */
  async function leased(c: Context<E>, key: string, limits: GcraLimits, max: number, ttlMs: number) {
    const id = `${key}\n${limits.limit}\n${limits.periodMs}`;
    let h = held.get(id);
    if (!h) {
      if (held.size >= MAX_KEYS) held.delete(held.keys().next().value as string);
      h = { batches: [], remaining: 0, resetAt: 0, refusedUntil: 0, asking: false };
      held.set(id, h);
    }
    const decided = fromHeld(h, now());
    if (decided) return decided;
    const ask = h.asking ? 1 : max;
    if (ask > 1) h.asking = true;
    try {
      const d = await limiter(c, key).lease(limits, ask, LEASE_DIVISOR);
      const at = now();
      h.remaining = d.remaining;
      h.resetAt = at + d.resetMs;
      if (d.granted === 0) {
        h.refusedUntil = at + d.retryAfterMs;
        return d;
      }
      h.refusedUntil = 0;
      if (d.granted > 1) h.batches.push({ left: d.granted - 1, expiresAt: at + ttlMs });
      const remaining = h.remaining + h.batches.reduce((sum, b) => sum + b.left, 0);
      return { ...d, remaining };
    } finally {
      if (ask > 1) h.asking = false;
    }
  }

  return async function rateCheck(c, key) {
    const limit = read(options.limit, c);
    if (limit === 0) return {};
    const periodMs = read(options.periodMs, c);
    const limits = { limit, periodMs, burst: options.burst };
    const max = options.lease ? read(options.lease.max, c) : 1;
    const d =
      max > 1 && options.lease
        ? await leased(c, key, limits, max, read(options.lease.ttlMs, c))
        : await limiter(c, key).limit(limits);
    if (!d.allowed) {
      const setting = typeof options.setting === "function" ? options.setting(c) : options.setting;
      throw rateLimited({ limit, periodMs }, d, setting);
    }
    return rateLimitHeaders(limit, d);
  };
};

/** The `RateLimit-*` headers of an answer under `limit`. */
const rateLimitHeaders = (limit: number, d: RateLimitDecision): Record<string, string> => ({
  "ratelimit-limit": String(limit),
  "ratelimit-remaining": String(d.remaining),
  "ratelimit-reset": String(Math.ceil(d.resetMs / 1000)),
});

/**
 * The 429 for a request a limit refused: problem+json `rate-limited` naming the setting, with `Retry-After` and the
 * `RateLimit-*` headers.
 *
 * @example
 * if (!d.allowed) return rateLimited({ limit, periodMs }, d, "API_RATE_LIMIT").getResponse();
 */
export function rateLimited(
  { limit, periodMs }: { limit: number; periodMs: number },
  d: RateLimitDecision,
  setting?: string,
): Problem {
  const retryAfter = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
  const which = setting ? ` (${setting})` : "";
  return problem(
    429,
    `Rate limit of ${limit} requests per ${periodMs} ms${which} exceeded: retry in ${retryAfter} s.`,
    {
      type: "rate-limited",
      extensions: { retryAfterMs: d.retryAfterMs, ...(setting ? { limit: setting } : {}) },
      headers: { ...rateLimitHeaders(limit, d), "retry-after": String(retryAfter) },
    },
  );
}

/**
 * @example
 * app.use("/v1/search/*", rateLimit({ key: (c) => c.req.header("cf-connecting-ip") ?? "anon", limit: 10, periodMs: 1000 }))
 * // 10,000 a minute, admitted from batches of up to 50 that expire after 1 s unspent:
 * app.use("/v1/*", rateLimit({ key: (c) => c.var.user, limit: 10_000, periodMs: 60_000, lease: { max: 50, ttlMs: 1000 } }))
 */
export const rateLimit = <E extends HonoEnv = { Bindings: Env }>(
  options: RateLimitOptions<E>,
): MiddlewareHandler<E> => {
  const check = rateCheck(options);
  const off = (c: Context<E>) => (typeof options.limit === "number" ? options.limit : options.limit(c)) === 0;
  return async function rateLimit(c, next) {
    if (off(c)) return next();
    const headers = await check(c, await options.key(c));
    await next();
    // On the answer as it is: hono's c.header() after the answer is made copies the whole Response for each header.
    // An answer whose headers are immutable (one passed through from a fetch) is copied once, by c.header().
    try {
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    } catch {
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
    }
  };
};

const encoder = new TextEncoder();

const hex16 = (digest: ArrayBuffer) =>
  Array.from(new Uint8Array(digest, 0, 16), (b) => b.toString(16).padStart(2, "0")).join("");

/** A short, stable, non-reversible id of a secret, for use as a key. */
export async function hashKey(secret: string): Promise<string> {
  return hex16(await crypto.subtle.digest("SHA-256", encoder.encode(secret)));
}

/**
 * A token's own rate, else API_RATE_LIMIT per API_RATE_PERIOD_MS; from leases of up to API_RATE_LEASE_MAX. A service
 * binding is limited only by the `rate` its props give (0 turns the limit off).
 */
const apiLimit = {
  limit: (c: Context<{ Bindings: Env }>) => {
    const p = principalOf(c);
    return p.rate?.limit ?? (p.via === "binding" ? 0 : settings(c.env).API_RATE_LIMIT);
  },
  periodMs: (c: Context<{ Bindings: Env }>) => principalOf(c).rate?.periodMs ?? settings(c.env).API_RATE_PERIOD_MS,
  lease: {
    max: (c: { env: Env }) => settings(c.env).API_RATE_LEASE_MAX,
    ttlMs: (c: { env: Env }) => settings(c.env).API_RATE_LEASE_MS,
  },
  setting: (c: Context<{ Bindings: Env }>) => (principalOf(c).rate ? "rate" : "API_RATE_LIMIT"),
};

/**
 * The service's limit on /v1 per bearer token: the root token's keyed by its hash (the digest bearerAuth took when it
 * accepted it), a scoped token's by its id (so a rotation keeps its count) and under its own `rate` when it has one,
 * else API_RATE_LIMIT per API_RATE_PERIOD_MS; admitted from leases of up to API_RATE_LEASE_MAX that expire after
 * API_RATE_LEASE_MS. It runs after bearerAuth only: an unverified header never names a limiter. A service binding with a
 * `rate` in its props is keyed by its id (`binding:<name>`), apart from every token.
 */
export const apiRateLimit = (): MiddlewareHandler<{ Bindings: Env }> =>
  rateLimit<{ Bindings: Env }>({
    ...apiLimit,
    key: (c) => {
      const p = principalOf(c);
      if (p.via === "binding") return `api:${p.id}`;
      return p.root ? `api:${callerScope(c).slice(0, 32)}` : `api:token:${p.id}`;
    },
  });
