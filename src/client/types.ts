/**
 * The wire types of the typed client, taken from the zod schemas the server validates with (`z.input` for what the
 * client sends, `z.output` for what it receives). Only types are imported: no zod code reaches the client, and a
 * field renamed in a schema changes these types, so the client's callers and test/client/client-types.test.ts see it.
 */
import type { z } from "@hono/zod-openapi";
import type {
  CounterFenceQuery as CounterFenceQuerySchema,
  CounterIncrementBody,
  CounterSetBody,
  CounterShardsBody,
  CounterShards as CounterShardsSchema,
  CounterValue as CounterValueSchema,
  Fence as FenceSchema,
} from "../counters/schema.js";
import type {
  FanoutItemSchema,
  FanoutOptionsSchema,
  FanoutResultSchema,
  FanoutSummarySchema,
} from "../fanout/schema.js";
import type { ProblemSchema } from "../http/schemas.js";
import type {
  CreateJobSchema,
  JobCreatedSchema,
  JobStatusSchema,
  ResultsPageSchema,
  RetrySchema,
} from "../jobs/schema.js";
import type {
  LockAcquireBody,
  LockGrant as LockGrantSchema,
  LockReleaseBody,
  LockRenewBody,
  LockStatus as LockStatusSchema,
} from "../locks/schema.js";
import type { PageSchema, PagesRequestSchema, PagesSummarySchema } from "../pages/schema.js";
import type { RateLimitBody, RateLimitDecision as RateLimitDecisionSchema } from "../ratelimits/schema.js";
import type { TicketRequest } from "../rooms/schema.js";
import type {
  SemaphoreAcquireBody,
  SemaphoreLease as SemaphoreLeaseSchema,
  SemaphoreReleaseBody,
  SemaphoreRenewBody,
  SemaphoreStatus as SemaphoreStatusSchema,
} from "../semaphores/schema.js";
import type { CreateTokenBody, TokenCreatedSchema, TokenSchema } from "../tokens/schema.js";

/** One upstream call of a fan-out, as `POST /v1/fanout` takes it. */
export type FanoutRequest = z.input<typeof FanoutItemSchema>;
/** The options of a whole fan-out (concurrency, timeouts, deadline, retry, hedging, bodies). */
export type FanoutOptions = z.input<typeof FanoutOptionsSchema>;
export type FanoutResult = z.output<typeof FanoutResultSchema>;
export type FanoutSummary = z.output<typeof FanoutSummarySchema>;

export type CounterValue = z.output<typeof CounterValueSchema>;
/** The `fence` of a lock grant: `{lock, token, sig}`. */
export type Fence = z.output<typeof FenceSchema>;
export type CounterIncrementInput = z.input<typeof CounterIncrementBody>;
export type CounterSetInput = z.input<typeof CounterSetBody>;
export type CounterFenceQuery = z.input<typeof CounterFenceQuerySchema>;
export type CounterShardsInput = z.input<typeof CounterShardsBody>;
export type CounterShards = z.output<typeof CounterShardsSchema>;

export type LockAcquireInput = z.input<typeof LockAcquireBody>;
export type LockRenewInput = z.input<typeof LockRenewBody>;
export type LockReleaseInput = z.input<typeof LockReleaseBody>;
export type LockGrant = z.output<typeof LockGrantSchema>;
export type LockStatus = z.output<typeof LockStatusSchema>;

export type SemaphoreAcquireInput = z.input<typeof SemaphoreAcquireBody>;
export type SemaphoreRenewInput = z.input<typeof SemaphoreRenewBody>;
export type SemaphoreReleaseInput = z.input<typeof SemaphoreReleaseBody>;
export type SemaphoreGrant = z.output<typeof SemaphoreLeaseSchema>;
export type SemaphoreStatus = z.output<typeof SemaphoreStatusSchema>;

export type RateLimitInput = z.input<typeof RateLimitBody>;
export type RateLimitDecision = z.output<typeof RateLimitDecisionSchema>;

/** What `POST /v1/jobs` takes: a fan-out job or a webhook job. */
export type JobSpec = z.input<typeof CreateJobSchema>;
export type JobCreated = z.output<typeof JobCreatedSchema>;
export type JobStatus = z.output<typeof JobStatusSchema>;
export type JobResultsPage = z.output<typeof ResultsPageSchema>;
/** One result of a job: the fan-out result of one request (or the webhook delivery), with its index. */
export type JobResult = JobResultsPage["items"][number];
export type JobRetried = z.output<typeof RetrySchema>;

/** What `POST /v1/pages` takes: the first URL, how to find the next page, limits. */
export type PagesSpec = z.input<typeof PagesRequestSchema>;
export type Page = z.output<typeof PageSchema>;
export type PagesSummary = z.output<typeof PagesSummarySchema>;

/** What `POST /v1/tokens` takes: a name, scopes, and optionally names, a namespace, an expiry, a rate. */
export type TokenInput = z.input<typeof CreateTokenBody>;
/** A scoped token as the service shows it (never its secret). */
export type Token = z.output<typeof TokenSchema>;
/** A token with its secret (`token`), as creating or rotating it answers, once. */
export type CreatedToken = z.output<typeof TokenCreatedSchema>;

/** What `POST /v1/rooms/:room/tickets` takes. */
export type TicketInput = z.input<typeof TicketRequest>;

/** An RFC 9457 problem as the service answers it (extensions such as `waiters` or `limit` besides). */
export type Problem = z.output<typeof ProblemSchema> & Record<string, unknown>;
