/**
 * The outbound URL guard: decides whether the service may call a URL a client gave it, before any connection.
 *
 * workerd's fetch reaches loopback and private addresses locally, and cannot be trusted to stop SSRF in
 * production, so every outbound URL (and every redirect hop) passes through here. The URL is parsed with the
 * WHATWG parser — the one fetch uses — so every IP spelling it accepts (decimal `2130706433`, hex `0x7f.1`, octal
 * `0177.0.0.1`, short `127.1`, percent-encoded or full-width digits, IPv6 with an embedded IPv4) is judged on the
 * address it really denotes. Refused:
 * - schemes other than http and https, and URLs carrying credentials (`user:pass@`);
 * - `localhost`, `*.localhost` and the loopback names of /etc/hosts, with or without a trailing dot;
 * - IPv4 literals in the unspecified, private, loopback, link-local, CGNAT, benchmarking, documentation,
 *   multicast, reserved and broadcast ranges;
 * - IPv6 literals that are unspecified, loopback, IPv4-mapped, IPv4-compatible or IPv4-translated, unique local,
 *   link-local, site-local, multicast, discard or documentation, Teredo, local-use NAT64; NAT64 (64:ff9b::/96)
 *   and 6to4 (2002::/16) addresses when the IPv4 address they embed is refused.
 *
 * The one way through is the `FANOUT_ALLOW_HOSTS` allowlist (`host` or `host:port` entries), checked on the
 * canonical host, so tests and benchmarks can call a loopback upstream. Host names are not resolved: a public name
 * that resolves to a private address is not caught here (the platform's own egress rules are the backstop).
 */

import { ip4, parseDottedIPv4, parseIPv6 } from "../http/ip";

export type GuardVerdict =
  /** `allowlisted`: let through by a FANOUT_ALLOW_HOSTS entry (the demo routes call only such hosts). */
  { ok: true; url: URL; allowlisted?: true } | { ok: false; kind: "blocked" | "invalid"; reason: string; url?: URL };

/** A URL guard: pure, synchronous, never opens a connection. */
export type UrlGuard = (input: string | URL) => GuardVerdict;

interface AllowEntry {
  host: string;
  port?: string;
}

/**
 * Build a guard for an allowlist of `host` or `host:port` entries (IPv6 as `[::1]:8080`). A malformed entry
 * throws here, when the guard is built, not on the first request.
 *
 * @example
 * const guard = createUrlGuard(settings(env).FANOUT_ALLOW_HOSTS);
 * const verdict = guard("http://0x7f.1/");
 * // { ok: false, kind: "blocked", reason: "127.0.0.1 is a loopback address" }
 */
export function createUrlGuard(allowHosts: readonly string[] = []): UrlGuard {
  const allow = allowHosts.map(parseAllowEntry);
  return function guard(input) {
    let url: URL;
    try {
      url = new URL(String(input));
    } catch {
      return { ok: false, kind: "invalid", reason: "not a valid absolute URL" };
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return {
        ok: false,
        kind: "blocked",
        reason: `the scheme ${url.protocol} is not allowed (http and https only)`,
        url,
      };
    }
    if (url.username !== "" || url.password !== "") {
      return { ok: false, kind: "blocked", reason: "URLs with credentials (user:password@) are not allowed", url };
    }
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    if (allow.some((e) => e.host === url.hostname && (e.port === undefined || e.port === port))) {
      return { ok: true, url, allowlisted: true };
    }
    const reason = hostRefusal(url.hostname);
    if (reason) return { ok: false, kind: "blocked", reason, url };
    return { ok: true, url };
  };
}

/** Why a canonical WHATWG hostname may not be called, or undefined when it may. */
function hostRefusal(hostname: string): string | undefined {
  if (hostname.startsWith("[")) {
    const words = parseIPv6(hostname.slice(1, -1));
    if (!words) return `${hostname} is not a valid IPv6 address`;
    const why = ipv6Refusal(words);
    return why ? `${hostname} is ${why}` : undefined;
  }
  const v4 = parseDottedIPv4(hostname);
  if (v4 !== undefined) {
    const why = ipv4Refusal(v4);
    return why ? `${hostname} is ${why}` : undefined;
  }
  const name = hostname.replace(/\.+$/, "");
  if (name === "" || LOOPBACK_NAMES.has(name) || name.endsWith(".localhost")) {
    return `${hostname} is a loopback host name`;
  }
  return undefined;
}

const LOOPBACK_NAMES = new Set(["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"]);

