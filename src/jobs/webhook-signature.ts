/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, "Symmetric signatures"): the signed content is
 * `${webhook-id}.${webhook-timestamp}.${body}`, the signature `v1,` + base64(HMAC-SHA256(key, content)), and the
 * key is the base64-decoded part of a `whsec_…` secret.
 */

const encoder = new TextEncoder();

const SECRET_PREFIX = "whsec_";

/**
 * The HMAC key bytes of a signing secret: `whsec_<base64>` decodes to its bytes (the spec's format); any other
 * string is used as its UTF-8 bytes.
 */
function secretBytes(secret: string): Uint8Array {
  if (secret.startsWith(SECRET_PREFIX)) {
    const raw = atob(secret.slice(SECRET_PREFIX.length));
    return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
  }
  return encoder.encode(secret);
}

function toBase64(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * The `webhook-signature` header value for one delivery.
 *
 * @example
 * await signWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
 * // "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 */
export async function signWebhook(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", secretBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(mac)}`;
}

/** The three headers of a signed delivery. */
export async function webhookHeaders(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<Record<string, string>> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signWebhook(secret, id, timestamp, body),
  };
}
