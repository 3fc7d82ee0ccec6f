import { describe, expect, it } from "vitest";
import { createUrlGuard, demoUpstreamGuard } from "../../src/fanout/url-guard";
import { parseIPv6 } from "../../src/http/ip";

const guard = createUrlGuard([]);

// Every spelling the WHATWG URL parser (the one fetch uses) turns into a refused address.
const refused: ReadonlyArray<readonly [string, RegExp]> = [
  // IPv4 loopback in every spelling
  ["http://127.0.0.1/", /loopback/],
  ["http://127.255.255.254:8080/x", /loopback/],
  ["http://2130706433/", /127\.0\.0\.1 is a loopback/],
  ["http://0x7f000001/", /127\.0\.0\.1 is a loopback/],
  ["http://0x7F.1/", /127\.0\.0\.1 is a loopback/],
  ["http://0177.0.0.1/", /127\.0\.0\.1 is a loopback/],
  ["http://017700000001/", /127\.0\.0\.1 is a loopback/],
  ["http://00000000000000177.1/", /127\.0\.0\.1 is a loopback/],
  ["http://127.1/", /127\.0\.0\.1 is a loopback/],
  ["http://127.0.1/", /127\.0\.0\.1 is a loopback/],
  ["http://0x7f.0x0.0x0.0x1/", /127\.0\.0\.1 is a loopback/],
  ["http://127.0.0.1./", /127\.0\.0\.1 is a loopback/],
  ["http://%31%32%37.0.0.1/", /127\.0\.0\.1 is a loopback/],
  ["http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", /127\.0\.0\.1 is a loopback/],
  ["http:127.0.0.1/", /loopback/],
  ["http:/127.0.0.1/", /loopback/],
  ["http://\t127.0.0.1/", /loopback/],
  ["http://127.0.0.1\\@example.com/", /loopback/],
  ["https://127.0.0.1:443/", /loopback/],
  // unspecified
  ["http://0/", /0\.0\.0\.0 is an unspecified/],
  ["http://0.0.0.0/", /unspecified/],
  ["http://0x0/", /unspecified/],
  // private, link-local (cloud metadata), CGNAT, special ranges
  ["http://10.0.0.1/", /10\.0\.0\.1 is a private/],
  ["http://012.1/", /10\.0\.0\.1 is a private/],
  ["http://167772161/", /10\.0\.0\.1 is a private/],
  ["http://172.16.0.1/", /private/],
  ["http://172.31.255.255/", /private/],
  ["http://192.168.1.1/", /private/],
  ["http://0300.0250.0.1/", /192\.168\.0\.1 is a private/],
  ["http://3232235521/", /192\.168\.0\.1 is a private/],
  ["http://169.254.169.254/latest/meta-data/", /link-local/],
  ["http://0xa9fea9fe/", /169\.254\.169\.254 is a link-local/],
  ["http://100.64.0.1/", /carrier-grade NAT/],
  ["http://100.127.255.254/", /carrier-grade NAT/],
  ["http://192.0.0.170/", /IETF protocol/],
  ["http://192.0.2.1/", /documentation/],
  ["http://192.88.99.1/", /192\.88\.99\.1 is a 6to4 relay anycast/],
  ["http://198.18.0.1/", /benchmarking/],
  ["http://198.51.100.7/", /documentation/],
  ["http://203.0.113.9/", /documentation/],
  ["http://224.0.0.1/", /multicast/],
  ["http://239.255.255.250/", /multicast/],
  ["http://240.0.0.1/", /reserved/],
  ["http://255.255.255.255/", /broadcast/],
  ["http://4294967295/", /255\.255\.255\.255 is a reserved or broadcast/],
  // IPv6
  ["http://[::1]/", /loopback/],
  ["http://[0:0:0:0:0:0:0:1]:8080/", /\[::1\] is the loopback/],
  ["http://[::]/", /unspecified/],
  ["http://[::ffff:127.0.0.1]/", /IPv4-mapped/],
  ["http://[::ffff:7f00:1]/", /IPv4-mapped/],
  ["http://[::ffff:8.8.8.8]/", /IPv4-mapped/],
  ["http://[::ffff:a9fe:a9fe]/", /IPv4-mapped/],
  ["http://[::127.0.0.1]/", /IPv4-compatible/],
  ["http://[::10.0.0.1]/", /IPv4-compatible/],
  ["http://[::2]/", /\[::2\] is an IPv4-compatible/],
  ["http://[::ffff:0:7f00:1]/", /IPv4-translated/],
  ["http://[64:ff9b::127.0.0.1]/", /NAT64 address embedding a loopback/],
  ["http://[64:ff9b::a9fe:a9fe]/", /NAT64 address embedding a link-local/],
  ["http://[64:ff9b:1::1]/", /local-use NAT64/],
  ["http://[2002:7f00:1::1]/", /6to4 address embedding a loopback/],
  ["http://[2002:c0a8:101::]/", /6to4 address embedding a private/],
  ["http://[2001::1]/", /Teredo/],
  ["http://[2001:db8::1]/", /documentation/],
  ["http://[100::1]/", /discard-only/],
  ["http://[fc00::1]/", /unique local/],
  ["http://[fd12:3456:789a::1]/", /unique local/],
  ["http://[fe80::1]/", /link-local/],
  ["http://[febf::1]/", /link-local/],
  ["http://[fec0::1]/", /site-local/],
  ["http://[ff02::1]/", /multicast/],
  ["http://[FF05::1:3]/", /multicast/],
  // loopback names
  ["http://localhost/", /loopback host name/],
  ["http://LOCALHOST:8787/", /loopback host name/],
  ["http://localhost./", /loopback host name/],
  ["http://localhost../", /loopback host name/],
  ["http://./", /loopback host name/],
  ["http://../", /loopback host name/],
  ["http://localhost%2e/", /loopback host name/],
  ["http://loc%61lhost/", /loopback host name/],
  ["http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/", /loopback host name/],
  ["http://api.localhost/", /loopback host name/],
  ["http://a.b.localhost./", /loopback host name/],
  ["http://localhost.localdomain/", /loopback host name/],
  ["http://ip6-localhost/", /loopback host name/],
  ["http://ip6-loopback/", /loopback host name/],
  // credentials
  ["http://user@example.com/", /credentials/],
  ["http://user:secret@example.com/", /credentials/],
  ["http://:secret@example.com/", /credentials/],
  ["https://example.com@127.0.0.1/", /credentials/],
  // schemes
  ["ftp://example.com/", /scheme ftp: is not allowed/],
  ["file:///etc/passwd", /scheme file:/],
  ["data:text/plain,hi", /scheme data:/],
  ["javascript:alert(1)", /scheme javascript:/],
  ["ws://example.com/", /scheme ws:/],
  ["blob:https://example.com/uuid", /scheme blob:/],
  ["gopher://example.com/", /scheme gopher:/],
];

