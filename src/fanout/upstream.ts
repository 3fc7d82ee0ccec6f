/**
 * One outbound call of a fan-out: the URL guard before any connection, redirects followed by hand (at most
 * `MAX_REDIRECTS` hops, each re-checked), the body read as a stream and cut at a byte cap (and at a budget shared by
 * the whole fan-out), bodies that will not be reported released (small ones read to the end, so the connection is
 * kept alive; large ones cancelled), and failures turned into an `UpstreamError` whose `kind` says what happened.
 * A hop to another origin carries only the headers known to be safe there (`safeAcrossOrigins`).
 */
import type { FanoutItem, FanoutOptions } from "./schema";
import type { UrlGuard } from "./url-guard";

const MAX_REDIRECTS = 5;
/**
 * A body that is not reported is read to the end when at most this much of it is left, and cancelled otherwise:
 * workerd drops the keep-alive connection of a cancelled body, so cancelling every small body costs a new TCP (and
 * TLS) connection per call.
 */
const DRAIN_MAX_BYTES = 64 * 1024;

export type FanoutErrorKind =
  | "timeout"
  | "deadline"
  | "aborted"
  | "network"
  | "blocked"
  | "too_large"
  | "invalid"
  | "status"
  | "flow_timeout";

/** A settled upstream answer with its body read (or not, as asked). */
export interface UpstreamResponse {
  /** The URL that answered, after redirects. */
  url: string;
  status: number;
  ok: boolean;
  headers: Record<string, string>;
  body: unknown;
  bytes: number;
  truncated: boolean;
  redirects: number;
}

/** Why a call failed. `status` errors carry the (retryable) response they gave; others may carry a Retry-After. */
export class UpstreamError extends Error {
  override readonly name = "UpstreamError";
  readonly kind: FanoutErrorKind;
  readonly response?: UpstreamResponse;
  readonly retryAfterMs?: number;

