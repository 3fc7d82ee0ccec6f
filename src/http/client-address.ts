/**
 * Which client a request comes from, for limits on requests that carry no verified identity (failed
 * authentication). In production Cloudflare's edge sets `CF-Connecting-IP` to the address that connected, so the
 * caller cannot choose it. An IPv6 client is its /64 (one household or host usually holds a whole /64, and would
 * otherwise get 2^64 buckets).
 *
 * Some keys stand for many clients at once: `unknown` (no header, as from vitest's `exports.default.fetch`, or a
 * value that is not an IP literal) and loopback (wrangler dev and Miniflare put the socket's peer there, so every
 * local client is 127.0.0.1); so does any NAT. Locally the header is not trustworthy either: wrangler dev and
 * Miniflare keep a `CF-Connecting-IP` the caller sends, and fill it in only when it is absent. A limit keyed by it
 * must therefore never refuse a caller that proved who it is (auth-failures.ts counts failures only).
 */
import { parseDottedIPv4, parseIPv6 } from "./ip";

export interface ClientAddress {
  /** The limiter key: `ip:<a.b.c.d>`, `ip:<first four words>::/64`, or `unknown`. */
  key: string;
}

const UNKNOWN: ClientAddress = { key: "unknown" };

function v4(address: number): ClientAddress {
  return { key: `ip:${[24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join(".")}` };
}

/**
 * The client address of a request, from `CF-Connecting-IP`.
 *
 * @example
 * clientAddress(new Request(url, { headers: { "cf-connecting-ip": "2001:db8:1:2::7" } }))
 * // { key: "ip:2001:db8:1:2::/64" }
 */
export function clientAddress(request: Request): ClientAddress {
  const header = request.headers.get("cf-connecting-ip")?.trim();
  if (!header) return UNKNOWN;
  const dotted = parseDottedIPv4(header);
  if (dotted !== undefined) return v4(dotted);
  const words = header.length <= 45 ? parseIPv6(header) : undefined;
  if (!words) return UNKNOWN;
  const [w0, w1, w2, w3, w4, w5, w6 = 0, w7 = 0] = words;
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0xffff) return v4(((w6 << 16) | w7) >>> 0);
  if (words.slice(0, 7).every((w) => w === 0) && w7 === 1) return { key: "ip:::1" };
  return {
    key: `ip:${words
      .slice(0, 4)
      .map((w) => w.toString(16))
      .join(":")}::/64`,
  };
}
