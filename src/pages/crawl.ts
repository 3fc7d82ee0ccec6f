/**
 * The crawl engine of POST /v1/pages: an async generator over an upstream's pages (`async for page in
 * fetch_pages(...)`), yielding each page in page order and returning a summary of why it stopped.
 *
 * - Each page is one fan-out call (src/fanout/engine.ts): the URL guard on it and every redirect, per-attempt
 *   timeouts, retries on the same statuses and errors, body caps, and one byte budget (FANOUT_MAX_RESPONSE_BYTES)
 *   shared by all pages.
 * - `link` and `cursor` crawls learn the next page from the page itself, so they fetch one page at a time; a
 *   page-number crawl knows its URLs in advance and keeps `prefetch` pages in flight (src/async/prefetch.ts),
 *   answering in page order; when an empty page ends it, the pages fetched beyond it are aborted and not reported.
 * - It stops at the end, at `maxPages`, at the deadline, on a failed page, on a next page already fetched (a loop),
 *   on a next page or a redirect on another origin (unless allowed), or when the caller's signal fires (a client
 *   disconnect). A page on another origin (allowed) gets only the headers known to be safe there.
 */
import { anySignal, prefetch, timer } from "../async";
import type { ByteBudget, CallGate, FanoutOptions, UrlGuard } from "../fanout";
import { createUrlGuard, type FanoutResult, fanoutAll, safeAcrossOrigins } from "../fanout";
import { itemsAt, type NextPage, nextFromBody, nextLink, withParam } from "./next";
import type { Page, PageErrorKind, PagesRequest, PagesSummary, StopReason } from "./schema";

/** A crawl to run: the request with `maxPages` and `prefetch` settled by the route (PAGES_MAX_PAGES…). */
export type Crawl = Omit<PagesRequest, "maxPages"> & { maxPages: number };

export interface CrawlContext {
  /** Stops the crawl and aborts what is in flight (a client disconnect: `request.signal`). */
  signal?: AbortSignal;
  /** `FANOUT_ALLOW_HOSTS`: loopback/private hosts that may be called anyway. */
  allowHosts: readonly string[];
  /** `FANOUT_MAX_RESPONSE_BYTES`: all page bodies together are capped at this. */
  maxResponseBytes: number;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  /** Admits each page's call (a flow key), shared by every page. */
  gate?: CallGate;
}

type PageError = NonNullable<PagesSummary["error"]>;

/** A page fetched and read, or why it could not be. */
type Fetched =
  | { page: Page; body: unknown; items: unknown[] | undefined; finalUrl: string; link: string | null }
  | { failed: { kind: PageErrorKind; message: string; status: number | null; body?: unknown } };

/**
 * Crawl the pages, yielding each in page order; the return value is the summary.
 *
 * @example
 * const pages = crawl({ ...PagesRequestSchema.parse(body), maxPages: 50 }, { allowHosts: [], maxResponseBytes: 10_485_760 });
 * for (let r = await pages.next(); ; r = await pages.next()) {
 *   if (r.done) { console.log(r.value.stop); break; }
 *   console.log(r.value.page, r.value.items);
 * }
 */
