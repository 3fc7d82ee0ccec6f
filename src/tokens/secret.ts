/**
 * Token secrets: `elk_` + 43 base64url characters of 32 random bytes + a 22-character check, the start of their
 * HMAC-SHA256 under a key only the Tokens object makes (and hands to the isolates with its lookups). An isolate that
 * knows the key refuses a made-up secret without asking the object, so guessing costs the one shared Tokens object
 * nothing (GitHub's tokens carry a checksum for the same reason). Only the secret's SHA-256 is stored.
 */
import { hmacSign, toBase64Url } from "../http/hmac";

const PREFIX = "elk_";
/** The shape of a secret: anything else is refused before any lookup. */
export const SECRET_SHAPE = /^elk_[A-Za-z0-9_-]{65}$/;

const encoder = new TextEncoder();

const check = async (key: string, body: string) => (await hmacSign(key, body)).slice(0, 22);

/**
 * A new secret under `key`.
 *
 * @example
 * const secret = await newSecret(key); // "elk_…" (69 characters)
 */
export async function newSecret(key: string): Promise<string> {
  const body = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return `${PREFIX}${body}${await check(key, body)}`;
}

/** Whether `secret` carries the check of `key` (compared in constant time). */
export async function checked(key: string, secret: string): Promise<boolean> {
  if (!SECRET_SHAPE.test(secret)) return false;
  const body = secret.slice(PREFIX.length, PREFIX.length + 43);
  const expected = encoder.encode(await check(key, body));
  const given = encoder.encode(secret.slice(PREFIX.length + 43));
  return crypto.subtle.timingSafeEqual(expected, given);
}

/** A fresh key for the checks (32 random bytes, base64url). */
export const newKey = (): string => toBase64Url(crypto.getRandomValues(new Uint8Array(32)));

/** The hex SHA-256 of a secret: how the Tokens object finds a token. */
export async function hashOf(secret: string): Promise<string> {
  return hexOf(await crypto.subtle.digest("SHA-256", encoder.encode(secret)));
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** The hex of a digest (on every scoped request: a table, not a string per byte). */
export function hexOf(digest: ArrayBuffer): string {
  let hex = "";
  for (const b of new Uint8Array(digest)) hex += HEX[b];
  return hex;
}
