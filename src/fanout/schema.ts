/**
 * The fan-out request schemas, shared by POST /v1/fanout and the jobs family: one outbound request
 * (`FanoutItemSchema`) and the options that govern a whole fan-out (`FanoutOptionsSchema`). Both are `.strict()`
 * (unknown fields refused) and carry their defaults, so a parsed value is complete.
 */
import { z } from "@hono/zod-openapi";
import { FlowSchema } from "../flow/schema.js";
import { recordOf } from "../http/schemas.js";

const FANOUT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** Methods retried and hedged without the request saying `idempotent: true` (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** Request headers a caller may not set: hop-by-hop or owned by the runtime. */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "proxy-connection",
]);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
// Field values: visible ASCII, spaces and tabs (obs-text allowed), never CR, LF or NUL.
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const ms = (max: number) => z.number().int().min(1).max(max);

export const FanoutItemSchema = z
  .object({
    id: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .openapi({ description: "Echoed in the result (defaults to the key, or the index)", example: "user" }),
    url: z.string().min(1).max(8_192).openapi({ example: "https://api.example.com/users/1" }),
    method: z.enum(FANOUT_METHODS).default("GET"),
    headers: recordOf(
      z.string().regex(HEADER_NAME, "must be a valid header name"),
      z.string().max(8_192).regex(HEADER_VALUE, "must not contain control characters"),
    )
      .default({})
      .refine((h) => !Object.keys(h).some((k) => FORBIDDEN_HEADERS.has(k.toLowerCase())), {
        message: `must not set ${[...FORBIDDEN_HEADERS].join(", ")}`,
      })
      .openapi({ description: "A redirect to another origin keeps only Accept, Content-Type, Range, traceparent…" }),
    body: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown()), z.null()])
      .default(null)
      .openapi({ description: "A string is sent as is; an object or array as JSON (content-type added)" }),
    timeoutMs: ms(300_000)
      .optional()
      .openapi({ description: "Per-attempt timeout; defaults to the options' timeoutMs" }),
    idempotent: z
      .boolean()
      .optional()
      .openapi({ description: "Allow retries and hedging for a non-idempotent method (POST, PATCH)" }),
  })
  .strict()
  .openapi("FanoutRequest");

const FanoutRetrySchema = z
  .object({
    attempts: z.number().int().min(1).max(10).default(1).openapi({ description: "Total attempts, the first included" }),
    baseMs: ms(60_000).default(100),
    maxMs: ms(60_000).default(2_000),
  })
  .strict()
  .openapi("FanoutRetry");

export const FanoutOptionsSchema = z
  .object({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1_000)
      .default(6)
      .openapi({ description: "Calls in flight at once (capped by FANOUT_MAX_CONCURRENCY)" }),
    timeoutMs: ms(300_000).default(5_000).openapi({ description: "Per-attempt timeout for each request" }),
    deadlineMs: ms(600_000)
      .default(15_000)
      .openapi({ description: "Overall deadline: everything still running or waiting is aborted then" }),
    retry: FanoutRetrySchema.default({ attempts: 1, baseMs: 100, maxMs: 2_000 }),
    hedgeAfterMs: ms(300_000)
      .nullable()
      .default(null)
      .openapi({ description: "Start a second identical call if the first has not answered by then" }),
    maxBodyBytes: z.number().int().min(0).max(104_857_600).default(1_048_576),
    responseBody: z
      .enum(["auto", "json", "text", "base64", "none"])
      .default("auto")
      .openapi({ description: "auto: JSON when the upstream says JSON, text when textual, else base64" }),
    flow: FlowSchema.optional(),
  })
  .strict()
  .openapi("FanoutOptions");

/** One outbound request, defaults applied. */
export type FanoutItem = z.output<typeof FanoutItemSchema>;
/** What the client may send for one request. */
export type FanoutItemInput = z.input<typeof FanoutItemSchema>;
/** Options of a whole fan-out, defaults applied. */
export type FanoutOptions = z.output<typeof FanoutOptionsSchema>;
export type FanoutOptionsInput = z.input<typeof FanoutOptionsSchema>;

/** One result, for the OpenAPI document (the engine's `FanoutResult`). */
export const FanoutResultSchema = z
  .object({
    id: z.string(),
    index: z.number().int(),
    url: z.string(),
    outcome: z.enum(["fulfilled", "rejected"]),
    status: z.number().int().nullable(),
    ok: z.boolean(),
    headers: z.record(z.string(), z.string()),
    body: z.unknown().openapi({ description: "Parsed JSON, text, or base64; null when no body was kept" }),
    bytes: z.number().int(),
    truncated: z.boolean(),
    attempts: z.number().int(),
    durationMs: z.number(),
    startedMs: z.number().nullable().openapi({
      description: "When the first call started, in ms after the fan-out started (null if it never started)",
    }),
    error: z
      .object({
        kind: z.enum([
          "timeout",
          "deadline",
          "aborted",
          "network",
          "blocked",
          "too_large",
          "invalid",
          "status",
          "flow_timeout",
        ]),
        message: z.string(),
      })
      .optional(),
  })
  .openapi("FanoutResult");

export const FanoutSummarySchema = z
  .object({
    fulfilled: z.number().int(),
    rejected: z.number().int(),
    durationMs: z.number(),
    concurrency: z.number().int().openapi({ description: "The concurrency used (after FANOUT_MAX_CONCURRENCY)" }),
  })
  .openapi("FanoutSummary");
