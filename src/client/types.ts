/**
 * The wire types of the typed client, written out as plain TypeScript so that the package's declarations stand on
 * their own: a user's project needs no zod, hono or any other server dependency to type-check against them.
 *
 * They are the server's types all the same: test/client/client-types.test.ts (part of `npm run typecheck`) holds each
 * one equal to its zod schema's `z.output` (what the client receives) or, for what the client sends, to the keys of
 * the schema's `z.input` and assignable to it. A field renamed, added or retyped in a schema fails the typecheck until
 * this file says the same.
 */
import type { JobState } from "../jobs/protocol.js";

export type { JobState };

/** An HTTP method a fan-out request may use. */
export type FanoutMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** One upstream call of a fan-out, as `POST /v1/fanout` takes it. */
export interface FanoutRequest {
  /** The upstream URL (http or https; checked by the service's URL guard). */
  url: string;
  /** Echoed in the result (defaults to the key, or the index). */
  id?: string | undefined;
  /** Default `GET`. */
  method?: FanoutMethod | undefined;
  /** Request headers (not hop-by-hop ones such as `host` or `connection`). */
  headers?: Record<string, string> | undefined;
  /** A string is sent as is; an object or array as JSON (content-type added). */
  body?: string | Record<string, unknown> | unknown[] | null | undefined;
  /** Per-attempt timeout; defaults to the options' `timeoutMs`. */
  timeoutMs?: number | undefined;
  /** Allow retries and hedging for a non-idempotent method (POST, PATCH). */
  idempotent?: boolean | undefined;
}

/** How a fan-out's failed calls are retried. */
export interface FanoutRetry {
  /** Total attempts, the first included (default 1). */
  attempts?: number | undefined;
  /** Backoff base, in ms (default 100). */
  baseMs?: number | undefined;
  /** Longest backoff, in ms (default 2 000). */
  maxMs?: number | undefined;
}

/** The options of a whole fan-out (concurrency, timeouts, deadline, retry, hedging, bodies). */
export interface FanoutOptions {
  /** Calls in flight at once (default 6; capped by FANOUT_MAX_CONCURRENCY). */
  concurrency?: number | undefined;
  /** Per-attempt timeout for each request, in ms (default 5 000). */
  timeoutMs?: number | undefined;
  /** Overall deadline, in ms (default 15 000): everything still running or waiting is aborted then. */
  deadlineMs?: number | undefined;
  retry?: FanoutRetry | undefined;
  /** Start a second identical call if the first has not answered by then (default: no hedging). */
  hedgeAfterMs?: number | null | undefined;
  /** Largest body kept per call, in bytes (default 1 MiB). */
  maxBodyBytes?: number | undefined;
  /** auto (default): JSON when the upstream says JSON, text when textual, else base64. */
  responseBody?: "auto" | "json" | "text" | "base64" | "none" | undefined;
  /** A flow-control key every call waits for (docs/flow.md). */
  flow?: Flow | undefined;
}

/** Why a fan-out call was rejected (`flow_timeout`: its flow key gave no permit before the deadline). */
export type FanoutErrorKind =
  | "timeout"
  | "deadline"
  | "aborted"
  | "network"
  | "blocked"
  | "too_large"
  | "invalid"
  | "status"
  | "flow_timeout";

/** One settled call of a fan-out. */
export interface FanoutResult {
  id: string;
  /** Its place in the requests. */
  index: number;
  url: string;
  outcome: "fulfilled" | "rejected";
  status: number | null;
  ok: boolean;
  headers: Record<string, string>;
  /** Parsed JSON, text, or base64; null when no body was kept. */
  body: unknown;
  bytes: number;
  truncated: boolean;
  attempts: number;
  durationMs: number;
  /** When the first call started, in ms after the fan-out started (null if it never started). */
  startedMs: number | null;
  error?: { kind: FanoutErrorKind; message: string } | undefined;
}

export interface FanoutSummary {
  fulfilled: number;
  rejected: number;
  durationMs: number;
  /** The concurrency used (after FANOUT_MAX_CONCURRENCY). */
  concurrency: number;
}

