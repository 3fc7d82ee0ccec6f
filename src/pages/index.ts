/**
 * The pages wing: the crawl (one engine call a page), how the next page is found, and the wire schemas. Its face
 * to functions/ and to the other wings.
 */
export { type Crawl, crawl, crawlAll } from "./crawl";
export { PageSchema, type PagesRequest, PagesRequestSchema, PagesSummarySchema } from "./schema";
