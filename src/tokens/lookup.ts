/**
 * How an isolate tells what a scoped token may do, for bearerAuth: a secret of the wrong shape, or (once the isolate
 * knows the Tokens object's key) without its check, is refused at once; otherwise what the Tokens object answered
 * for the secret's hash is kept for TOKENS_CACHE_SECONDS (answers that found nothing too), so a /v1 call with a known
 * token asks no object. Each use decides afresh on what was kept (revoked, expired, rotated out after its grace), and
 * notes the use (lastUsedAt) at most once per LAST_USED_EVERY_MS per token, after the answer (waitUntil).
 *
 * A revocation made through this isolate applies here at once (`forgetToken`); elsewhere within
 * TOKENS_CACHE_SECONDS. Concurrent misses each ask: a lookup shared between requests would tie them to one request's
 * I/O (see rate-limit.ts).
 */
import type { Principal, TokenLookup } from "../http/principal";
import { settings } from "../settings";
import { checked, hexOf, SECRET_SHAPE } from "./secret";
import { TOKENS_OBJECT } from "./tokens";
import { type Found, isFresh, LAST_USED_EVERY_MS, principalFor, verdictOf } from "./tokens-state";

/** Hashes whose lookup one isolate keeps; the oldest is dropped beyond this. */
const MAX_KEPT = 10_000;

interface Kept {
  found: Found | null;
  principal?: Principal;
  fetchedAt: number;
  touchedAt: number;
}

/** What this isolate kept, by the hex SHA-256 of the secret. */
const kept = new Map<string, Kept>();
/** The key of the secrets' check, once a lookup told it. */
let checkKey: string | undefined;

const NOT_VALID = { refused: "The bearer token is not valid." };

/**
 * Forget what this isolate kept about a token (after its revocation or rotation here).
 *
 * @example
 * forgetToken("tok_5c3f9a0e1b2d4c6e8f0a1b2c");
 */
export function forgetToken(id: string): void {
  for (const [hash, k] of kept) if (k.found?.id === id) kept.delete(hash);
}

/**
 * The lookup of scoped tokens for bearerAuth.
 *
 * @example
 * app.use("/v1/*", bearerAuth((env) => env.API_TOKEN, failedAuthLimit(), scopedTokens()));
 */
export const scopedTokens =
  (now: () => number = () => Date.now()): TokenLookup =>
  async (c, token, digest) => {
    if (!SECRET_SHAPE.test(token)) return NOT_VALID;
    const hash = hexOf(digest);
    const at = now();
    const cacheMs = settings(c.env).TOKENS_CACHE_SECONDS * 1_000;
    let k = kept.get(hash);
    if (!k || !isFresh(k.fetchedAt, at, cacheMs)) {
      if (checkKey !== undefined && !(await checked(checkKey, token))) return NOT_VALID;
      const answer = await c.env.TOKENS.getByName(TOKENS_OBJECT).lookup(hash);
      checkKey = answer.key;
      const found = answer.found as Found | null;
      k = { found, principal: found ? principalFor(found) : undefined, fetchedAt: at, touchedAt: k?.touchedAt ?? 0 };
      kept.delete(hash);
      if (cacheMs > 0) {
        if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value as string);
        kept.set(hash, k);
      }
    }
    const verdict = verdictOf(k.found, at);
    if (!verdict.ok || !k.found || !k.principal) return { refused: verdict.ok ? NOT_VALID.refused : verdict.detail };
    if (at - k.touchedAt >= LAST_USED_EVERY_MS) {
      k.touchedAt = at;
      const { id } = k.found;
      c.executionCtx.waitUntil(
        c.env.TOKENS.getByName(TOKENS_OBJECT)
          .touch(id, at)
          .catch(() => undefined),
      );
    }
    return k.principal;
  };