export interface CounterValue {
  name: string;
  value: number;
  updatedAt: number | null;
  /** Objects it is spread over. */
  shards: number;
  /** Sharded: the shard that took it, whose value `value` is. */
  shard?: number | undefined;
}

/** The `fence` of a lock grant: the token with the lock's signature, passed as is to what the lock protects. */
export interface Fence {
  lock: string;
  token: number;
  sig: string;
}

export interface CounterIncrementInput {
  by?: number | undefined;
  min?: number | undefined;
  max?: number | undefined;
  fence?: Fence | undefined;
}

export interface CounterSetInput {
  value: number;
  ifValue?: number | undefined;
  fence?: Fence | undefined;
}

/** A fenced read's query: the lock, its token and the grant's `fence.sig`. */
export interface CounterFenceQuery {
  lock?: string | undefined;
  token?: number | undefined;
  sig?: string | undefined;
}

export interface CounterShardsInput {
  shards: number;
}

export interface CounterShards {
  name: string;
  shards: number;
}

export interface LockAcquireInput {
  owner: string;
  /** Lease length, LEASE_MIN_TTL_MS to LEASE_MAX_TTL_MS. */
  ttlMs: number;
  /** Long-poll up to this long (default 0). */
  waitMs?: number | undefined;
}

export interface LockRenewInput {
  owner: string;
  token: number;
  ttlMs: number;
}

export interface LockReleaseInput {
  owner: string;
  token: number;
}

export interface LockGrant {
  name: string;
  token: number;
  owner: string;
  grantedAt: number;
  expiresAt: number;
  /** Absent when the service has no FENCE_SECRET. */
  fence?: Fence | undefined;
}

export interface LockStatus {
  name: string;
  holder: string | null;
  token: number | null;
  expiresAt: number | null;
  waiters: number;
  lastToken: number;
}

export interface SemaphoreAcquireInput {
  holder: string;
  /** At most SEMAPHORE_MAX_LIMIT. */
  limit: number;
  ttlMs: number;
  /** Default 1. */
  permits?: number | undefined;
  /** Default 0. */
  waitMs?: number | undefined;
}

export interface SemaphoreRenewInput {
  leaseId: string;
  holder: string;
  ttlMs: number;
}

export interface SemaphoreReleaseInput {
  leaseId: string;
  holder: string;
}

export interface SemaphoreGrant {
  name: string;
  leaseId: string;
  holder: string;
  permits: number;
  grantedAt: number;
  expiresAt: number;
}

export interface SemaphoreStatus {
  name: string;
  inUse: number;
  limit: number | null;
  leases: number;
  waiters: number;
}

export interface RateLimitInput {
  limit: number;
  periodMs: number;
  /** Default 1. */
  cost?: number | undefined;
  /** Defaults to `limit`. */
  burst?: number | undefined;
}