  constructor(
    kind: FanoutErrorKind,
    message: string,
    extra: { response?: UpstreamResponse; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.kind = kind;
    if (extra.response) this.response = extra.response;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }
}

/** Bytes the whole fan-out may still keep (`FANOUT_MAX_RESPONSE_BYTES`), shared by every call. */
export interface ByteBudget {
  remaining: number;
  readonly limit: number;
}

export interface CallOptions {
  signal: AbortSignal;
  guard: UrlGuard;
  maxBodyBytes: number;
  responseBody: FanoutOptions["responseBody"];
  budget?: ByteBudget;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/** The response headers a result reports. */
const REPORTED_HEADERS = [
  "content-type",
  "content-length",
  "etag",
  "last-modified",
  "cache-control",
  "expires",
  "age",
  "retry-after",
  "location",
] as const;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The request headers known to be safe on another origin: content negotiation, caching directives, a range, the
 * W3C trace context and the user agent. Any other header may be a credential (`X-Api-Key`, `PRIVATE-TOKEN`…).
 */
const CROSS_ORIGIN_SAFE: ReadonlySet<string> = new Set([
  "accept",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "content-language",
  "content-type",
  "pragma",
  "range",
  "traceparent",
  "tracestate",
  "user-agent",
]);

/**
 * Whether a request header may go to another origin than the one it was meant for (a redirect hop, a crawl's page
 * on another origin): only those known to be safe.
 *
 * @example
 * safeAcrossOrigins("Accept") // true; safeAcrossOrigins("X-Api-Key") // false
 */
export const safeAcrossOrigins = (name: string): boolean => CROSS_ORIGIN_SAFE.has(name.toLowerCase());

/**
 * Make one call (following redirects) and read its body.
 *
 * @example
 * const res = await callUpstream(item, { signal, guard, maxBodyBytes: 65_536, responseBody: "auto" });
 */
export async function callUpstream(item: FanoutItem, options: CallOptions): Promise<UpstreamResponse> {
  const verdict = options.guard(item.url);
  if (!verdict.ok)
    throw new UpstreamError(verdict.kind, `${verdict.kind === "blocked" ? "blocked: " : ""}${verdict.reason}`);
  let headers: Headers;
  try {
    headers = new Headers(item.headers);
  } catch (err) {
    throw new UpstreamError("invalid", `invalid request headers: ${messageOf(err)}`);
  }
  let body: string | null = null;
  if (item.body !== null) {
    if (item.method === "GET" || item.method === "HEAD")
      throw new UpstreamError("invalid", `a ${item.method} request cannot have a body`);
    if (typeof item.body === "string") body = item.body;
    else {
      body = JSON.stringify(item.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
  }
  const hop = await follow(verdict.url, { method: item.method, headers, body }, options);
  return await readResponse(hop.res, hop.url, hop.redirects, hop.method, options);
}

/** Where a call ended after its redirects: the answer that is not a redirect, at `url`, and how it was asked. */
interface Arrival {
  res: Response;
  url: URL;
  redirects: number;
  method: string;
}

/**
 * Call `url` and follow its redirects by hand (at most `MAX_REDIRECTS`): each hop passes the guard again, a 303 (and
 * a 301/302 after a POST) turns into a GET without a body, and a hop to another origin keeps only the headers known
 * to be safe there. The bodies of the redirects are released. `headers` is changed on the way.
 */
async function follow(
  start: URL,
  request: { method: string; headers: Headers; body: string | null },
  options: Pick<CallOptions, "signal" | "guard" | "fetch">,
): Promise<Arrival> {
  const doFetch = options.fetch ?? fetch;
  const { signal, guard } = options;
  let { method, body } = request;
  const { headers } = request;
  let url = start;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await doFetch(url.href, { method, headers, body, redirect: "manual", signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new UpstreamError("network", `the connection to ${url.host} failed: ${messageOf(err)}`);
    }
    const location = res.headers.get("location");
    if (!REDIRECT_STATUSES.has(res.status) || location === null) return { res, url, redirects: hop, method };
    await release(res, signal);
    if (hop >= MAX_REDIRECTS) throw new UpstreamError("invalid", `more than ${MAX_REDIRECTS} redirects`);
    const verdict = guard(resolve(location, url));
    if (!verdict.ok) {
      throw new UpstreamError(verdict.kind, `redirect ${hop + 1} to ${location}: ${verdict.reason}`);
    }
    // 303, and 301/302 after a POST, turn into a GET without a body (what browsers and undici do).
    if (res.status === 303 ? method !== "HEAD" : (res.status === 301 || res.status === 302) && method === "POST") {
      method = "GET";
      body = null;
      headers.delete("content-type");
    }
    // Headers meant for one origin do not follow a redirect to another, but for those known to be safe.
    if (verdict.url.origin !== url.origin) {
      for (const name of [...headers.keys()]) if (!safeAcrossOrigins(name)) headers.delete(name);
    }
    url = verdict.url;
  }
}

/** What `guardedFetch` sends: a replayable body (a redirect may send it again), never a stream. */
export interface GuardedInit {
  method?: string;
  headers?: HeadersInit;
  body?: string | null;
  signal?: AbortSignal;
}

/**
 * A `fetch` that goes only where `guard` lets it: the URL and every redirect hop are checked (followed by hand,
 * at most `MAX_REDIRECTS`), and a hop to another origin keeps only the headers known to be safe there. The answer's
 * body is the caller's to read. A refused URL or hop throws an `UpstreamError` of kind `blocked` or `invalid`; a
 * connection that fails, one of kind `network`.
 *
 * @example
 * const get = guardedFetch(createUrlGuard(settings.FANOUT_ALLOW_HOSTS));
 * const res = await get("https://example.com/file", { signal: AbortSignal.timeout(5_000) });
 */
export function guardedFetch(guard: UrlGuard, doFetch?: typeof fetch) {
  return async function guarded(input: string | URL, init: GuardedInit = {}): Promise<Response> {
    const verdict = guard(input);
    if (!verdict.ok)
      throw new UpstreamError(verdict.kind, `${verdict.kind === "blocked" ? "blocked: " : ""}${verdict.reason}`);
    let headers: Headers;
    try {
      headers = new Headers(init.headers);
    } catch (err) {
      throw new UpstreamError("invalid", `invalid request headers: ${messageOf(err)}`);
    }
    const method = (init.method ?? "GET").toUpperCase();
    const request = { method, headers, body: init.body ?? null };
    const signal = init.signal ?? new AbortController().signal;
    return (await follow(verdict.url, request, { signal, guard, ...(doFetch ? { fetch: doFetch } : {}) })).res;
  };
}

function resolve(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch {
    return location;
  }
}

/**
 * Let go of a body that will not be reported: read it to the end if it is small (`DRAIN_MAX_BYTES`, by its
 * content-length or by reading), so the connection can carry the next call, or cancel it. Never throws: the answer
 * has arrived, and a failure here only loses the connection. The attempt's signal stops the read.
 */
async function release(res: Response, signal: AbortSignal): Promise<void> {
  if (res.body === null) return;
  const length = framedLength(res);
  // Known to be small: read natively in one go (the attempt's signal, given to fetch, aborts it).
  if (length <= DRAIN_MAX_BYTES) await res.arrayBuffer().catch(() => {});
  else await drain(res.body.getReader(), signal, drainBound(length, 0));
}

/**
 * The body's length when its framing fixes it: a content-length and no content-encoding (workerd decodes gzip and
 * brotli into more bytes than the header says). NaN when unknown.
 */
function framedLength(res: Response): number {
  const encoding = res.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return Number.NaN;
  const length = res.headers.get("content-length")?.trim() ?? "";
  return /^\d{1,15}$/.test(length) ? Number(length) : Number.NaN;
}

/** How much more of a body of `length` bytes (NaN: unknown), `read` bytes into it, may be drained: -1 if too much. */
const drainBound = (length: number, read: number): number => (length - read > DRAIN_MAX_BYTES ? -1 : DRAIN_MAX_BYTES);

/** Read the rest of a stream if it is at most `max` bytes (cancelling it past that, or at once if `max` < 0). */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, signal: AbortSignal, max: number): Promise<void> {
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  if (max < 0 || signal.aborted) return cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for (let left = max; ; ) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) return;
      left -= value.byteLength;
      if (left < 0) return cancel();
    }
  } catch {
    // the body failed or was cancelled: nothing more to release
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}

async function readResponse(
  res: Response,
  url: URL,
  redirects: number,
  method: string,
  options: CallOptions,
): Promise<UpstreamResponse> {
  const headers: Record<string, string> = {};
  for (const name of REPORTED_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const base = { url: url.href, status: res.status, ok: res.ok, headers, redirects };
  if (options.responseBody === "none" || method === "HEAD" || res.body === null) {
    await release(res, options.signal);
    return { ...base, body: null, bytes: 0, truncated: false };
  }
  const length = framedLength(res);
  const room = Math.min(options.maxBodyBytes, options.budget ? options.budget.remaining : Number.POSITIVE_INFINITY);
  const { bytes, truncated } =
    length <= room ? await readFramed(res, length, options) : await readCapped(res.body, length, options);
  return {
    ...base,
    body: decode(bytes, truncated, res.headers.get("content-type"), options.responseBody),
    bytes: bytes.byteLength,
    truncated,
  };
}

/**
 * Read a body whose framing fixes its length within the caps natively, in one go: much cheaper in workerd than
 * chunk by chunk from JavaScript. Its bytes are taken from the shared budget before the read.
 */
async function readFramed(
  res: Response,
  length: number,
  { signal, budget }: CallOptions,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  if (budget) budget.remaining -= length;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    if (budget) budget.remaining += length;
    throw bodyFailed(err, signal);
  }
  if (budget) budget.remaining += length - bytes.byteLength;
  if (bytes.byteLength > length) {
    if (budget) budget.remaining += bytes.byteLength;
    throw new UpstreamError("invalid", `the response body is longer than its content-length (${length} bytes)`);
  }
  return { bytes, truncated: false };
}

/** What a failed body read is: the attempt's abort reason, or a network error. */
function bodyFailed(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  return new UpstreamError("network", `the response body failed: ${messageOf(err)}`);
}

/** Read a body stream up to the byte cap and the shared budget, releasing the rest. */
async function readCapped(
  stream: ReadableStream<Uint8Array>,
  length: number,
  { signal, maxBodyBytes, budget }: CallOptions,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const reader = stream.getReader();
  const onAbort = () => {
    reader.cancel(signal.reason).catch(() => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  let read = 0;
  let truncated = false;
  let overBudget = false;
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) break;
      read += value.byteLength;
      const room = Math.min(maxBodyBytes - size, budget ? budget.remaining : Number.POSITIVE_INFINITY);
      const keep = value.byteLength <= room ? value : value.subarray(0, Math.max(0, room));
      if (keep.byteLength > 0) chunks.push(keep);
      size += keep.byteLength;
      if (budget) budget.remaining -= keep.byteLength;
      if (keep.byteLength < value.byteLength) {
        if (size < maxBodyBytes) overBudget = true;
        else truncated = true;
        await drain(reader, signal, drainBound(length, read));
        break;
      }
    }
  } catch (err) {
    // A body that will not be reported gives its bytes back to the shared budget.
    if (budget) budget.remaining += size;
    throw bodyFailed(err, signal);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (overBudget && budget) {
    budget.remaining += size;
    throw new UpstreamError(
      "too_large",
      `the fan-out's response bodies together exceed FANOUT_MAX_RESPONSE_BYTES (${budget.limit} bytes)`,
    );
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return { bytes, truncated };
}

const TEXTUAL = /^(text\/|application\/(xml|javascript|x-www-form-urlencoded|x-ndjson|ecmascript)|[^;]*\+xml)/i;
const JSON_TYPE = /^(application\/json|application\/[^;]*\+json)\s*(;|$)/i;

function decode(
  bytes: Uint8Array,
  truncated: boolean,
  contentType: string | null,
  mode: CallOptions["responseBody"],
): unknown {
  const type = (contentType ?? "").trim();
  if (mode === "base64") return toBase64(bytes);
  if (mode === "text") return new TextDecoder().decode(bytes);
  if (mode === "json" || (mode === "auto" && JSON_TYPE.test(type))) {
    const text = new TextDecoder().decode(bytes);
    if (truncated) return text;
    try {
      return bytes.byteLength === 0 ? null : JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (TEXTUAL.test(type)) return new TextDecoder().decode(bytes);
  if (type === "") {
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      return toBase64(bytes);
    }
  }
  return toBase64(bytes);
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A `Retry-After` value (delay-seconds or an HTTP date) in ms from now, if it parses. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  // An HTTP-date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse alone accepts "-1".
  if (!/^[A-Za-z]{3},? /.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
