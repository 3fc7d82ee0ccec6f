/**
 * The schemas of POST /v1/pages (zod, so the OpenAPI document is generated from what is validated): the crawl a
 * client asks for (`PagesRequestSchema`: where to start, how to find the next page, limits), and what it gets back,
 * one `Page` per page in page order then a `PagesSummary` saying why the crawl stopped. Per-attempt timeouts,
 * retries, body caps and headers are the fan-out's own fields.
 */
import { z } from "@hono/zod-openapi";
import { FanoutItemSchema, FanoutOptionsSchema, FanoutResultSchema } from "../fanout/schema.js";

/** An RFC 6901 JSON pointer: empty (the whole document) or `/`-separated tokens, `~` only as `~0` or `~1`. */
const JsonPointer = z
  .string()
  .max(1_024)
  .regex(/^(\/([^~/]|~[01])*)*$/, "must be a JSON pointer (RFC 6901): empty, or starting with /");

/** A query parameter's name: visible ASCII (it is percent-encoded where needed). */
const QueryName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, "must be 1-128 visible ASCII characters");

const LinkNext = z.literal("link").openapi({
  description: 'Follow the `Link: <…>; rel="next"` response header (RFC 8288; GitHub, GitLab); stop when there is none',
});

const CursorNext = z
  .object({
    cursor: JsonPointer.openapi({
      description: 'Where the next cursor is in each JSON page; null, absent or "" ends the crawl',
      example: "/meta/next_cursor",
    }),
    param: QueryName.optional().openapi({
      description:
        "The query parameter the cursor is sent in (Stripe, Slack). Without it the value is the next page's URL, " +
        "absolute or relative to the page (DRF's `next`, Microsoft Graph's `@odata.nextLink`)",
      example: "cursor",
    }),
  })
  .strict()
  .openapi("PagesCursor");

const PageNumberNext = z
  .object({
    page: QueryName.openapi({
      description: "The page-number query parameter, counted up from `start`",
      example: "page",
    }),
    start: z.number().int().min(0).max(1_000_000_000).default(1).openapi({ description: "The first page's number" }),
  })
  .strict()
  .openapi("PagesPageNumber");

/** What a missing or unknown `next` is told: the forms it takes (a caller in plain JavaScript has no types to ask). */
const NEXT_FORMS =
  'must be "link" (the Link header), {"cursor": "/json/pointer", "param"?: "name"} (a cursor in each JSON page) or ' +
  '{"page": "name", "start"?: 1} (a page-number parameter)';

const { timeoutMs, deadlineMs, retry, maxBodyBytes, responseBody, flow } = FanoutOptionsSchema.shape;

export const PagesRequestSchema = z
  .object({
    url: FanoutItemSchema.shape.url.openapi({
      description: "The first page (http or https, checked by the URL guard)",
      example: "https://api.example.com/orders?per_page=100",
    }),
    next: z
      .union([LinkNext, CursorNext, PageNumberNext], { error: NEXT_FORMS })
      .openapi({ description: "How to find the next page" }),
    maxPages: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .openapi({ description: "Pages fetched at most (at most, and by default, PAGES_MAX_PAGES)" }),
    prefetch: z
      .number()
      .int()
      .min(1)
      .max(1_000)
      .default(1)
      .openapi({
        description:
          "Page-number crawls only: pages fetched at once ahead of the one answered next (capped by " +
          "PAGES_MAX_PREFETCH); 1 fetches one page at a time",
      }),
    items: JsonPointer.optional().openapi({
      description:
        "Where the array of items is in each JSON page: pages then carry `items` instead of `body`. A page-number " +
        'crawl stops at the first page whose items are empty (default "", the page itself)',
      example: "/data",
    }),
    headers: FanoutItemSchema.shape.headers,
    allowCrossOrigin: z
      .boolean()
      .default(false)
      .openapi({
        description:
          "Follow a next page or a redirect to another origin than the first page's (it gets only the headers " +
          "safe there: Accept, Content-Type, Range, traceparent…); refused by default",
      }),
    timeoutMs,
    deadlineMs,
    retry,
    maxBodyBytes,
    responseBody: responseBody.openapi({
      description: "How `body` is decoded (as in fan-out); cursor crawls and `items` read pages as JSON: auto or json",
    }),
    flow,
  })
  .strict()
  .superRefine((spec, ctx) => {
    const pageNumbers = typeof spec.next === "object" && "page" in spec.next;
    if (spec.prefetch > 1 && !pageNumbers) {
      ctx.addIssue({
        code: "custom",
        path: ["prefetch"],
        message: "prefetch applies to page-number crawls only: a link or cursor names its next page in the page",
      });
    }
    const readsJson =
      spec.items !== undefined || pageNumbers || (typeof spec.next === "object" && "cursor" in spec.next);
    if (readsJson && spec.responseBody !== "auto" && spec.responseBody !== "json") {
      ctx.addIssue({
        code: "custom",
        path: ["responseBody"],
        message: "must be auto or json: this crawl reads each page as JSON (a cursor, or items)",
      });
    }
  })
  .openapi("Pages");

/** A crawl as asked for, defaults applied. */
export type PagesRequest = z.output<typeof PagesRequestSchema>;
export type PagesRequestInput = z.input<typeof PagesRequestSchema>;

export const PageSchema = z
  .object({
    page: z.number().int().openapi({ description: "1 for the first page fetched, then 2, 3…" }),
    url: z.string().openapi({ description: "The URL asked for (before redirects)" }),
    status: z.number().int(),
    items: z.array(z.unknown()).optional().openapi({ description: "The page's items, when `items` was given" }),
    body: z.unknown().optional().openapi({ description: "The page's body, when `items` was not given" }),
    bytes: z.number().int(),
    truncated: z.boolean(),
    attempts: z.number().int(),
    durationMs: z.number(),
  })
  .openapi("Page");

const PageErrorKind = z.enum([...FanoutResultSchema.shape.error.unwrap().shape.kind.options, "cross_origin", "format"]);

export const PagesSummarySchema = z
  .object({
    pages: z.number().int().openapi({ description: "Pages answered" }),
    stop: z.enum(["end", "maxPages", "deadline", "error", "loop", "aborted"]).openapi({
      description:
        "Why the crawl stopped: `end` (no next page, or an empty page), `maxPages`, `deadline`, `error`, `loop` (a " +
        "next page already fetched); `aborted` when the client went away (so it never sees it)",
    }),
    detail: z.string().openapi({ description: "The reason in words" }),
    next: z.string().optional().openapi({
      description: "The page the crawl would have fetched next (not for `end`): a crawl can go on from there",
    }),
    error: z
      .object({
        kind: PageErrorKind,
        message: z.string(),
        page: z.number().int(),
        url: z.string(),
        status: z.number().int().nullable(),
        body: z.unknown().optional(),
      })
      .optional()
      .openapi({ description: "What failed, for `error`: the upstream's answer when there was one" }),
    prefetch: z.number().int().openapi({ description: "Pages fetched at once (after PAGES_MAX_PREFETCH)" }),
    durationMs: z.number(),
  })
  .openapi("PagesSummary");

export type Page = z.infer<typeof PageSchema>;
export type PagesSummary = z.infer<typeof PagesSummarySchema>;
export type PageErrorKind = z.infer<typeof PageErrorKind>;
export type StopReason = PagesSummary["stop"];