export interface RateLimitDecision {
  key: string;
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** The states a job ends in. */
export type JobEndState = "succeeded" | "partial" | "failed" | "canceled";

/** How a job's chunks are retried: each field within the service's caps, the settings' defaults when left out. */
export interface JobRetryPolicy {
  /** Deliveries of each chunk, the first included (default and most: the queue's max_retries + 1, 6). */
  attempts?: number | undefined;
  /** Wait before the second delivery, doubled for each further one, with jitter (default JOBS_RETRY_BASE_SECONDS). */
  baseMs?: number | undefined;
  /** Longest wait (default and most: JOBS_RETRY_MAX_SECONDS). */
  maxMs?: number | undefined;
}

/** Where a job reports its end: a signed POST of its final status (Standard Webhooks, as webhook jobs). */
export interface JobCallback {
  url: string;
  /** The end states that send it (default: all four). */
  on?: JobEndState[] | undefined;
}

/** What every job may say besides its work: when it starts, how it is retried, where its end is reported. */
export interface JobOptions {
  /** Start at this time (RFC 3339, e.g. `date.toISOString()`), at most JOBS_MAX_DELAY_DAYS ahead; not with delayMs. */
  runAt?: string | undefined;
  /** Start this many ms from now (at most JOBS_MAX_DELAY_DAYS); not with runAt. */
  delayMs?: number | undefined;
  retry?: JobRetryPolicy | undefined;
  callback?: JobCallback | undefined;
}

/**
 * A fan-out job: requests and options as for `POST /v1/fanout` (but `retry`, which retries the job's chunks: see
 * `JobOptions`), run in chunks by the queue consumer.
 */
export interface FanoutJobSpec extends Omit<FanoutOptions, "retry">, JobOptions {
  type: "fanout";
  requests: FanoutRequest[];
}

/** A webhook job: one signed POST (Standard Webhooks), retried until it is answered. */
export interface WebhookJobSpec extends JobOptions {
  type: "webhook";
  url: string;
  payload: unknown;
  headers?: Record<string, string> | undefined;
  /** Each attempt's timeout (default JOBS_WEBHOOK_TIMEOUT_MS). */
  timeoutMs?: number | undefined;
  /** A flow-control key the delivery waits for (docs/flow.md). */
  flow?: Flow | undefined;
}

/** One URL of a hash job, and the digest to compute (default SHA-256). */
export interface HashItem {
  url: string;
  algorithm?: "SHA-256" | "SHA-384" | "SHA-512" | undefined;
}

/**
 * A hash job (the example job type): each URL's body digested as it streams, at most JOBS_HASH_MAX_BYTES; each result
 * is `{url, status, algorithm, bytes, digest, integrity}` (hex, and a Subresource Integrity value).
 */
export interface HashJobSpec extends JobOptions {
  type: "hash";
  items: HashItem[];
  /** URLs fetched at once per chunk (default 6, at most FANOUT_MAX_CONCURRENCY). */
  concurrency?: number | undefined;
  /** Per URL, body included (default 5,000). */
  timeoutMs?: number | undefined;
  flow?: Flow | undefined;
}

/**
 * A service job: each item (any JSON) goes to the Worker the service binds as JOBS_SERVICE_BINDING, a chunk per RPC
 * call of its `handle(items, ctx)`; each result is `{index, ok, value}` or the Worker's error.
 */
export interface ServiceJobSpec extends JobOptions {
  type: "service";
  items: unknown[];
  /** How long each chunk's `handle` call may take (default and most: JOBS_MAX_TIMEOUT_MS). */
  timeoutMs?: number | undefined;
  flow?: Flow | undefined;
}

/** What `POST /v1/jobs` takes: a job of one of the service's types. */
export type JobSpec = FanoutJobSpec | WebhookJobSpec | HashJobSpec | ServiceJobSpec;

/** The name of a job type. */
export type JobType = JobSpec["type"];

export interface JobCreated {
  id: string;
  state: JobState;
  statusUrl: string;
  /** The room its progress is published in: `job:<id>`. */
  room: string;
}

export interface JobStatus {
  id: string;
  type: JobType;
  state: JobState;
  total: number;
  /** Requests with a result (ok or not). */
  done: number;
  /** Results that are not ok, and dead chunks. */
  failed: number;
  dead: number;
  attempts: number;
  /** Times a chunk was sent again because its queue message was lost (JOBS_STALL_SECONDS). */
  resends: number;
  chunks: number;
  createdAt: string;
  updatedAt: string;
  error?: string | undefined;
  /** When a delayed job starts (or started). */
  runAt?: string | undefined;
  /** The retry policy in force: the job's, within the settings in force. */
  retry: { attempts: number; baseMs: number; maxMs: number };
  /** The per-call timeout in force. */
  timeoutMs: number;
  callback?: JobCallbackStatus | undefined;
}

/**
 * Where a job's completion callback is: `waiting` while the job runs, `skipped` when it ended in a state not in `on`,
 * else `pending`, then `delivered`, or `failing` (retried) and at last `given-up`.
 */
export interface JobCallbackStatus {
  url: string;
  on: JobEndState[];
  state: "waiting" | "pending" | "delivered" | "failing" | "given-up" | "skipped";
  attempts: number;
  lastError?: string | undefined;
}

/** A job as `GET /v1/jobs` lists it (its status has the rest). */
export interface JobSummary {
  id: string;
  type: JobType;
  state: JobState;
  total: number;
  createdAt: string;
  runAt?: string | undefined;
  endedAt?: string | undefined;
}

export interface JobList {
  items: JobSummary[];
  next: string | null;
}

/** One result of a job: what its type's handler answered for one item (a fan-out result, a digest…), with its index. */
export interface JobResult {
  [field: string]: unknown;
  index: number;
  ok: boolean;
}

export interface JobResultsPage {
  items: JobResult[];
  next: string | null;
}

export interface JobRetried {
  requeued: number;
  status: JobStatus;
}

/** How a crawl finds the next page: the `Link` header, a cursor in each JSON page, or a page-number parameter. */
export type PagesNext =
  | "link"
  | { cursor: string; param?: string | undefined }
  | { page: string; start?: number | undefined };

/** A flow key's rate: at most `limit` calls start in any window of `periodMs`. */
export interface FlowRate {
  limit: number;
  periodMs: number;
}

/**
 * The `flow` option of fan-outs, crawls and jobs (docs/flow.md): limits every call under `key` shares (per token);
 * over them a call waits. It needs `parallelism`, `rate` or both.
 */
export interface Flow {
  key: string;
  /** Calls in flight at once (at most FLOW_MAX_PARALLELISM). */
  parallelism?: number | undefined;
  rate?: FlowRate | undefined;
}

/** What `GET /v1/flow/:key` answers. */
export interface FlowStatus {
  key: string;
  inFlight: number;
  /** Callers in the key's line. */
  waiting: number;
  holders: number;
  /** Starts in the current window. */
  rateUsed: number | null;
  parallelism: number | null;
  rate: FlowRate | null;
  paused: boolean;
}

/** What `POST /v1/pages` takes: the first URL, how to find the next page, limits. */
export interface PagesSpec {
  url: string;
  next: PagesNext;
  /** Pages fetched at most (at most, and by default, PAGES_MAX_PAGES). */
  maxPages?: number | undefined;
  /** Page-number crawls only: pages fetched at once ahead of the one answered next (default 1). */
  prefetch?: number | undefined;
  /** Where the array of items is in each JSON page (a JSON pointer): pages then carry `items` instead of `body`. */
  items?: string | undefined;
  headers?: Record<string, string> | undefined;
  /** Follow a next page on another origin than the first page's (refused by default). */
  allowCrossOrigin?: boolean | undefined;
  /** A flow-control key every page's call waits for (docs/flow.md). */
  flow?: Flow | undefined;
  timeoutMs?: number | undefined;
  deadlineMs?: number | undefined;
  retry?: FanoutRetry | undefined;
  maxBodyBytes?: number | undefined;
  responseBody?: "auto" | "json" | "text" | "base64" | "none" | undefined;
}

export interface Page {
  /** 1 for the first page fetched, then 2, 3… */
  page: number;
  /** The URL asked for (before redirects). */
  url: string;
  status: number;
  bytes: number;
  truncated: boolean;
  attempts: number;
  durationMs: number;
  /** The page's items, when `items` was given. */
  items?: unknown[] | undefined;
  /** The page's body, when `items` was not given. */
  body?: unknown;
}

export interface PagesSummary {
  /** Pages answered. */
  pages: number;
  /** Why the crawl stopped. */
  stop: "end" | "maxPages" | "deadline" | "error" | "loop" | "aborted";
  /** The reason in words. */
  detail: string;
  /** Pages fetched at once (after PAGES_MAX_PREFETCH). */
  prefetch: number;
  durationMs: number;
  /** The page the crawl would have fetched next (not for `end`): a crawl can go on from there. */
  next?: string | undefined;
  /** What failed, for `error`: the upstream's answer when there was one. */
  error?:
    | {
        kind: FanoutErrorKind | "cross_origin" | "format";
        message: string;
        page: number;
        url: string;
        status: number | null;
        body?: unknown;
      }
    | undefined;
}

/** What `POST /v1/rooms/:room/tickets` takes. */
export interface TicketInput {
  user: string;
  /** Seconds the ticket is valid (default 60, at most ROOM_TICKET_MAX_TTL_SECONDS). */
  ttlSec?: number | undefined;
}

/** An RFC 9457 problem as the service answers it (extensions such as `waiters` or `limit` besides). */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[] | undefined;
} & Record<string, unknown>;

