/**
 * IP address literals as numbers: IPv4 in the canonical dotted-decimal form (the one the WHATWG URL parser and the
 * platform's CF-Connecting-IP header produce) as an unsigned 32-bit number, IPv6 as eight 16-bit words. Used by
 * the outbound URL guard and by the client address of a request.
 */

/**
 * An IPv4 address from its four octets, as an unsigned 32-bit number.
 *
 * @example
 * ip4(127, 0, 0, 1) // 2130706433
 */
export function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * The canonical dotted-decimal IPv4 form the WHATWG parser produces, as a number; undefined otherwise.
 *
 * @example
 * parseDottedIPv4("10.0.0.1") // 167772161; parseDottedIPv4("0x7f.1") // undefined
 */
export function parseDottedIPv4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  const [a, b, c, d] = parts as [number, number, number, number];
  return ip4(a, b, c, d);
}

/**
 * Parse an IPv6 address (no brackets, no zone) into eight 16-bit words; a dotted IPv4 tail is accepted.
 *
 * @example
 * parseIPv6("2001:db8::1") // [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]
 */
export function parseIPv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const v4 = parseDottedIPv4(tail[2] as string);
    if (v4 === undefined) return undefined;
    s = `${tail[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const words: number[] = [];
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
    words.push(Number.parseInt(g, 16));
  }
  return words;
}
