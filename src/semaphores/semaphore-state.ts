/**
 * The decisions of a weighted, leased semaphore as plain functions: which leases are live, how many permits are out,
 * whether a call may change the limit, whether an acquire is granted now, refused or waits, and what lease it gets.
 * The Semaphore Durable Object keeps the leases in SQLite and calls these; unit tests call them with any clock.
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

/** What a waiting caller asked for: it becomes a lease when granted. */
export interface LeaseRequest {
  holder: string;
  permits: number;
  ttlMs: number;
}

/** The lease granted for `request` at `now`. */
export const newLease = (request: LeaseRequest, now: number, leaseId: string, waiterId: string): SemaphoreLease => ({
  leaseId,
  holder: request.holder,
  permits: request.permits,
  grantedAt: now,
  expiresAt: now + request.ttlMs,
  waiterId,
});

/**
 * The limit that refuses a call asking for `asked`, or null. The limit belongs to the semaphore: another one is
 * refused while it is `busy` (permits out or callers waiting), and takes effect once it is idle.
 */
export const conflictingLimit = (current: number | null, asked: number, busy: boolean): number | null =>
  current !== null && current !== asked && busy ? current : null;

/** What an acquire does now: take its permits, be refused, be refused because the line is full, or wait in line. */
export type Admission = "grant" | "full" | "queue-full" | "wait";

/**
 * Strict FIFO: permits are granted at once only when they fit and nobody waits, so a large request is not starved
 * by small ones behind it.
 */
export function admit(
  leases: readonly SemaphoreLease[],
  request: { permits: number; limit: number; waitMs: number },
  waiting: number,
  maxWaiters: number,
  now: number,
): Admission {
  if (waiting === 0 && fits(leases, request.permits, request.limit, now)) return "grant";
  if (request.waitMs <= 0) return "full";
  if (waiting >= maxWaiters) return "queue-full";
  return "wait";
}

/** Why lease `leaseId` cannot be renewed or released by its caller (`lease`: the live lease of that id, if any). */
export function notHeld(leaseId: string, lease: SemaphoreLease | undefined): string {
  return lease ? `lease ${leaseId} belongs to another holder` : `lease ${leaseId} is not held (released or expired)`;
}
