/**
 * The crawl engine on its own, without a request around it: what it aborts must be aborted by the engine itself,
 * not by the runtime ending an invocation (which cancels whatever a finished request left in flight).
 */
import { describe, expect, it } from "vitest";
import { crawl, crawlAll } from "../../src/pages/crawl";
import { type PagesRequestInput, PagesRequestSchema } from "../../src/pages/schema";
import { newGate, newKey, stats, statsWhen, UPSTREAM } from "../helpers/upstream";

const ctx = { allowHosts: ["127.0.0.1"], maxResponseBytes: 10_485_760 };

function spec(input: PagesRequestInput, maxPages = 50) {
  return { ...PagesRequestSchema.parse(input), maxPages };
}

function collection(params: Record<string, string | number>): string {
  const url = new URL("/pages", UPSTREAM);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.href;
}

describe("crawl", () => {
  it("aborts the pages fetched ahead of the empty page that ends a page-number crawl", async () => {
    const key = newKey();
    const base = crypto.randomUUID();
    const gate = (n: number) => newGate(UPSTREAM, `${base}-${n}`);
    const url = collection({ style: "page", total: 2, key, gate: `${base}-{page}`, gateFrom: 3 });
    const pending = crawlAll(spec({ url, next: { page: "page" }, items: "/data", prefetch: 4 }), ctx);
    try {
      // Page 3, the first empty one, and the three fetched ahead of it are all asked for before it answers.
      for (const n of [3, 4, 5, 6]) expect(await gate(n).waiting(1)).toMatchObject({ waiting: 1 });
      await gate(3).open();
      const { pages, summary } = await pending;
      expect(pages.map((p) => p.page)).toEqual([1, 2]);
      expect(summary).toMatchObject({ pages: 2, stop: "end", prefetch: 4 });
      expect(await statsWhen(key, (s) => s.aborted === 3)).toMatchObject({ hits: 6, aborted: 3, inFlight: 0 });
    } finally {
      for (const n of [3, 4, 5, 6]) await gate(n).open();
    }
  });

  it("ends with stop `aborted` and aborts the page in flight when the caller's signal fires", async () => {
    const key = newKey();
    const gate = newGate();
    const controller = new AbortController();
    const url = collection({ style: "link", total: 4, key, gate: gate.name, gateFrom: 2 });
    const pages = crawl(spec({ url, next: "link" }), { ...ctx, signal: controller.signal });
    try {
      expect((await pages.next()).value).toMatchObject({ page: 1 });
      const second = pages.next();
      expect(await gate.waiting(1)).toMatchObject({ waiting: 1 });
      controller.abort();
      const end = await second;
      expect(end).toMatchObject({ done: true, value: { pages: 1, stop: "aborted" } });
      expect(await statsWhen(key, (s) => s.aborted === 1)).toMatchObject({ hits: 2, aborted: 1, inFlight: 0 });
      expect(await gate.open()).toMatchObject({ freed: 0 });
      expect((await stats(key)).hits).toBe(2);
    } finally {
      await gate.open();
    }
  });
});
