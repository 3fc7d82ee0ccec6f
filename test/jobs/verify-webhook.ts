/**
 * A Standard Webhooks verifier written from the specification, independent of the signer under test:
 * HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}` with the base64-decoded bytes of the `whsec_`
 * secret, compared (constant-time) with each space-separated `v1,<base64>` signature; timestamps older or newer
 * than 5 minutes are refused.
 */
export async function verifyStandardWebhook(
  secret: string,
  headers: Record<string, string>,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > 300) return false;
  const keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const content = new TextEncoder().encode(`${id}.${timestamp}.${body}`);
  for (const candidate of signatures.split(" ")) {
    const [version, b64] = candidate.split(",");
    if (version !== "v1" || !b64) continue;
    const mac = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    if (await crypto.subtle.verify("HMAC", key, mac, content)) return true;
  }
  return false;
}