export async function* crawl(spec: Crawl, ctx: CrawlContext): AsyncGenerator<Page, PagesSummary, undefined> {
  const startedAt = Date.now();
  const deadline = timer(spec.deadlineMs, `deadline of ${spec.deadlineMs} ms exceeded`);
  const deadlineAt = startedAt + spec.deadlineMs;
  const scope = anySignal([ctx.signal, deadline.signal]);
  const budget: ByteBudget = { remaining: ctx.maxResponseBytes, limit: ctx.maxResponseBytes };
  const firstOrigin = new URL(spec.url).origin;
  const guard = createUrlGuard(ctx.allowHosts);
  // Headers meant for the first origin go to another only if known to be safe there.
  const elsewhereHeaders = Object.fromEntries(Object.entries(spec.headers).filter(([k]) => safeAcrossOrigins(k)));
  const { next } = spec;
  const byNumber = typeof next === "object" && "page" in next;
  const ahead = byNumber ? spec.prefetch : 1;
  const itemsPointer = spec.items ?? (byNumber ? "" : undefined);
  const readsJson = itemsPointer !== undefined || (typeof next === "object" && "cursor" in next);
  const options: Omit<FanoutOptions, "deadlineMs"> = {
    concurrency: 1,
    timeoutMs: spec.timeoutMs,
    retry: spec.retry,
    hedgeAfterMs: null,
    maxBodyBytes: spec.maxBodyBytes,
    responseBody: readsJson ? "json" : spec.responseBody,
  };
  let answered = 0;

  const summary = (stop: StopReason, detail: string, extra: { next?: string; error?: PageError } = {}) => ({
    pages: answered,
    stop,
    detail,
    ...extra,
    prefetch: ahead,
    durationMs: Date.now() - startedAt,
  });

  /** The stop for a page that did not come: the deadline, the client, or the page's own failure. */
  const stopped = (n: number, url: string, failed?: Extract<Fetched, { failed: unknown }>["failed"]) => {
    if (failed?.kind === "flow_timeout" || (deadline.signal.aborted && ctx.gate?.abandoned)) {
      const message = `deadlineMs (${spec.deadlineMs}) passed while page ${n} waited for its flow key's permit`;
      const error = { kind: "flow_timeout" as const, message, status: null, page: n, url };
      return summary("deadline", message, { next: url, error });
    }
    if (deadline.signal.aborted || failed?.kind === "deadline") {
      return summary("deadline", `deadlineMs (${spec.deadlineMs}) passed before page ${n} came`, { next: url });
    }
    if (ctx.signal?.aborted || failed === undefined || failed.kind === "aborted") {
      return summary("aborted", "the client went away", { next: url });
    }
    return summary("error", `page ${n} failed: ${failed.message}`, {
      next: url,
      error: { ...failed, page: n, url },
    });
  };

  const fetchPage = async (n: number, url: string, signal: AbortSignal): Promise<Fetched> => {
    const watch = watched(ctx.fetch);
    const headers = new URL(url).origin === firstOrigin ? spec.headers : elsewhereHeaders;
    // Without allowCrossOrigin every hop stays on the first origin: a redirect away is refused before it is followed.
    let away: URL | undefined;
    const confined: UrlGuard = (input) => {
      const verdict = guard(input);
      if (!verdict.ok || verdict.url.origin === firstOrigin) return verdict;
      away = verdict.url;
      return { ok: false, kind: "blocked", reason: "another origin", url: away };
    };
    const [r] = (await fanoutAll(
      [{ id: String(n), url, method: "GET", headers, body: null }],
      { ...options, deadlineMs: Math.max(1, deadlineAt - Date.now()) },
      {
        signal,
        allowHosts: ctx.allowHosts,
        guard: spec.allowCrossOrigin ? guard : confined,
        budget,
        fetch: watch.fetch,
        gate: ctx.gate,
      },
    )) as [FanoutResult];
    if (away && r.error?.kind === "blocked") {
      const message = `it redirects to ${away.href}, on ${away.origin}, not on the first page's origin ${firstOrigin}; allowCrossOrigin allows it`;
      return { failed: { kind: "cross_origin", message, status: null } };
    }
    return read(n, url, r, watch.seen, budget, itemsPointer);
  };

  try {
    if (typeof next === "object" && "page" in next) {
      const pageUrl = (i: number) => withParam(spec.url, next.page, String(next.start + i));
      const tasks = function* () {
        for (let i = 0; i < spec.maxPages; i++) yield (signal: AbortSignal) => fetchPage(i + 1, pageUrl(i), signal);
      };
      for await (const settled of prefetch(tasks(), { ahead, signal: scope })) {
        const n = settled.index + 1;
        if (settled.status === "rejected") {
          if (scope.aborted) return stopped(n, pageUrl(settled.index));
          throw settled.reason; // fetchPage settles every failure itself: this is a bug, for the error handler
        }
        const fetched = settled.value;
        if ("failed" in fetched) return stopped(n, pageUrl(settled.index), fetched.failed);
        if (fetched.items?.length === 0) return summary("end", `page ${n} is empty`);
        answered++;
        yield fetched.page;
      }
      return summary("maxPages", `maxPages (${spec.maxPages}) reached`, { next: pageUrl(spec.maxPages) });
    }

    const fetchedAt = new Map<string, number>();
    let url = new URL(spec.url).href;
    for (let n = 1; ; n++) {
      if (scope.aborted) return stopped(n, url);
      fetchedAt.set(url, n);
      const fetched = await fetchPage(n, url, scope);
      if ("failed" in fetched) return stopped(n, url, fetched.failed);
      answered++;
      yield fetched.page;
      const found: NextPage =
        next === "link"
          ? nextLink(fetched.link, fetched.finalUrl)
          : nextFromBody(fetched.body, next.cursor, next.param, spec.url, fetched.finalUrl);
      if ("end" in found) return summary("end", `page ${n} names no next page`);
      if ("unreadable" in found) {
        const message = `page ${n}: ${found.unreadable}`;
        return summary("error", message, {
          error: { kind: "format", message, page: n, url, status: fetched.page.status },
        });
      }
      if (n >= spec.maxPages) return summary("maxPages", `maxPages (${spec.maxPages}) reached`, { next: found.url });
      const before = fetchedAt.get(found.url);
      if (before !== undefined) {
        return summary("loop", `page ${n}'s next page is page ${before} again (${found.url})`, { next: found.url });
      }
      const origin = new URL(found.url).origin;
      if (origin !== firstOrigin && !spec.allowCrossOrigin) {
        const message = `page ${n + 1} (${found.url}) is on ${origin}, not on the first page's origin ${firstOrigin}; allowCrossOrigin allows it`;
        return summary("error", message, {
          next: found.url,
          error: { kind: "cross_origin", message, page: n + 1, url: found.url, status: null },
        });
      }
      url = found.url;
    }
  } finally {
    deadline.cancel();
  }
}