// [network, prefix length, what it is]
const IPV4_REFUSED: ReadonlyArray<readonly [number, number, string]> = [
  [ip4(0, 0, 0, 0), 8, "an unspecified (this-network) address"],
  [ip4(10, 0, 0, 0), 8, "a private address"],
  [ip4(100, 64, 0, 0), 10, "a carrier-grade NAT (shared) address"],
  [ip4(127, 0, 0, 0), 8, "a loopback address"],
  [ip4(169, 254, 0, 0), 16, "a link-local address"],
  [ip4(172, 16, 0, 0), 12, "a private address"],
  [ip4(192, 0, 0, 0), 24, "an IETF protocol assignment address"],
  [ip4(192, 0, 2, 0), 24, "a documentation address"],
  [ip4(192, 88, 99, 0), 24, "a 6to4 relay anycast address"],
  [ip4(192, 168, 0, 0), 16, "a private address"],
  [ip4(198, 18, 0, 0), 15, "a benchmarking address"],
  [ip4(198, 51, 100, 0), 24, "a documentation address"],
  [ip4(203, 0, 113, 0), 24, "a documentation address"],
  [ip4(224, 0, 0, 0), 4, "a multicast address"],
  [ip4(240, 0, 0, 0), 4, "a reserved or broadcast address"],
];

/** Why this IPv4 address (as an unsigned 32-bit number) is refused, or undefined. */
function ipv4Refusal(address: number): string | undefined {
  for (const [network, bits, what] of IPV4_REFUSED) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((address & mask) >>> 0 === network) return what;
  }
  return undefined;
}

/** Why this IPv6 address (eight 16-bit words) is refused, or undefined. */
function ipv6Refusal(w: readonly number[]): string | undefined {
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0] = w;
  const low32 = ((w6 << 16) | w7) >>> 0;
  const zeroTo = (n: number) => w.slice(0, n).every((x) => x === 0);
  if (zeroTo(8)) return "the unspecified address";
  if (zeroTo(7) && w7 === 1) return "the loopback address";
  if (zeroTo(5) && w5 === 0xffff) return "an IPv4-mapped address";
  if (zeroTo(6)) return "an IPv4-compatible address";
  if (zeroTo(4) && w4 === 0xffff && w5 === 0) return "an IPv4-translated address";
  if (w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0) {
    const why = ipv4Refusal(low32);
    return why ? `a NAT64 address embedding ${why}` : undefined;
  }
  if (w0 === 0x64 && w1 === 0xff9b && w2 === 1) return "a local-use NAT64 address";
  if (w0 === 0x100 && w1 === 0 && w2 === 0 && w3 === 0) return "a discard-only address";
  if (w0 === 0x2001 && w1 === 0) return "a Teredo address";
  if (w0 === 0x2001 && w1 === 0xdb8) return "a documentation address";
  if (w0 === 0x2002) {
    const why = ipv4Refusal(((w1 << 16) | w2) >>> 0);
    return why ? `a 6to4 address embedding ${why}` : undefined;
  }
  if ((w0 & 0xfe00) === 0xfc00) return "a unique local address";
  if ((w0 & 0xffc0) === 0xfe80) return "a link-local address";
  if ((w0 & 0xffc0) === 0xfec0) return "a site-local address";
  if ((w0 & 0xff00) === 0xff00) return "a multicast address";
  return undefined;
}

function parseAllowEntry(entry: string): AllowEntry {
  const raw = entry.trim().toLowerCase();
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(raw);
  const colons = raw.split(":").length - 1;
  if (bracketed) {
    host = `[${bracketed[1]}]`;
    port = bracketed[2];
  } else if (colons === 1) {
    [host, port] = raw.split(":") as [string, string];
  } else if (colons > 1) {
    host = `[${raw}]`;
  } else {
    host = raw;
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) {
    throw new Error(`FANOUT_ALLOW_HOSTS: bad port in "${entry}"`);
  }
  let canonical: string;
  try {
    const url = new URL(`http://${host}/`);
    if (url.pathname !== "/" || url.username || url.password) throw new Error("not a host");
    canonical = url.hostname;
  } catch {
    throw new Error(`FANOUT_ALLOW_HOSTS: "${entry}" is not a host or host:port`);
  }
  return port === undefined ? { host: canonical } : { host: canonical, port: String(Number(port)) };
}

/** The demo upstream's one path (functions/demo.ts serves it): demo fan-outs and demo jobs call nothing else. */
export const DEMO_UPSTREAM_PATH = "/demo/api/upstream/delay";

/**
 * The guard of demo fan-outs and demo jobs: `createUrlGuard`'s, and only the demo upstream's path on a host
 * FANOUT_ALLOW_HOSTS lists by name, for the first URL and for every redirect hop alike.
 *
 * @example
 * demoUpstreamGuard(["127.0.0.1:8787"])("http://127.0.0.1:8787/r") // { ok: false, kind: "blocked", … }
 */
export function demoUpstreamGuard(allowHosts: readonly string[]): UrlGuard {
  const guard = createUrlGuard(allowHosts);
  return function demoGuard(input) {
    const verdict = guard(input);
    if (!verdict.ok || (verdict.allowlisted === true && verdict.url.pathname === DEMO_UPSTREAM_PATH)) return verdict;
    const reason = `demo calls go only to ${DEMO_UPSTREAM_PATH} on a host FANOUT_ALLOW_HOSTS lists`;
    return { ok: false, kind: "blocked", reason, url: verdict.url };
  };
}
