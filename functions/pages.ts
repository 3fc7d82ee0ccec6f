/**
 * POST /v1/pages: an upstream's pages fetched at the edge (`async for page in fetch_pages(...)`) — following Link
 * headers, a cursor in the body, or page numbers (fetched `prefetch` at a time) — answered as one JSON document,
 * or streamed page by page (`Accept: application/x-ndjson` or `text/event-stream`, as POST /v1/fanout), each time
 * in page order and closed by a summary saying why the crawl stopped.
 *
 * The work is the crawl engine's (src/pages/crawl.ts); this file owns the HTTP contract: validation, the limits
 * named by settings, the first URL's check, content negotiation, and tying the client's connection to the crawl.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { anySignal } from "../src/async";
import { checkHeaderLimits, createUrlGuard } from "../src/fanout";
import { checkFlow, closing, flowGate } from "../src/flow";
import { createApp, requireName, scope } from "../src/http/app";
import { streamableResponse, streamedResponse, streamingOf } from "../src/http/event-stream";
import { ownerOf } from "../src/http/owner";
import { overLimit, problem } from "../src/http/problem";
import { jsonBody, problemDocs, routesOf } from "../src/http/schemas";
import {
  type Crawl,
  crawl,
  crawlAll,
  PageSchema,
  type PagesRequest,
  PagesRequestSchema,
  PagesSummarySchema,
} from "../src/pages";
import { settings } from "../src/settings";

const route = routesOf("pages");

const example: z.input<typeof PagesRequestSchema> = {
  url: "https://api.github.com/repos/cloudflare/workerd/issues?per_page=100",
  next: "link",
  maxPages: 10,
  headers: { accept: "application/vnd.github+json" },
  timeoutMs: 5_000,
  deadlineMs: 30_000,
  retry: { attempts: 3, baseMs: 100, maxMs: 2_000 },
};

const PagesResponseSchema = z
  .object({ pages: z.array(PageSchema), summary: PagesSummarySchema })
  .openapi("PagesResponse");

const fetchPages = createRoute({
  ...route("post", "/", "fetchPages", "Fetch an upstream's pages, in page order"),
  ...scope("pages"),
  description:
    "Crawls a paginated upstream by `link` headers, a `cursor` in the body or `page` numbers (`prefetch` at once), " +
    "answering in page order: JSON `{pages, summary}`, or streamed like fan-out (`Accept: application/x-ndjson` or " +
    "`text/event-stream`). The summary's `stop` says why it ended. Page URLs pass the URL guard, and stay on the " +
    "first page's origin unless `allowCrossOrigin`.",
  request: { body: jsonBody(PagesRequestSchema, example) },
  responses: {
    200: streamableResponse(PagesResponseSchema, "The pages answered, in page order, and why the crawl stopped", {
      item: "Page",
      event: "page",
      order: "in page order",
    }),
    ...problemDocs,
  },
});

export const pagesApp = createApp().openapi(fetchPages, async (c) => {
  const s = settings(c.env);
  const spec = c.req.valid("json");
  const limits = crawlOf(spec, s.PAGES_MAX_PAGES, s.PAGES_MAX_PREFETCH);
  checkHeaderLimits([spec], s);
  checkFirstUrl(spec.url, s.FANOUT_ALLOW_HOSTS);
  checkFlow(spec.flow, c.env);
  if (spec.flow) requireName(c, "flow", spec.flow.key);
  const abort = new AbortController();
  const deadlineAt = Date.now() + spec.deadlineMs;
  // Every page of the crawl is a call under its flow key (one gate, up to `prefetch` permits).
  const gate =
    spec.flow &&
    flowGate(c.env, ownerOf(c), spec.flow, {
      holder: "pages",
      max: limits.prefetch,
      waitMs: () => deadlineAt - Date.now(),
    });
  const ctx = {
    signal: anySignal([c.req.raw.signal, abort.signal]),
    allowHosts: s.FANOUT_ALLOW_HOSTS,
    maxResponseBytes: s.FANOUT_MAX_RESPONSE_BYTES,
    gate,
  };
  const streaming = streamingOf(c.req.header("accept"));
  if (streaming) {
    return streamedResponse(closing(crawl(limits, ctx), gate), streaming, "page", (summary) => summary, abort);
  }
  try {
    return c.json(await crawlAll(limits, ctx), 200);
  } finally {
    await gate?.close();
  }
});

/** The crawl to run: `maxPages` defaults to, and may not exceed, PAGES_MAX_PAGES; `prefetch` is lowered to PAGES_MAX_PREFETCH. */
function crawlOf(spec: PagesRequest, maxPages: number, maxPrefetch: number): Crawl {
  if (spec.maxPages !== undefined && spec.maxPages > maxPages) {
    throw overLimit(
      "PAGES_MAX_PAGES",
      maxPages,
      `maxPages ${spec.maxPages} is above PAGES_MAX_PAGES (${maxPages}): one call fetches at most that many pages. ` +
        "Go on from the summary's `next` in another call.",
    );
  }
  return { ...spec, maxPages: spec.maxPages ?? maxPages, prefetch: Math.min(spec.prefetch, maxPrefetch) };
}

/** The first page's URL must pass the URL guard before anything starts (a malformed FANOUT_ALLOW_HOSTS throws here). */
function checkFirstUrl(url: string, allowHosts: readonly string[]): void {
  const verdict = createUrlGuard(allowHosts)(url);
  if (verdict.ok) return;
  const errors = [{ path: "url", message: verdict.reason }];
  if (verdict.kind === "invalid") {
    throw problem(400, `url: ${verdict.reason}.`, { type: "invalid-request", extensions: { errors } });
  }
  throw problem(400, `The url may not be called: ${verdict.reason}.`, { type: "url-blocked", extensions: { errors } });
}