const invalid = [
  "not a url",
  "/relative/path",
  "http://",
  "http://1.2.3.4.5/",
  "http://256.1/",
  "http://0x100000000/",
  "http://[fe80::1%25eth0]/",
  "http://[::1/",
  "",
];

const allowed = [
  "https://example.com/",
  "http://example.com:8080/path?q=1#frag",
  "https://api.example.com/users/1",
  "http://8.8.8.8/",
  "http://1.1.1.1:53/",
  "http://134744072/", // 8.8.8.8
  "http://172.32.0.1/", // just above 172.16/12
  "http://100.128.0.1/", // just above 100.64/10
  "http://192.169.0.1/",
  "http://11.0.0.1/",
  "https://[2606:4700:4700::1111]/",
  "http://[64:ff9b::808:808]/", // NAT64 of 8.8.8.8
  "http://[2002:808:808::1]/", // 6to4 of 8.8.8.8
  "https://localhost.example.com/", // a real name under a public domain
  "https://notlocalhost/",
  // IPv6 just outside a refused range: each refused prefix is exactly as long as its RFC says.
  "http://[2600:ff9b::7f00:1]/", // the NAT64 prefix's second word under another first word
  "http://[2600:ff9b:1::1]/",
  "http://[64:1::7f00:1]/", // 64:ff9b::/96 (NAT64) and 64:ff9b:1::/48 (local use) only
  "http://[64:1:1::1]/",
  "http://[64:ff9b:0:1::7f00:1]/",
  "http://[64:ff9b::1:0:7f00:1]/",
  "http://[64:ff9b::1:7f00:1]/",
  "http://[64:ff9b:2::1]/",
  "http://[100:1::1]/", // 100::/64 (discard) only
  "http://[100:0:1::1]/",
  "http://[100:0:0:1::1]/",
  "http://[2001:db9::1]/", // 2001:db8::/32 (documentation) only
  "http://[2600:db8::1]/",
  "http://[::1:0:0:1]/", // ::ffff:0:0/96 (IPv4-translated) only
  "http://[::ffff:1:7f00:1]/",
  "HTTPS://EXAMPLE.COM/",
];

