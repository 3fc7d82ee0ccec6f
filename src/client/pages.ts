/**
 * `client.pages(spec)`: an upstream's pages fetched at the edge (`async for page in fetch_pages(...)`), following
 * Link headers, a cursor in the body or page numbers, streamed back in page order over NDJSON. Leaving the loop
 * early, or the caller's signal, aborts the request, and with it the crawl.
 */
import { anySignal } from "../async/deadline.js";
import type { Transport } from "./http.js";
import { SummarizedStream } from "./ndjson.js";
import type { Page, PagesSpec, PagesSummary } from "./types.js";

/** The pages in page order; `summary` (why the crawl stopped, and where it would go on) once read to the end. */
export type PageStream = SummarizedStream<Page, PagesSummary>;

export type Pages = (spec: PagesSpec & { signal?: AbortSignal }) => PageStream;

/**
 * @example
 * const pages = client.pages({ url: "https://api.github.com/repos/cloudflare/workerd/issues", next: "link", maxPages: 5 });
 * for await (const page of pages) {
 *   console.log(page.page, page.status);
 *   if (page.status !== 200) break; // the crawl is aborted
 * }
 * console.log(pages.summary?.stop); // "end", "maxPages", … (undefined after a break)
 */
export function createPages(transport: Transport): Pages {
  return ({ signal, ...spec }) =>
    new SummarizedStream<Page, PagesSummary>((stop) =>
      transport.send("/v1/pages", {
        json: spec,
        accept: "application/x-ndjson",
        signal: anySignal([signal, stop]),
        idempotent: true, // a crawl only GETs
      }),
    );
}
