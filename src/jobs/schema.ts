/**
 * Request and response schemas of /v1/jobs (zod, so the OpenAPI document is generated from what is validated).
 * The body of each job type (`JOB_BODIES`, the wire half of the job-type registry: its run half, the handlers, is
 * src/jobs/types/) and the union of them POST /v1/jobs takes. Fan-out jobs reuse the fan-out item and option schemas
 * of /v1/fanout; every job may also say when it starts, how its chunks are retried and where its end is reported
 * (`JobTimingShape`), and put its calls under a flow key.
 */
import { z } from "@hono/zod-openapi";
import { FanoutItemSchema, FanoutOptionsSchema, FORBIDDEN_HEADERS, HEADER_VALUE } from "../fanout/schema.js";
import { FlowSchema } from "../flow/schema.js";
import { Name, recordOf } from "../http/schemas.js";

/**
 * The jobs queue's `max_retries` ([[queues.consumers]] in wrangler.toml; test/e2e/settings.test.ts checks): a chunk's
 * message is delivered at most `JOBS_MAX_ATTEMPTS` times, which bounds a job's `retry.attempts`.
 */
export const JOBS_MAX_RETRIES = 5;
export const JOBS_MAX_ATTEMPTS = JOBS_MAX_RETRIES + 1;

/** The states a job ends in: the ones a completion callback can be sent for. */
export const END_STATES = ["succeeded", "partial", "failed", "canceled"] as const;

const waitMs = z.number().int().min(0);

const JobRetrySchema = z
  .object({
    attempts: z
      .number()
      .int()
      .min(1)
      .max(JOBS_MAX_ATTEMPTS, `must be at most ${JOBS_MAX_ATTEMPTS}: the jobs queue's max_retries + 1`)
      .optional()
      .openapi({ description: "Deliveries of each chunk, the first included (default and cap: max_retries + 1)" }),
    baseMs: waitMs.optional().openapi({ description: "First wait, doubled per try (default JOBS_RETRY_BASE_SECONDS)" }),
    maxMs: waitMs.optional().openapi({ description: "Longest wait (default and cap: JOBS_RETRY_MAX_SECONDS)" }),
  })
  .strict()
  .openapi("JobRetryPolicy");

const JobCallbackSchema = z
  .object({
    url: z.string().url().openapi({ example: "https://example.com/hooks/jobs" }),
    on: z.array(z.enum(END_STATES)).min(1).optional().openapi({ description: "End states that send it (default all)" }),
  })
  .strict()
  .openapi("JobCallback");

/** What every job may say besides its work: when it starts, how its chunks are retried, where its end is reported. */
const JobTimingShape = {
  runAt: z.string().datetime({ offset: true }).optional().openapi({
    description: "Start then (RFC 3339; ≤ JOBS_MAX_DELAY_DAYS ahead); not with delayMs",
    example: "2026-12-24T18:00:00Z",
  }),
  delayMs: waitMs.optional().openapi({ description: "Start this much later (≤ JOBS_MAX_DELAY_DAYS); not with runAt" }),
  retry: JobRetrySchema.optional(),
  callback: JobCallbackSchema.optional(),
};

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
    timeoutMs: FanoutOptionsSchema.shape.timeoutMs.openapi({ description: "Per call (≤ JOBS_MAX_TIMEOUT_MS)" }),
    ...JobTimingShape,
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
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ description: "Per attempt (default JOBS_WEBHOOK_TIMEOUT_MS; ≤ JOBS_MAX_TIMEOUT_MS)" }),
    ...JobTimingShape,
    flow: FlowSchema.optional(),
  })
  .strict()
  .openapi("WebhookJob");

/** A webhook job's one item: what it delivers (its other fields are the job's options). */
export const WebhookItemSchema = WebhookJobSchema.pick({ url: true, payload: true, headers: true });