describe("the outbound URL guard", () => {
  it.each(refused)("refuses %s as blocked", (url, why) => {
    const verdict = guard(url);
    expect(verdict.ok).toBe(false);
    expect(verdict).toMatchObject({ kind: "blocked" });
    expect(verdict.ok ? "" : verdict.reason).toMatch(why);
  });

  it.each(invalid)("refuses %j as invalid", (url) => {
    expect(guard(url)).toMatchObject({ ok: false, kind: "invalid", reason: "not a valid absolute URL" });
  });

  it.each(allowed)("allows %s", (url) => {
    const verdict = guard(url);
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.ok && verdict.url.href).toBe(new URL(url).href);
  });

  it("accepts a URL object as well as a string", () => {
    expect(guard(new URL("http://127.0.0.1/"))).toMatchObject({ ok: false, kind: "blocked" });
    expect(guard(new URL("https://example.com/"))).toMatchObject({ ok: true });
  });
});

describe("the FANOUT_ALLOW_HOSTS allowlist", () => {
  it("lets a listed host through on any port, whatever its spelling", () => {
    const g = createUrlGuard(["127.0.0.1"]);
    expect(g("http://127.0.0.1:9999/x")).toMatchObject({ ok: true });
    expect(g("http://2130706433:1234/")).toMatchObject({ ok: true });
    expect(g("https://0x7f.1/")).toMatchObject({ ok: true });
    // Only that host: the rest of loopback stays refused.
    expect(g("http://127.0.0.2/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("http://localhost/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("http://[::1]/")).toMatchObject({ ok: false, kind: "blocked" });
  });

  it("restricts a host:port entry to that port, counting default ports", () => {
    const g = createUrlGuard(["10.0.0.5:8080", "192.168.0.1:80", "[::1]:443", "LocalHost:3000"]);
    expect(g("http://10.0.0.5:8080/")).toMatchObject({ ok: true });
    expect(g("http://10.0.0.5:8081/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("http://10.0.0.5/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("http://192.168.0.1/")).toMatchObject({ ok: true });
    expect(g("https://192.168.0.1/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("https://[::1]/")).toMatchObject({ ok: true });
    expect(g("http://[::1]:80/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("http://localhost:3000/")).toMatchObject({ ok: true });
    expect(g("http://localhost:3001/")).toMatchObject({ ok: false, kind: "blocked" });
  });

  it("accepts bare IPv6 entries and non-canonical spellings of an entry", () => {
    const g = createUrlGuard(["::1", "0x7f.2"]);
    expect(g("http://[0:0::1]:1/")).toMatchObject({ ok: true });
    expect(g("http://127.0.0.2/")).toMatchObject({ ok: true });
  });

  it("never lets credentials or another scheme through, even for a listed host", () => {
    const g = createUrlGuard(["127.0.0.1"]);
    expect(g("http://u:p@127.0.0.1/")).toMatchObject({ ok: false, kind: "blocked" });
    expect(g("ftp://127.0.0.1/")).toMatchObject({ ok: false, kind: "blocked" });
  });

  it("says a host it let through was allowlisted, and refuses loopback without an allowlist", () => {
    const g = createUrlGuard(["127.0.0.1"]);
    expect(g("http://127.0.0.1/")).toEqual({ ok: true, url: new URL("http://127.0.0.1/"), allowlisted: true });
    expect(g("https://example.com/")).toEqual({ ok: true, url: new URL("https://example.com/") });
    expect(createUrlGuard()("http://127.0.0.1/")).toMatchObject({ ok: false, kind: "blocked" });
  });

  it("reads entries with spaces around them, bracketed IPv6 with or without a port, and the highest port", () => {
    const g = createUrlGuard([" 10.0.0.5:8080 ", "[::1]", "[fd00::1]:65535"]);
    expect(g("http://10.0.0.5:8080/")).toMatchObject({ ok: true });
    expect(g("http://[::1]:1234/")).toMatchObject({ ok: true });
    expect(g("http://[fd00::1]:65535/")).toMatchObject({ ok: true });
    expect(g("http://[fd00::1]:65534/")).toMatchObject({ ok: false, kind: "blocked" });
  });

  it("throws when the guard is built with a malformed entry", () => {
    for (const entry of ["h:x80", "h:80x", "a[::1]", "[::1]:80x", "[::1]x"]) {
      expect(() => createUrlGuard([entry]), entry).toThrow("FANOUT_ALLOW_HOSTS");
    }
    expect(() => createUrlGuard(["h:x80"])).toThrow('FANOUT_ALLOW_HOSTS: bad port in "h:x80"');
    expect(() => createUrlGuard(["127.0.0.1:99999"])).toThrow("FANOUT_ALLOW_HOSTS");
    expect(() => createUrlGuard(["host/path"])).toThrow("FANOUT_ALLOW_HOSTS");
    expect(() => createUrlGuard(["user@host"])).toThrow("FANOUT_ALLOW_HOSTS");
  });
});

describe("the demo's guard", () => {
  const demoGuard = () => demoUpstreamGuard(["127.0.0.1:8787", "93.184.215.14"]);
  const refusal = "demo calls go only to /demo/api/upstream/delay on a host FANOUT_ALLOW_HOSTS lists";

  it("lets through only /demo/api/upstream/delay on a listed host, with its query", () => {
    const demo = demoGuard();
    const url = "http://127.0.0.1:8787/demo/api/upstream/delay?ms=5";
    expect(demo(url)).toEqual({ ok: true, url: new URL(url), allowlisted: true });
    for (const other of [
      "http://127.0.0.1:8787/",
      "http://127.0.0.1:8787/demo/api/upstream",
      "http://127.0.0.1:8787/demo/api/upstream/delay/x",
      "http://93.184.215.14/v1/counters/c",
    ]) {
      expect(demo(other), other).toEqual({ ok: false, kind: "blocked", reason: refusal, url: new URL(other) });
    }
  });

  it("refuses the demo path on a public host FANOUT_ALLOW_HOSTS does not list", () => {
    const demo = demoGuard();
    const url = "https://example.com/demo/api/upstream/delay";
    expect(createUrlGuard(["127.0.0.1:8787"])(url)).toMatchObject({ ok: true });
    expect(demo(url)).toEqual({ ok: false, kind: "blocked", reason: refusal, url: new URL(url) });
  });

  it("keeps the URL guard's own refusal for what that refuses", () => {
    const demo = demoGuard();
    for (const url of ["http://127.0.0.1:8788/demo/api/upstream/delay", "ftp://127.0.0.1:8787/", "not a url"]) {
      expect(demo(url), url).toEqual(createUrlGuard(["127.0.0.1:8787"])(url));
      expect(demo(url), url).toMatchObject({ ok: false });
    }
  });
});

describe("parseIPv6", () => {
  it.each([
    ["::", [0, 0, 0, 0, 0, 0, 0, 0]],
    ["::1", [0, 0, 0, 0, 0, 0, 0, 1]],
    ["1::", [1, 0, 0, 0, 0, 0, 0, 0]],
    ["2001:db8::8:800:200c:417a", [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]],
    ["::ffff:127.0.0.1", [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]],
    ["1:2:3:4:5:6:7:8", [1, 2, 3, 4, 5, 6, 7, 8]],
  ])("parses %s", (text, words) => {
    expect(parseIPv6(text)).toEqual(words);
  });

  it.each(["1:2:3:4:5:6:7", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "::1.2.3.256"])("rejects %s", (text) => {
    expect(parseIPv6(text)).toBeUndefined();
  });
});
