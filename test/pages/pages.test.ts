import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Page, PagesSummary } from "../../src/pages/schema";
import { type CallInit, send } from "../helpers/api";
import { FrameReader } from "../helpers/frames";
import { newGate, newKey, stats, statsWhen, UPSTREAM } from "../helpers/upstream";

const OTHER = inject("otherUpstream");
const port = new URL(UPSTREAM).port;

type Body = { pages: Page[]; summary: PagesSummary };

/** A paginated collection on the loopback upstream (bench/lib/upstream.ts, GET /pages). */
function collection(params: Record<string, string | number>, base = UPSTREAM): string {
  const url = new URL("/pages", base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.href;
}

/** The URL the crawl asks for as page `n` of a collection, as the upstream's own links name it. */
function pageOf(first: string, name: string, value: string): string {
  const url = new URL(first);
  url.searchParams.set(name, value);
  return url.href;
}

const post = (body: unknown, init?: CallInit) => send("POST", "/v1/pages", body, init);

async function crawl(body: unknown): Promise<Body> {
  const res = await post(body);
  expect(res.status).toBe(200);
  return res.json<Body>();
}

/** POST /v1/pages with some settings overridden. */
const postWithSettings = (vars: Record<string, string>, body: unknown) => post(body, { vars });

const ids = (pages: Page[]) => pages.flatMap((p) => (p.items ?? []).map((i) => (i as { id: number }).id));

describe("POST /v1/pages: next link (RFC 8288)", () => {
  it("follows rel=next across two Link headers with several rels, relative links and 'next last', in page order", async () => {
    const key = newKey();
    const first = collection({ style: "link", total: 4, key });
    const { pages, summary } = await crawl({ url: first, next: "link", items: "/data" });
    expect(pages.map((p) => [p.page, p.url, p.status])).toEqual([
      [1, first, 200],
      [2, pageOf(first, "page", "2"), 200],
      [3, pageOf(first, "page", "3"), 200],
      [4, pageOf(first, "page", "4"), 200],
    ]);
    expect(ids(pages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(pages[0]).toMatchObject({ attempts: 1, truncated: false, bytes: expect.any(Number) });
    expect(pages[0]).not.toHaveProperty("body");
    expect(summary).toMatchObject({ pages: 4, stop: "end", detail: "page 4 names no next page", prefetch: 1 });
    expect(summary).not.toHaveProperty("next");
    expect((await stats(key)).hits).toBe(4);
  });

  it("reports each page's body when no items pointer is given", async () => {
    const { pages } = await crawl({ url: collection({ style: "link", total: 2 }), next: "link" });
    expect(pages.map((p) => p.body)).toEqual([
      { page: 1, data: [{ id: 1 }, { id: 2 }] },
      { page: 2, data: [{ id: 3 }, { id: 4 }] },
    ]);
  });

  it("stops at maxPages and names the next page to go on from", async () => {
    const key = newKey();
    const first = collection({ style: "link", total: 10, key });
    const { pages, summary } = await crawl({ url: first, next: "link", maxPages: 3 });
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(summary).toMatchObject({ pages: 3, stop: "maxPages", next: pageOf(first, "page", "4") });
    expect((await stats(key)).hits).toBe(3);
  });

  it("stops and reports a loop when a next link comes back to a page already fetched", async () => {
    const key = newKey();
    const first = collection({ style: "link", total: 3, loopTo: 2, key });
    const { pages, summary } = await crawl({ url: first, next: "link" });
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(summary).toMatchObject({
      stop: "loop",
      next: pageOf(first, "page", "2"),
      detail: `page 3's next page is page 2 again (${pageOf(first, "page", "2")})`,
    });
    expect((await stats(key)).hits).toBe(3);
  });

  it("refuses a next page on another origin without allowCrossOrigin, before connecting to it", async () => {
    const key = newKey();
    const elsewhere = collection({ style: "link", key }, OTHER);
    const { pages, summary } = await crawl({ url: collection({ style: "link", nextUrl: elsewhere }), next: "link" });
    expect(pages).toHaveLength(1);
    expect(summary).toMatchObject({
      stop: "error",
      next: elsewhere,
      error: { kind: "cross_origin", page: 2, url: elsewhere, status: null },
    });
    expect(summary.error?.message).toContain("allowCrossOrigin");
    expect((await stats(key, OTHER)).hits).toBe(0);
  });

  it("follows it with allowCrossOrigin, sending there only the headers known to be safe", async () => {
    const key = newKey();
    const elsewhere = new URL(`/r?echo=1&key=${key}`, OTHER).href;
    const { pages, summary } = await crawl({
      url: collection({ style: "link", nextUrl: elsewhere }),
      next: "link",
      allowCrossOrigin: true,
      headers: {
        Authorization: "Bearer upstream-secret",
        cookie: "s=1",
        "X-Api-Key": "k-secret",
        "PRIVATE-TOKEN": "p-secret",
        "x-trace": "t-1",
        accept: "application/json",
      },
    });
    expect(pages.map((p) => p.url)).toEqual([expect.stringContaining(UPSTREAM), elsewhere]);
    const echoed = (pages[1]?.body as { headers: Record<string, string> } | undefined)?.headers ?? {};
    expect(echoed.accept).toBe("application/json");
    for (const name of ["authorization", "cookie", "x-api-key", "private-token", "x-trace"]) {
      expect(echoed, name).not.toHaveProperty(name);
    }
    expect(summary).toMatchObject({ pages: 2, stop: "end" });
    expect((await stats(key, OTHER)).hits).toBe(1);
  });

  it("without allowCrossOrigin, refuses a redirect that leaves the first origin, the first page's included", async () => {
    const key = newKey();
    const elsewhere = collection({ style: "link", key }, OTHER);
    const first = new URL(`/r?redirect=${encodeURIComponent(elsewhere)}`, UPSTREAM).href;
    const { pages, summary } = await crawl({ url: first, next: "link" });
    expect(pages).toEqual([]);
    expect(summary).toMatchObject({ pages: 0, stop: "error", error: { kind: "cross_origin", page: 1, url: first } });
    expect(summary.error?.message).toContain(new URL(OTHER).origin);
    // A later page redirected away is refused alike.
    const second = new URL(`/r?redirect=${encodeURIComponent(elsewhere)}`, UPSTREAM).href;
    const later = await crawl({ url: collection({ style: "link", nextUrl: second }), next: "link" });
    expect(later.pages).toHaveLength(1);
    expect(later.summary).toMatchObject({ stop: "error", error: { kind: "cross_origin", page: 2, url: second } });
    expect((await stats(key, OTHER)).hits).toBe(0);
  });

  it("refuses a next link to a private, metadata or loopback-spelled address before connecting", async () => {
    const key = newKey();
    for (const target of [
      "http://169.254.169.254/latest/meta-data/",
      `http://[::ffff:127.0.0.1]:${port}/pages?key=${key}`,
      `http://localhost:${port}/pages?key=${key}`,
    ]) {
      const { pages, summary } = await crawl({
        url: collection({ style: "link", nextUrl: target }),
        next: "link",
        allowCrossOrigin: true,
      });
      expect(pages, target).toHaveLength(1);
      expect(summary, target).toMatchObject({ stop: "error", error: { kind: "blocked", page: 2, status: null } });
    }
    expect((await stats(key)).hits).toBe(0);
  });
});

describe("POST /v1/pages: cursor", () => {
  it("sends the cursor at the pointer in the parameter until it is null", async () => {
    const key = newKey();
    const first = collection({ style: "cursor", total: 3, key });
    const { pages, summary } = await crawl({
      url: first,
      next: { cursor: "/meta/next_cursor", param: "cursor" },
      items: "/data",
    });
    expect(pages.map((p) => p.url)).toEqual([first, pageOf(first, "cursor", "c2"), pageOf(first, "cursor", "c3")]);
    expect(ids(pages)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(summary).toMatchObject({ pages: 3, stop: "end" });
    expect((await stats(key)).hits).toBe(3);
  });

  it("follows a next URL in the body, relative to the page, when no parameter is named", async () => {
    const first = collection({ style: "cursor", total: 3 });
    const { pages, summary } = await crawl({ url: first, next: { cursor: "/links/next" }, items: "/data" });
    expect(pages.map((p) => p.url)).toEqual([first, pageOf(first, "cursor", "c2"), pageOf(first, "cursor", "c3")]);
    expect(summary.stop).toBe("end");
  });

  it("stops and reports a cursor that loops back to a page already fetched", async () => {
    const key = newKey();
    const first = collection({ style: "cursor", total: 3, loopTo: 2, key });
    const { pages, summary } = await crawl({ url: first, next: { cursor: "/meta/next_cursor", param: "cursor" } });
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(summary).toMatchObject({ pages: 3, stop: "loop", next: pageOf(first, "cursor", "c2") });
    expect((await stats(key)).hits).toBe(3);
  });

  it("ends with a format error when the cursor is not a string or number", async () => {
    const { pages, summary } = await crawl({
      url: collection({ style: "cursor", total: 3 }),
      next: { cursor: "/data", param: "cursor" },
    });
    expect(pages).toHaveLength(1);
    expect(summary).toMatchObject({
      stop: "error",
      error: {
        kind: "format",
        page: 1,
        message: "page 1: the value at /data is an array, not a cursor (a string or number)",
      },
    });
  });
});

describe("POST /v1/pages: page numbers", () => {
  it("counts the parameter up from start and stops at the first empty page, which it does not report", async () => {
    const key = newKey();
    const first = collection({ style: "page", total: 3, key });
    const { pages, summary } = await crawl({ url: first, next: { page: "page", start: 2 }, items: "/data" });
    expect(pages.map((p) => [p.page, p.url])).toEqual([
      [1, pageOf(first, "page", "2")],
      [2, pageOf(first, "page", "3")],
    ]);
    expect(ids(pages)).toEqual([3, 4, 5, 6]);
    expect(summary).toMatchObject({ pages: 2, stop: "end", detail: "page 3 is empty" });
    expect((await stats(key)).hits).toBe(3);
  });

  it("fetches `prefetch` pages at once and still answers in page order when later pages come first", async () => {
    const key = newKey();
    const base = crypto.randomUUID();
    const gate = (n: number) => newGate(UPSTREAM, `${base}-${n}`);
    const first = collection({ style: "page", total: 3, key, gate: `${base}-{page}` });
    const pending = crawl({ url: first, next: { page: "page" }, items: "/data", prefetch: 3 });
    try {
      // Pages 1, 2 and 3 are asked for at once; 3 and 2 are let through before 1.
      for (const n of [1, 2, 3]) expect(await gate(n).waiting(1)).toMatchObject({ waiting: 1 });
      await gate(3).open();
      await gate(2).open();
      expect(await statsWhen(key, (s) => s.completed === 2)).toMatchObject({ completed: 2, inFlight: 1 });
      await gate(1).open();
      for (const n of [4, 5, 6]) await gate(n).open();
      const { pages, summary } = await pending;
      expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
      expect(ids(pages)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(summary).toMatchObject({ pages: 3, stop: "end", prefetch: 3 });
    } finally {
      for (const n of [1, 2, 3, 4, 5, 6]) await gate(n).open();
    }
  });

  it("aborts the pages prefetched beyond the empty page that ends the crawl, and reports none of them", async () => {
    const key = newKey();
    const base = crypto.randomUUID();
    const gate = (n: number) => newGate(UPSTREAM, `${base}-${n}`);
    const first = collection({ style: "page", total: 5, key, gate: `${base}-{page}`, gateFrom: 6 });
    const pending = crawl({ url: first, next: { page: "page" }, items: "/data", prefetch: 3 });
    try {
      // Page 6 (the first empty one) and the two fetched ahead of it are all asked for before page 6 answers.
      for (const n of [6, 7, 8]) expect(await gate(n).waiting(1)).toMatchObject({ waiting: 1 });
      await gate(6).open();
      const { pages, summary } = await pending;
      expect(pages.map((p) => p.page)).toEqual([1, 2, 3, 4, 5]);
      expect(summary).toMatchObject({ pages: 5, stop: "end", detail: "page 6 is empty" });
      // 7 and 8 were aborted while held; nothing past them was asked for.
      expect(await statsWhen(key, (s) => s.aborted === 2)).toMatchObject({ hits: 8, aborted: 2, inFlight: 0 });
    } finally {
      for (const n of [6, 7, 8]) await gate(n).open();
    }
  });

  it("never fetches past maxPages, prefetch or not", async () => {
    const key = newKey();
    const first = collection({ style: "page", total: 10, key });
    const { pages, summary } = await crawl({
      url: first,
      next: { page: "page" },
      items: "/data",
      maxPages: 4,
      prefetch: 3,
    });
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3, 4]);
    expect(summary).toMatchObject({ stop: "maxPages", next: pageOf(first, "page", "5") });
    expect((await stats(key)).hits).toBe(4);
  });

  it("ends with a format error when the items are not an array", async () => {
    const { pages, summary } = await crawl({ url: collection({ style: "page" }), next: { page: "page" } });
    expect(pages).toEqual([]);
    expect(summary).toMatchObject({
      stop: "error",
      error: { kind: "format", page: 1, status: 200, message: 'the value at "" is an object, not an array' },
    });
  });
});

describe("POST /v1/pages: failures, retries and limits", () => {
  it("retries a page that fails, then goes on", async () => {
    const key = newKey();
    const { pages, summary } = await crawl({
      url: collection({ style: "link", total: 3, failPage: 2, key }),
      next: "link",
      retry: { attempts: 3, baseMs: 1, maxMs: 5 },
    });
    expect(pages.map((p) => [p.page, p.attempts])).toEqual([
      [1, 1],
      [2, 2],
      [3, 1],
    ]);
    expect(summary.stop).toBe("end");
    expect((await stats(key)).hits).toBe(4);
  });

  it("stops with an error on a page that fails when retries are not asked for, naming the page to go on from", async () => {
    const first = collection({ style: "link", total: 3, failPage: 2, key: newKey() });
    const { pages, summary } = await crawl({ url: first, next: "link" });
    expect(pages).toHaveLength(1);
    expect(summary).toMatchObject({
      stop: "error",
      next: pageOf(first, "page", "2"),
      error: { kind: "status", page: 2, status: 503, body: { ok: false, page: 2 } },
    });
  });

  it("does not retry a 404 page", async () => {
    const key = newKey();
    const { summary } = await crawl({
      url: collection({ style: "page", failPage: 2, failStatus: 404, key }),
      next: { page: "page" },
      items: "/data",
      retry: { attempts: 3, baseMs: 1, maxMs: 5 },
    });
    expect(summary).toMatchObject({ pages: 1, stop: "error", error: { kind: "status", status: 404 } });
    expect((await stats(key)).hits).toBe(2);
  });

  it("stops at the deadline with the pages answered so far, aborting the page in flight", async () => {
    const key = newKey();
    const gate = newGate();
    const first = collection({ style: "link", total: 5, key, gate: gate.name, gateFrom: 3 });
    try {
      const { pages, summary } = await crawl({ url: first, next: "link", deadlineMs: 300 });
      expect(pages.map((p) => p.page)).toEqual([1, 2]);
      expect(summary).toMatchObject({ pages: 2, stop: "deadline", next: pageOf(first, "page", "3") });
      expect(await statsWhen(key, (s) => s.aborted === 1)).toMatchObject({ hits: 3, aborted: 1 });
    } finally {
      await gate.open();
    }
  });

  it("caps all page bodies together at FANOUT_MAX_RESPONSE_BYTES", async () => {
    const res = await postWithSettings(
      { FANOUT_MAX_RESPONSE_BYTES: "1500" },
      { url: collection({ style: "link", total: 3, per: 100 }), next: "link" },
    );
    const { pages, summary } = await res.json<Body>();
    expect(pages).toHaveLength(1);
    expect(summary).toMatchObject({ stop: "error", error: { kind: "too_large", page: 2 } });
    expect(summary.error?.message).toContain("FANOUT_MAX_RESPONSE_BYTES (1500 bytes)");
  });

  it("fetches PAGES_MAX_PAGES pages without maxPages, and refuses a maxPages above it with 400, calling nothing", async () => {
    const key = newKey();
    const url = collection({ style: "link", total: 10, key });
    const res = await postWithSettings({ PAGES_MAX_PAGES: "3" }, { url, next: "link" });
    expect((await res.json<Body>()).summary).toMatchObject({ pages: 3, stop: "maxPages" });
    const refused = await postWithSettings({ PAGES_MAX_PAGES: "3" }, { url, next: "link", maxPages: 4 });
    expect(refused.status).toBe(400);
    const problem = await refused.json<{ limit: string; max: number; detail: string }>();
    expect(problem).toMatchObject({ limit: "PAGES_MAX_PAGES", max: 3 });
    expect(problem.detail).toContain("PAGES_MAX_PAGES");
    expect((await stats(key)).hits).toBe(3);
  });

  it("lowers prefetch to PAGES_MAX_PREFETCH", async () => {
    const key = newKey();
    const gate = newGate();
    const pending = postWithSettings(
      { PAGES_MAX_PREFETCH: "2" },
      {
        url: collection({ style: "page", total: 6, key, gate: gate.name }),
        next: { page: "page" },
        items: "/data",
        prefetch: 8,
      },
    );
    try {
      expect(await gate.waiting(2)).toMatchObject({ waiting: 2 });
    } finally {
      await gate.open();
    }
    const { summary } = await (await pending).json<Body>();
    expect(summary).toMatchObject({ pages: 6, stop: "end", prefetch: 2 });
    expect((await stats(key)).maxInFlight).toBe(2);
  });

  it.each([
    ["prefetch with a link crawl", { next: "link", prefetch: 2 }, "prefetch"],
    [
      "a text body with a cursor crawl",
      { next: { cursor: "/next", param: "c" }, responseBody: "text" },
      "responseBody",
    ],
    ["a base64 body with items", { next: "link", items: "/data", responseBody: "base64" }, "responseBody"],
    ["an unknown next style", { next: "offset" }, "next"],
    ["a pointer without its leading slash", { next: { cursor: "meta/next", param: "c" } }, "next"],
    ["a pointer with a bare ~", { next: "link", items: "/a~2b" }, "items"],
    ["an unknown field", { next: "link", method: "POST" }, ""],
    ["a forbidden header", { next: "link", headers: { host: "x" } }, "headers"],
  ])("refuses %s with 400 and calls nothing", async (_what, fields, path) => {
    const key = newKey();
    const res = await post({ url: collection({ style: "link", key }), ...fields });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const problem = await res.json<{ errors: Array<{ path: string }> }>();
    expect(problem.errors.some((e) => e.path.startsWith(path))).toBe(true);
    expect((await stats(key)).hits).toBe(0);
  });

  it.each([
    ["without next", {}],
    ["with an unknown next", { next: "links" }],
  ])("tells a crawl %s which forms next takes", async (_what, fields) => {
    const key = newKey();
    const res = await post({ url: collection({ style: "link", key }), ...fields });
    expect(res.status).toBe(400);
    const problem = await res.json<{ detail: string; errors: Array<{ path: string; message: string }> }>();
    const forms =
      'must be "link" (the Link header), {"cursor": "/json/pointer", "param"?: "name"} (a cursor in each JSON page) ' +
      'or {"page": "name", "start"?: 1} (a page-number parameter)';
    expect(problem.errors).toEqual([{ path: "next", message: forms }]);
    expect(problem.detail).toBe(`The request body is invalid: next: ${forms}`);
    expect((await stats(key)).hits).toBe(0);
  });

  it("refuses a first URL the guard blocks with 400 url-blocked, calling nothing", async () => {
    const key = newKey();
    const res = await post({ url: `http://localhost:${port}/pages?key=${key}`, next: "link" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "urn:edgeloop:problem:url-blocked",
      errors: [{ path: "url", message: expect.stringContaining("loopback") }],
    });
    expect((await stats(key)).hits).toBe(0);
  });
});

describe("POST /v1/pages: streaming and disconnects", () => {
  it("streams each page as an NDJSON line as it comes, in page order, then the summary", async () => {
    const gate = newGate();
    try {
      const res = await post(
        { url: collection({ style: "link", total: 3, gate: gate.name, gateFrom: 2 }), next: "link", items: "/data" },
        { headers: { accept: "application/x-ndjson" } },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/x-ndjson");
      const frames = new FrameReader(res.body as ReadableStream<Uint8Array>);
      // Page 1 arrives while page 2 is held at its gate.
      expect(JSON.parse((await frames.next()) as string)).toMatchObject({ page: 1, items: [{ id: 1 }, { id: 2 }] });
      expect(await gate.waiting(1)).toMatchObject({ waiting: 1 });
      await gate.open();
      const rest = (await frames.rest()).map((l) => JSON.parse(l));
      expect(rest.map((l) => l.page ?? "summary")).toEqual([2, 3, "summary"]);
      expect(rest[2]).toMatchObject({ summary: { pages: 3, stop: "end" } });
    } finally {
      await gate.open();
    }
  });

  it("streams server-sent events: page, page, summary", async () => {
    const res = await post(
      { url: collection({ style: "page", total: 2 }), next: { page: "page" }, items: "/data" },
      { headers: { accept: "text/event-stream" } },
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = await new FrameReader(res.body as ReadableStream<Uint8Array>, "\n\n").rest();
    expect(events.map((e) => e.split("\n")[0])).toEqual(["event: page", "event: page", "event: summary"]);
    const data = events.map((e) => JSON.parse((e.split("\n")[1] as string).slice("data: ".length)));
    expect(data[1]).toMatchObject({ page: 2, items: [{ id: 3 }, { id: 4 }] });
    expect(data[2]).toMatchObject({ pages: 2, stop: "end" });
  });

  it("stops the crawl when a streaming client cancels: the page in flight is aborted and no page follows", async () => {
    const key = newKey();
    const gate = newGate();
    try {
      const res = await post(
        { url: collection({ style: "link", total: 5, key, gate: gate.name, gateFrom: 3 }), next: "link" },
        { headers: { accept: "application/x-ndjson" } },
      );
      const frames = new FrameReader(res.body as ReadableStream<Uint8Array>);
      expect(JSON.parse((await frames.next()) as string)).toMatchObject({ page: 1 });
      expect(JSON.parse((await frames.next()) as string)).toMatchObject({ page: 2 });
      expect(await gate.waiting(1)).toMatchObject({ waiting: 1 });
      await frames.cancel();
      expect(await statsWhen(key, (s) => s.aborted === 1)).toMatchObject({ hits: 3, aborted: 1, inFlight: 0 });
      // Opening the gate now lets nothing through: the crawl asked for no fourth page.
      expect(await gate.open()).toMatchObject({ freed: 0 });
      expect((await stats(key)).hits).toBe(3);
    } finally {
      await gate.open();
    }
  });

  it("stops a prefetching crawl when the client goes away: every page in flight is aborted", async () => {
    const key = newKey();
    const gate = newGate();
    const controller = new AbortController();
    try {
      const pending = post(
        {
          url: collection({ style: "page", total: 20, key, gate: gate.name }),
          next: { page: "page" },
          items: "/data",
          prefetch: 4,
        },
        { signal: controller.signal },
      );
      expect(await gate.waiting(4)).toMatchObject({ waiting: 4 });
      controller.abort();
      await expect(pending).rejects.toThrow();
      expect(await statsWhen(key, (s) => s.aborted === 4)).toMatchObject({ hits: 4, aborted: 4, inFlight: 0 });
      expect(await gate.open()).toMatchObject({ freed: 0 });
      expect((await stats(key)).hits).toBe(4);
    } finally {
      await gate.open();
    }
  });
});

it("is described in the OpenAPI document", async () => {
  const doc = await (await exports.default.fetch("http://edgeloop.test/openapi.json")).json<{
    paths: Record<string, { post?: { operationId: string; tags: string[]; responses: Record<string, unknown> } }>;
  }>();
  const op = doc.paths["/v1/pages"]?.post;
  expect(op).toMatchObject({ operationId: "fetchPages", tags: ["pages"] });
  expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "401", "413"]));
});
