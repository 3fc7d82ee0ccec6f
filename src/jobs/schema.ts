/**
 * Request and response schemas of /v1/jobs (zod, so the OpenAPI document is generated from what is validated).
 * Fan-out jobs reuse the fan-out item and option schemas of /v1/fanout.
 */
import { z } from "@hono/zod-openapi";
import { FanoutItemSchema, FanoutOptionsSchema, FORBIDDEN_HEADERS, HEADER_VALUE } from "../fanout/schema.js";
import { FlowSchema } from "../flow/schema.js";
import { Name, recordOf } from "../http/schemas.js";

const FanoutJobSchema = z
  .object({
    type: z.literal("fanout"),
    requests: z.array(FanoutItemSchema).min(1),
    ...FanoutOptionsSchema.shape,
    deadlineMs: FanoutOptionsSchema.shape.deadlineMs.openapi({
      description:
        "Deadline of each chunk. Lowered to what lets a full consumer batch run in one 15-minute invocation " +
        "(420,000 ms with the default JOBS_CONSUMER_CONCURRENCY of 5)",
    }),
  })
  .strict()
  .openapi("FanoutJob");

/** Headers a webhook job may not set: the signature headers are the service's. */
const RESERVED_WEBHOOK_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"];

const WebhookJobSchema = z
  .object({
    type: z.literal("webhook"),
    url: z.string().url().openapi({ example: "https://example.com/hooks/orders" }),
    payload: z.unknown().openapi({ example: { event: "order.paid", id: 42 } }),
    headers: recordOf(
      z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "must be a header name"),
      z.string().max(8_192).regex(HEADER_VALUE, "must not contain control characters"),
    )
      .optional()
      .refine((h) => !h || Object.keys(h).every((k) => !RESERVED_WEBHOOK_HEADERS.includes(k.toLowerCase())), {
        message: `may not set ${RESERVED_WEBHOOK_HEADERS.join(", ")}`,
      })
      .refine((h) => !h || !Object.keys(h).some((k) => FORBIDDEN_HEADERS.has(k.toLowerCase())), {
        message: `must not set ${[...FORBIDDEN_HEADERS].join(", ")}`,
      }),
    flow: FlowSchema.optional(),
  })
  .strict()
  .openapi("WebhookJob");

export const CreateJobSchema = z.discriminatedUnion("type", [FanoutJobSchema, WebhookJobSchema]);
export type CreateJobBody = z.infer<typeof CreateJobSchema>;

export const IdempotencyHeaders = z.object({
  "idempotency-key": Name.openapi({
    description:
      "Required. The same key (with the same body) returns the same job instead of creating another. Keys are scoped by tenant: a token's namespace, or the token.",
    example: "orders-2026-11-26",
  }),
});

export const JobIdParams = z.object({
  id: Name.openapi({ param: { name: "id", in: "path" }, example: "3f2a9c0e5b7d4e1fa2c8b6d0e9f17a53" }),
});

const JobStateSchema = z.enum(["queued", "running", "succeeded", "partial", "failed", "canceled"]);

export const JobStatusSchema = z
  .object({
    id: z.string(),
    type: z.enum(["fanout", "webhook"]),
    state: JobStateSchema,
    total: z.number().int(),
    done: z.number().int(),
    failed: z.number().int(),
    dead: z.number().int(),
    attempts: z.number().int(),
    resends: z
      .number()
      .int()
      .openapi({ description: "Times a chunk was sent again because its queue message was lost (JOBS_STALL_SECONDS)" }),
    chunks: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    error: z.string().optional(),
  })
  .openapi("JobStatus");

export const JobCreatedSchema = z
  .object({ id: z.string(), state: JobStateSchema, statusUrl: z.string(), room: z.string() })
  .openapi("JobCreated");

export const ResultsQuery = z.object({
  cursor: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).optional(),
});

export const ResultsPageSchema = z
  .object({
    items: z.array(z.object({ index: z.number().int(), ok: z.boolean() }).passthrough()),
    next: z.string().nullable(),
  })
  .openapi("JobResults");

export const RetrySchema = z.object({ requeued: z.number().int(), status: JobStatusSchema }).openapi("JobRetry");
