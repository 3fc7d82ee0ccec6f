/**
 * How a crawl reads a page and finds the next one, apart from any fetching (so every rule is unit-tested on plain
 * values): the `rel="next"` target of RFC 8288 Link headers, a cursor or next URL at an RFC 6901 JSON pointer in
 * the body, the items at a pointer, and the URL of a page number or a cursor.
 */
import { type Json, get as pointerGet } from "@hyperjump/json-pointer";
import { parseLinkHeader } from "./link-header";

/** What a page says about the next one: its URL, none (the crawl ends), or why it cannot be read. */
export type NextPage = { url: string } | { end: true } | { unreadable: string };

/**
 * The target of the first `rel="next"` link, resolved against the page's URL (after redirects), as RFC 8288 says:
 * several links in one header or across several headers (the runtime joins them with ", "), relation types
 * matched case-insensitively in a whitespace-separated list (`rel="next last"`), relative references resolved. A
 * link whose `anchor` names another resource than the page is about that resource, not the page, and is skipped.
 *
 * @example
 * nextLink('</items?page=3>; rel="next", </items?page=9>; rel="last"', "https://api.example.com/items?page=2")
 * // { url: "https://api.example.com/items?page=3" }
 */
export function nextLink(header: string | null, pageUrl: string): NextPage {
  const { links, rest } = parseLinkHeader(header ?? "");
  for (const { target, params } of links) {
    const rels = (params.get("rel") ?? "").toLowerCase().split(/[ \t]+/);
    if (!rels.includes("next")) continue;
    const anchor = params.get("anchor");
    if (anchor !== undefined && resolve(anchor, pageUrl) !== resolve("", pageUrl)) continue;
    const url = resolve(target, pageUrl);
    return url === undefined ? { unreadable: `its next link <${target}> is not a valid URL` } : { url };
  }
  return rest === "" ? { end: true } : { unreadable: `its Link header cannot be read from ${rest.slice(0, 64)}` };
}

/**
 * The next page named in a JSON body: a cursor (string or number) sent in the query parameter `param` of the first
 * page's URL, or, without `param`, the next page's URL itself (resolved against the page's URL). Null, absent or an
 * empty string ends the crawl.
 *
 * @example
 * nextFromBody({ meta: { next: "c2" } }, "/meta/next", "cursor", "https://api.example.com/items?limit=2", pageUrl)
 * // { url: "https://api.example.com/items?limit=2&cursor=c2" }
 */
export function nextFromBody(
  body: unknown,
  pointer: string,
  param: string | undefined,
  firstUrl: string,
  pageUrl: string,
): NextPage {
  if (!isJson(body)) return { unreadable: "its body is not a JSON object or array" };
  const value = at(body, pointer);
  if (value === undefined || value === null || value === "") return { end: true };
  if (typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value))) {
    return { unreadable: `the value at ${pointer || '""'} is ${describe(value)}, not a cursor (a string or number)` };
  }
  if (param !== undefined) return { url: withParam(firstUrl, param, String(value)) };
  const url = resolve(String(value), pageUrl);
  return url === undefined ? { unreadable: `the next URL ${String(value)} at ${pointer} is not a valid URL` } : { url };
}

/**
 * The items at `pointer`, or why there are none to read.
 *
 * @example
 * itemsAt({ data: [1, 2] }, "/data") // { items: [1, 2] }
 */
export function itemsAt(body: unknown, pointer: string): { items: unknown[] } | { unreadable: string } {
  if (!isJson(body)) return { unreadable: "its body is not a JSON object or array" };
  const value = at(body, pointer);
  if (!Array.isArray(value))
    return { unreadable: `the value at ${pointer || '""'} is ${describe(value)}, not an array` };
  return { items: value };
}

/**
 * `url` with the query parameter `name` set to `value` (replacing any value it had).
 *
 * @example
 * withParam("https://api.example.com/items?page=1&per_page=50", "page", "2")
 * // "https://api.example.com/items?page=2&per_page=50"
 */
export function withParam(url: string, name: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.href;
}

/** The value at an RFC 6901 pointer, or undefined where the document has nothing. */
function at(document: unknown, pointer: string): unknown {
  try {
    return pointerGet(pointer, document as Json);
  } catch {
    // A token that walks through null, a scalar or a missing member: nothing there.
    return undefined;
  }
}

function isJson(body: unknown): boolean {
  return typeof body === "object" && body !== null;
}

function describe(value: unknown): string {
  if (value === undefined) return "absent";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function resolve(reference: string, base: string): string | undefined {
  try {
    return new URL(reference, base).href;
  } catch {
    return undefined;
  }
}
