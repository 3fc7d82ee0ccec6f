/**
 * The decisions of a weighted, leased semaphore as plain functions: which leases are live, how many permits are out,
 * whether the next request fits. The Semaphore Durable Object keeps the leases in SQLite and calls these.
 */

export interface SemaphoreLease {
  leaseId: string;
  holder: string;
  permits: number;
  grantedAt: number;
  expiresAt: number;
  /** The acquire call that was granted, so a caller who went away can hand the permits back (`cancel`). */
  waiterId: string | null;
}

export const live = (leases: readonly SemaphoreLease[], now: number): SemaphoreLease[] =>
  leases.filter((l) => l.expiresAt > now);

export const inUse = (leases: readonly SemaphoreLease[], now: number): number =>
  live(leases, now).reduce((sum, l) => sum + l.permits, 0);

/** True if `permits` more fit under `limit` at `now`. */
export const fits = (leases: readonly SemaphoreLease[], permits: number, limit: number, now: number): boolean =>
  inUse(leases, now) + permits <= limit;

/** The earliest lease end, for the expiry alarm; null without leases. */
export function nextExpiry(leases: readonly SemaphoreLease[]): number | null {
  let soonest: number | null = null;
  for (const l of leases) if (soonest === null || l.expiresAt < soonest) soonest = l.expiresAt;
  return soonest;
}
