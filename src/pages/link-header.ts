/**
 * The `Link` header field (RFC 8288), parsed with the algorithm of its Appendix B: links `<target>; name=value;
 * name="quoted, value"`, separated by commas, parameters without a value allowed, names case-insensitive, a
 * parameter's first occurrence kept. As that algorithm says, parsing stops (keeping the links read so far) at the
 * first thing that is not a link; `rest` tells what was left unread.
 *
 * Written here rather than taken from npm: http-link-header 1.1.4, the common choice, reads a valueless parameter
 * (`</a>; rel="last"; crossorigin, </b>; rel="next"`) by running on to the next `=`, losing the links after it, and
 * costs 4 KiB of the bundle where this is under 1.
 */

export interface Link {
  /** The target as written (a URI reference: resolve it against the response's URL). */
  target: string;
  /** Parameters by lowercased name: the first occurrence of each, "" for one without a value. */
  params: Map<string, string>;
}

const OWS = /^[ \t]*/;

/**
 * @example
 * parseLinkHeader('</items?page=3>; rel="next", </items?page=9>; rel=last').links.map((l) => l.params.get("rel"))
 * // ["next", "last"]
 */
export function parseLinkHeader(value: string): { links: Link[]; rest: string } {
  const links: Link[] = [];
  let s = value;
  const skip = (re: RegExp) => {
    s = s.replace(re, "");
  };
  for (;;) {
    skip(/^[ \t,]*/);
    if (!s.startsWith("<")) break;
    const end = s.indexOf(">");
    if (end < 0) break;
    const link: Link = { target: s.slice(1, end), params: new Map() };
    s = s.slice(end + 1);
    for (;;) {
      skip(OWS);
      if (!s.startsWith(";")) break;
      s = s.slice(1);
      skip(OWS);
      const name = /^[^ \t=;,]*/.exec(s)?.[0] ?? "";
      s = s.slice(name.length);
      skip(OWS);
      let param = "";
      if (s.startsWith("=")) {
        s = s.slice(1);
        skip(OWS);
        if (s.startsWith('"')) {
          // A quoted string: a backslash takes the next character as it is.
          let i = 1;
          for (; i < s.length && s[i] !== '"'; i++) param += s[i] === "\\" ? (s[++i] ?? "") : s[i];
          s = s.slice(i + 1);
        } else {
          param = /^[^;,]*/.exec(s)?.[0] ?? "";
          s = s.slice(param.length);
        }
      }
      const key = name.toLowerCase();
      if (!link.params.has(key)) link.params.set(key, param);
    }
    links.push(link);
    skip(OWS);
    if (!s.startsWith(",")) break;
  }
  return { links, rest: s.trim() };
}
