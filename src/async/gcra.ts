/**
 * GCRA (generic cell rate algorithm): a smooth rate limit kept as one number per key, the theoretical arrival time
 * (TAT). Equivalent to a token bucket that refills continuously, so there are no fixed-window double bursts.
 * Runtime-neutral and pure: the RateLimiter object stores the TAT and calls `gcra`.
 *
 * A TAT means nothing without the limit it was computed under: `tat - now` is the units spent and not yet refilled,
 * times that limit's interval. A stored TAT is therefore read in the terms of the limit in force (`gcraRescale`), and
 * `gcra` never lets one run further ahead than a full bucket of the current limit: no wait it answers exceeds what
 * the current `limit`/`periodMs` allow (`cost` intervals).
 */

export interface GcraLimits {
  /** Requests (cost units) allowed per period. */
  limit: number;
  periodMs: number;
  /** Largest burst (cost units at once, from idle). Defaults to `limit`. */
  burst?: number;
  /** Cost of this request. Defaults to 1. */
  cost?: number;
}

export interface GcraDecision {
  allowed: boolean;
  /** Cost units still available right after this decision. */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Milliseconds until this request would be allowed (0 when allowed). */
  retryAfterMs: number;
  /** The TAT to store (when refused: the one given, unless it ran further ahead than the current limit allows). */
  tat: number;
}

/**
 * Milliseconds per cost unit under `limits`: what to store beside a TAT, for `gcraRescale`.
 *
 * @example
 * gcraInterval({ limit: 10, periodMs: 1_000 }) // 100
 */
export const gcraInterval = (limits: GcraLimits): number => limits.periodMs / limits.limit;

/**
 * A TAT stored under a limit of `storedIntervalMs` per unit, read in the terms of `limits`: the units spent and not
 * yet refilled are kept (refilled at the stored pace until now, at the current one from now), and never more than a
 * full bucket of the current limit. A lowered limit that was used up, then raised, lets the next call through; a
 * limit lowered after heavy use waits one interval of the new one, not the old debt. Without `storedIntervalMs` (a
 * TAT stored before intervals were), only the cap applies.
 *
 * @example
 * // 2 a second used up (TAT 1 s ahead); read at 100 a second: 2 units of 10 ms, 20 ms ahead.
 * gcraRescale(1_000, 500, 0, { limit: 100, periodMs: 1_000 }) // 20
 */
export function gcraRescale(
  storedTat: number,
  storedIntervalMs: number | undefined,
  now: number,
  limits: GcraLimits,
): number {
  if (storedTat <= now) return storedTat;
  const interval = gcraInterval(limits);
  const ahead =
    storedIntervalMs === undefined || storedIntervalMs === interval
      ? storedTat - now
      : ((storedTat - now) / storedIntervalMs) * interval;
  const full = interval * (limits.burst ?? limits.limit);
  return now + Math.min(ahead, full);
}

/**
 * Decide one request at `now` given the stored TAT (0 or anything in the past for an idle key).
 *
 * @example
 * let tat = 0;
 * const d = gcra(tat, Date.now(), { limit: 10, periodMs: 1000 });
 * if (d.allowed) tat = d.tat;
 */
export function gcra(storedTat: number, now: number, limits: GcraLimits): GcraDecision {
  const cost = limits.cost ?? 1;
  const burst = limits.burst ?? limits.limit;
  const interval = limits.periodMs / limits.limit; // ms per cost unit
  const tolerance = interval * burst; // how far ahead of now the TAT may run
  // Never further ahead than a full bucket: a TAT from a larger interval would otherwise ask for its old debt.
  const tat = Math.min(Math.max(storedTat, now), now + tolerance);
  const newTat = tat + interval * cost;
  const allowAt = newTat - tolerance;
  const units = (t: number) => Math.max(0, Math.floor((tolerance - (t - now)) / interval + 1e-9));
  if (allowAt > now) {
    return {
      allowed: false,
      remaining: units(tat),
      resetMs: Math.ceil(tat - now),
      retryAfterMs: Math.ceil(allowAt - now),
      tat: Math.min(storedTat, tat),
    };
  }
  return { allowed: true, remaining: units(newTat), resetMs: Math.ceil(newTat - now), retryAfterMs: 0, tat: newTat };
}

export interface GcraBatch extends GcraDecision {
  /** Units taken: 0 when refused, otherwise 1 to `max`. */
  granted: number;
}

/**
 * Take a batch of units at once (a lease for a caller that spends them itself): a share of what is available now,
 * `floor(available / divisor)` capped at `max`, and never fewer than 1 while anything is available, so near the
 * limit every call takes exactly one. The units are gone from the key as if spent now: whatever the caller does not
 * spend is lost, never given to anyone else, so the limit holds however many callers take batches.
 *
 * @example
 * const d = gcraBatch(tat, Date.now(), { limit: 1000, periodMs: 60_000 }, 50, 32);
 * if (d.granted > 0) tat = d.tat; // spend d.granted requests locally
 */
export function gcraBatch(storedTat: number, now: number, limits: GcraLimits, max: number, divisor: number): GcraBatch {
  const probe = gcra(storedTat, now, { ...limits, cost: 1 });
  if (!probe.allowed) return { ...probe, granted: 0 };
  // Available before taking anything: what remains after one, plus that one.
  const available = probe.remaining + 1;
  const granted = Math.max(1, Math.min(max, Math.floor(available / divisor), available));
  const batch = gcra(storedTat, now, { ...limits, cost: granted });
  // Rounding may refuse a batch of exactly what `remaining` counted: take the one unit the probe allowed instead.
  return batch.allowed ? { ...batch, granted } : { ...probe, granted: 1 };
}
