/**
 * The decisions about scoped tokens, on plain records with the clock passed in: whether a token found by its secret's
 * hash is accepted (revoked, expired, rotated out after its grace), what a cached lookup is still good for, when a
 * dead token's record goes, and how a token is shown.
 */
import type { Principal } from "../http/principal";

/** A token as the Tokens object keeps it (times in ms since the epoch; never its secret, whose hash it keys by). */
export interface TokenRecord {
  id: string;
  name: string;
  scopes: string[];
  names: Record<string, string[]> | null;
  namespace: string | null;
  rate: { limit: number; periodMs: number } | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  rotatedAt: number | null;
  /** When the secret before the last rotation stops working (null: never rotated). */
  previousUntil: number | null;
}

/** A token found by a secret's hash: its record, and whether the secret is its current one or the one before. */
export interface Found extends TokenRecord {
  matched: "current" | "previous";
}

/** The minimum a lastUsedAt write waits for, per token and isolate: the field is coarse on purpose. */
export const LAST_USED_EVERY_MS = 300_000;

export type TokenState = "active" | "revoked" | "expired";

/** Revoked, expired at `now`, or active. */
export function stateOf(t: TokenRecord, now: number): TokenState {
  if (t.revokedAt !== null) return "revoked";
  if (t.expiresAt !== null && t.expiresAt <= now) return "expired";
  return "active";
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether the secret that found `found` opens /v1 at `now`, and if not, what to tell its caller.
 *
 * @example
 * verdictOf(found, Date.now()); // { ok: true } or { ok: false, detail: "The bearer token was revoked." }
 */
export function verdictOf(found: Found | null, now: number): { ok: true } | { ok: false; detail: string } {
  if (!found) return { ok: false, detail: "The bearer token is not valid." };
  const state = stateOf(found, now);
  if (state === "revoked") return { ok: false, detail: "The bearer token was revoked." };
  if (state === "expired") return { ok: false, detail: `The bearer token expired at ${iso(found.expiresAt ?? now)}.` };
  if (found.matched === "previous" && (found.previousUntil ?? 0) <= now) {
    const until = iso(found.previousUntil ?? now);
    return { ok: false, detail: `The bearer token was rotated; its grace period ended at ${until}.` };
  }
  return { ok: true };
}

/** The principal a found token acts as. */
export const principalFor = (t: TokenRecord): Principal => ({
  root: false,
  id: t.id,
  scopes: t.scopes,
  ...(t.names ? { names: t.names } : {}),
  ...(t.namespace !== null ? { namespace: t.namespace } : {}),
  ...(t.rate ? { rate: t.rate } : {}),
});

/** Whether a lookup made at `fetchedAt` may still be used at `now` (TOKENS_CACHE_SECONDS), instead of asking again. */
export const isFresh = (fetchedAt: number, now: number, cacheMs: number): boolean => now - fetchedAt < cacheMs;

/** When a token stopped opening /v1 (revoked, or expired by `now`), or null while it is active. */
export function diedAt(t: TokenRecord, now: number): number | null {
  if (t.revokedAt !== null) return t.revokedAt;
  return t.expiresAt !== null && t.expiresAt <= now ? t.expiresAt : null;
}

/** When `t`'s record is deleted: TOKENS_RETENTION_DAYS after it was revoked or expired (null: it is not due). */
export function deleteAt(t: TokenRecord, retentionMs: number): number | null {
  const died = t.revokedAt ?? t.expiresAt;
  return died === null ? null : died + retentionMs;
}

/**
 * The records to delete before a new token is stored: those past their retention at `now`, then, while there are
 * still `max` or more, the dead ones that died first (their records are only history). Whether the new one then fits.
 *
 * @example
 * const { remove, fits } = makeRoom(records, 1_000, retentionMs, Date.now());
 */
export function makeRoom(
  records: readonly TokenRecord[],
  max: number,
  retentionMs: number,
  now: number,
): { remove: string[]; fits: boolean } {
  const due = (t: TokenRecord) => {
    const at = deleteAt(t, retentionMs);
    return at !== null && at <= now;
  };
  const remove = records.filter(due).map((t) => t.id);
  const dead = records
    .filter((t) => !due(t) && diedAt(t, now) !== null)
    .sort((a, b) => (diedAt(a, now) as number) - (diedAt(b, now) as number));
  let left = records.length - remove.length;
  for (const t of dead) {
    if (left < max) break;
    remove.push(t.id);
    left--;
  }
  return { remove, fits: left < max };
}

/** A token as GET /v1/tokens shows it. */
export function viewOf(t: TokenRecord, now: number) {
  return {
    id: t.id,
    name: t.name,
    state: stateOf(t, now),
    scopes: t.scopes,
    ...(t.names ? { names: t.names } : {}),
    ...(t.namespace !== null ? { namespace: t.namespace } : {}),
    ...(t.rate ? { rate: t.rate } : {}),
    createdAt: iso(t.createdAt),
    ...(t.expiresAt !== null ? { expiresAt: iso(t.expiresAt) } : {}),
    lastUsedAt: t.lastUsedAt === null ? null : iso(t.lastUsedAt),
    ...(t.revokedAt !== null ? { revokedAt: iso(t.revokedAt) } : {}),
    ...(t.rotatedAt !== null ? { rotatedAt: iso(t.rotatedAt) } : {}),
    ...(t.previousUntil !== null ? { previousValidUntil: iso(t.previousUntil) } : {}),
  };
}
