/**
 * The decisions of a leased lock with fencing tokens, as plain functions over a plain record: who holds it, when the
 * lease ends, which token comes next. The Lock Durable Object loads the record from SQLite, calls these, and saves
 * what they return; unit tests call them with any clock.
 */

export interface LockHolder {
  owner: string;
  token: number;
  grantedAt: number;
  expiresAt: number;
  /** The acquire call that was granted, so a caller who went away can hand the lock back (`cancel`). */
  waiterId: string | null;
}

export interface LockRecord {
  holder: LockHolder | null;
  /** The last token handed out: tokens strictly increase for the lock's whole life and are never reused. */
  lastToken: number;
  /** The last token its owner released, so a second release of it is harmless. */
  lastReleased: { owner: string; token: number } | null;
}

export const emptyLock = (): LockRecord => ({ holder: null, lastToken: 0, lastReleased: null });

/** True when nobody holds a live lease at `now`. */
export function isFree(lock: LockRecord, now: number): boolean {
  return lock.holder === null || lock.holder.expiresAt <= now;
}

/** Drop a lease whose time is up; the same record (identity) when nothing changed. */
export function expire(lock: LockRecord, now: number): LockRecord {
  if (lock.holder && lock.holder.expiresAt <= now) return { ...lock, holder: null };
  return lock;
}

/** Grant the (free) lock to `owner` with the next token. */
export function grant(
  lock: LockRecord,
  owner: string,
  ttlMs: number,
  now: number,
  waiterId: string | null,
): LockRecord {
  if (!isFree(lock, now)) throw new Error("grant on a held lock");
  const token = lock.lastToken + 1;
  return { ...lock, holder: { owner, token, grantedAt: now, expiresAt: now + ttlMs, waiterId }, lastToken: token };
}

export type LeaseOutcome =
  | { kind: "ok"; lock: LockRecord }
  | { kind: "already-released" }
  | { kind: "conflict"; detail: string };

/** Why `token`/`owner` does not hold the lock, or null if it does. */
function notHolding(lock: LockRecord, owner: string, token: number, now: number): string | null {
  const h = lock.holder;
  if (h && h.token === token && h.expiresAt > now) {
    return h.owner === owner ? null : `token ${token} belongs to another owner`;
  }
  if (token > lock.lastToken) return `token ${token} was never granted`;
  if (h && h.token === token) return `the lease of token ${token} expired`;
  return `token ${token} no longer holds the lock (the current token is ${h && h.expiresAt > now ? h.token : "none"})`;
}

/** Extend the holder's lease to `now + ttlMs`. */
export function renew(lock: LockRecord, owner: string, token: number, ttlMs: number, now: number): LeaseOutcome {
  const why = notHolding(lock, owner, token, now);
  if (why) return { kind: "conflict", detail: why };
  const holder = lock.holder as LockHolder;
  return { kind: "ok", lock: { ...lock, holder: { ...holder, expiresAt: now + ttlMs } } };
}

/** Free the lock if `owner` holds it with `token`; releasing the same token twice is harmless. */
export function release(lock: LockRecord, owner: string, token: number, now: number): LeaseOutcome {
  const why = notHolding(lock, owner, token, now);
  if (why) {
    const last = lock.lastReleased;
    if (last && last.token === token && last.owner === owner) return { kind: "already-released" };
    return { kind: "conflict", detail: why };
  }
  return { kind: "ok", lock: { ...lock, holder: null, lastReleased: { owner, token } } };
}