/** What `POST /v1/schedules` takes: a name, a cron (and time zone), the job each fire time creates, policies. */
export interface ScheduleSpec {
  name: string;
  /**
   * Five fields (minute hour day-of-month month day-of-week), or six with seconds first; names, L, W, # and
   * `@daily`-style nicknames. At least SCHEDULES_MIN_INTERVAL_SECONDS between fire times.
   */
  cron: string;
  /** IANA time zone the cron is read in (default UTC). */
  timezone?: string | undefined;
  /** The job each fire time creates, as `POST /v1/jobs` takes it. */
  job: JobSpec;
  /** Fire times missed by more than SCHEDULES_GRACE_SECONDS (downtime): run the latest once (default), or skip. */
  missed?: "latest" | "skip" | undefined;
  /** When the previous run's job has not ended: skip this fire time (default), or create the job anyway. */
  overlap?: "skip" | "allow" | undefined;
  paused?: boolean | undefined;
}

/** A schedule as listed: its definition and its next fire time. */
export interface ScheduleSummary {
  name: string;
  cron: string;
  timezone: string;
  missed: "latest" | "skip";
  overlap: "skip" | "allow";
  paused: boolean;
  createdAt: string;
  updatedAt: string;
  nextRunAt: string | null;
}

/** One run of a schedule: a fire time and what became of it (a job, a skip, missed fire times, a failure). */
export interface ScheduleRun {
  fireAt: string;
  state: "creating" | "created" | "skipped" | "missed" | "failed";
  jobId?: string | undefined;
  /** The job's state when read (after its retention: its last). */
  jobState?: string | undefined;
  reason?: "overlap" | "interval" | undefined;
  /** missed: the last fire time passed over. */
  until?: string | undefined;
  /** missed: how many (at most 100 counted). */
  count?: number | undefined;
  error?: string | undefined;
}