/**
 * Run the crawl and return every page and the summary.
 *
 * @example
 * const { pages, summary } = await crawlAll(spec, { signal: c.req.raw.signal, allowHosts: [], maxResponseBytes });
 */
export async function crawlAll(spec: Crawl, ctx: CrawlContext): Promise<{ pages: Page[]; summary: PagesSummary }> {
  const pages: Page[] = [];
  const it = crawl(spec, ctx);
  for (;;) {
    const r = await it.next();
    if (r.done) return { pages, summary: r.value };
    pages.push(r.value);
  }
}

/** A page's fan-out result, read as the crawl needs it. */
function read(
  n: number,
  url: string,
  r: FanoutResult,
  seen: Seen,
  budget: ByteBudget,
  itemsPointer: string | undefined,
): Fetched {
  if (r.outcome === "rejected" || r.status === null) {
    const kind = r.error?.kind ?? "network";
    const message =
      kind === "too_large"
        ? `its body would take the crawl's bodies past FANOUT_MAX_RESPONSE_BYTES (${budget.limit} bytes)`
        : (r.error?.message ?? "it failed");
    return { failed: { kind, message, status: r.status, ...(r.status === null ? {} : { body: r.body }) } };
  }
  if (r.status < 200 || r.status > 299) {
    return { failed: { kind: "status", message: `the upstream answered ${r.status}`, status: r.status, body: r.body } };
  }
  let items: unknown[] | undefined;
  if (itemsPointer !== undefined) {
    const found = itemsAt(r.body, itemsPointer);
    if ("unreadable" in found) {
      const cut = r.truncated ? ` (it was cut at maxBodyBytes, ${r.bytes} bytes)` : "";
      return { failed: { kind: "format", message: `${found.unreadable}${cut}`, status: r.status } };
    }
    items = found.items;
  }
  const page: Page = {
    page: n,
    url,
    status: r.status,
    ...(items === undefined ? { body: r.body } : { items }),
    bytes: r.bytes,
    truncated: r.truncated,
    attempts: r.attempts,
    durationMs: r.durationMs,
  };
  return { page, body: r.body, items, finalUrl: seen.url ?? url, link: seen.link };
}

interface Seen {
  url: string | undefined;
  link: string | null;
}

/**
 * A fetch that notes the URL and Link header of the last response it saw go by: for a page, the answer after
 * redirects, whose Link header names the next page and whose URL relative links resolve against (an upstream call
 * reports neither).
 */
function watched(base: typeof fetch | undefined): { fetch: typeof fetch; seen: Seen } {
  const seen: Seen = { url: undefined, link: null };
  const call = base ?? fetch;
  const watching = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const res = await call(input, init);
    seen.url = input instanceof Request ? input.url : String(input);
    seen.link = res.headers.get("link");
    return res;
  };
  return { fetch: watching as typeof fetch, seen };
}
