/**
 * HMAC-SHA256 and base64url, for the service's own signed tokens (room tickets, fencing proofs): imported keys are
 * cached per secret, and verification is WebCrypto's (constant time).
 */

const encoder = new TextEncoder();

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of base64url `text`, or undefined when it is not base64url. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key of `secret` (imported once per isolate). */
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

/**
 * The base64url HMAC-SHA256 of `message` under `secret`.
 *
 * @example
 * const sig = await hmacSign(secret, payload); // 43 characters
 */
export async function hmacSign(secret: string, message: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(message))));
}

/**
 * True when `signature` (base64url) is the HMAC-SHA256 of `message` under `secret`, checked in constant time.
 *
 * @example
 * if (!(await hmacVerify(secret, payload, sig))) throw problem(401, "forged");
 */
export async function hmacVerify(secret: string, message: string, signature: string): Promise<boolean> {
  const sig = fromBase64Url(signature);
  if (!sig) return false;
  return crypto.subtle.verify("HMAC", await hmacKey(secret), sig, encoder.encode(message));
}