/** A schedule as `GET /v1/schedules/:name` answers it: its job, its next fire times and its last runs. */
export interface Schedule extends ScheduleSummary {
  job: JobSpec;
  nextRuns: string[];
  /** Newest first, at most SCHEDULES_HISTORY. */
  runs: ScheduleRun[];
}

export interface ScheduleDeleted {
  name: string;
  deleted: true;
}

/** A token's own /v1 rate limit. */
export interface TokenRate {
  limit: number;
  periodMs: number;
}

/** What `POST /v1/tokens` takes: a name, scopes, and optionally names, a namespace, an expiry, a rate. */
export interface TokenInput {
  /** A label: who or what holds it. */
  name: string;
  /** `family:verb` scopes (`counters:read`, `jobs:*`, `*`…): docs/tokens.md. */
  scopes: string[];
  /** Name patterns per family (`*` for the others); families left out get no names. */
  names?: Record<string, string[]> | undefined;
  /** Every name it uses lives apart, in this namespace. */
  namespace?: string | undefined;
  expiresInSeconds?: number | undefined;
  /** Its own /v1 limit, instead of API_RATE_LIMIT. */
  rate?: TokenRate | undefined;
}

/** A scoped token as the service shows it (never its secret). */
export interface Token {
  id: string;
  name: string;
  state: "active" | "revoked" | "expired";
  scopes: string[];
  names?: Record<string, string[]> | undefined;
  namespace?: string | undefined;
  rate?: TokenRate | undefined;
  createdAt: string;
  expiresAt?: string | undefined;
  /** Coarse: a few minutes late at most. */
  lastUsedAt: string | null;
  revokedAt?: string | undefined;
  rotatedAt?: string | undefined;
  /** When the secret before the last rotation stops working. */
  previousValidUntil?: string | undefined;
}

/** A token with its secret (`token`), as creating or rotating it answers, once. */
export interface CreatedToken extends Token {
  /** The secret, shown this once: only its SHA-256 is stored. */
  token: string;
}