/** The digests a hash job computes (the ones Subresource Integrity names). */
export const HASH_ALGORITHMS = ["SHA-256", "SHA-384", "SHA-512"] as const;

/** One URL of a hash job (the example job type, src/jobs/types/hash.ts). */
export const HashItemSchema = z
  .object({
    url: z.string().max(8_192).url().openapi({ example: "https://cdn.example.com/app.js" }),
    algorithm: z.enum(HASH_ALGORITHMS).optional().openapi({ description: "Default SHA-256" }),
  })
  .strict()
  .openapi("HashItem");

const HashJobSchema = z
  .object({
    type: z.literal("hash"),
    items: z.array(HashItemSchema).min(1),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1_000)
      .optional()
      .openapi({ description: "URLs at once per chunk (default 6; ≤ FANOUT_MAX_CONCURRENCY)" }),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ description: "Per URL, body included (default 5,000; ≤ JOBS_MAX_TIMEOUT_MS)" }),
    ...JobTimingShape,
    flow: FlowSchema.optional(),
  })
  .strict()
  .openapi("HashJob");

/** One item of a service job: any JSON, handed to the bound Worker as the item's `data`. */
export const ServiceItemSchema = z.unknown().openapi({ description: "Any JSON: the item's data for your Worker" });

const ServiceJobSchema = z
  .object({
    type: z.literal("service"),
    items: z.array(ServiceItemSchema).min(1),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ description: "Per chunk's handle() call (default and cap: JOBS_MAX_TIMEOUT_MS)" }),
    ...JobTimingShape,
    flow: FlowSchema.optional(),
  })
  .strict()
  .openapi("ServiceJob");

/**
 * The body of every job type, by its `type`: the wire half of the registry (src/jobs/types/index.ts maps each name
 * to its handler; TypeScript refuses a body without one). A new type adds its body here.
 */
export const JOB_BODIES = [FanoutJobSchema, WebhookJobSchema, HashJobSchema, ServiceJobSchema] as const;

export const CreateJobSchema = z.discriminatedUnion("type", JOB_BODIES);
export type CreateJobBody = z.infer<typeof CreateJobSchema>;
/** The name of a job type. */
export type JobTypeName = CreateJobBody["type"];

/** The job types' names, from their bodies. */
const JobTypeSchema = z.enum(JOB_BODIES.map((b) => b.shape.type.value) as [JobTypeName, ...JobTypeName[]]);

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

const JobStateSchema = z.enum(["scheduled", "queued", "running", ...END_STATES]);

export const JobStatusSchema = z
  .object({
    id: z.string(),
    type: JobTypeSchema,
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
    runAt: z.string().optional().openapi({ description: "When a delayed job starts (or started)" }),
    retry: z
      .object({ attempts: z.number().int(), baseMs: z.number().int(), maxMs: z.number().int() })
      .openapi({ description: "The retry policy in force: the job's, within the settings in force" }),
    timeoutMs: z.number().int().openapi({ description: "Per-call timeout in force" }),
    callback: z
      .object({
        url: z.string(),
        on: z.array(z.enum(END_STATES)),
        state: z.enum(["waiting", "pending", "delivered", "failing", "given-up", "skipped"]),
        attempts: z.number().int(),
        lastError: z.string().optional(),
      })
      .optional()
      .openapi({
        description:
          "waiting (the job runs), skipped (it ended otherwise), then pending → delivered or failing → given-up",
      }),
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

export const ListQuery = z.object({
  state: JobStateSchema.optional(),
  cursor: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).optional(),
});

export const JobSummarySchema = z
  .object({
    id: z.string(),
    type: JobTypeSchema,
    state: JobStateSchema,
    total: z.number().int(),
    createdAt: z.string(),
    runAt: z.string().optional(),
    endedAt: z.string().optional(),
  })
  .openapi("JobSummary");

export const JobListSchema = z
  .object({ items: z.array(JobSummarySchema), next: z.string().nullable() })
  .openapi("JobList");
