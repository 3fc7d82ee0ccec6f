/**
 * What a job type is: a name, the schema of one of its items (what a request of the job is) and a handler that runs
 * one item — `(item, ctx) => result` — or, for a type whose work is one call per chunk (`service`), all of a chunk's
 * items at once. Optional hooks say what the generic parts cannot know: where the items are in a request body, which
 * URLs to check before anything is stored, the default timeout, how many items run at once. The consumer, the Job
 * object and creation know types only through this contract (src/jobs/types/index.ts lists them).
 */
import type { z } from "@hono/zod-openapi";
import type { GuardedInit, HeaderLimitBreach, UrlGuard } from "../../fanout";
import type { Settings } from "../../settings";
import type { CreateJobBody, JobTypeName } from "../schema";
import type { JobResult } from "../types";

/** Why a job may not be created, as a type's own check says (a missing secret or binding, headers over a limit). */
export type JobRefusal =
  | { outcome: "headers-over-limit"; breach: HeaderLimitBreach }
  | { outcome: "webhook-secret-missing" }
  /** A setting or binding the type needs is missing: 503, the detail says which. */
  | { outcome: "not-configured"; detail: string };

/** A result as a handler returns it: any JSON object. `ok` defaults to true; `index` is the job's. */
export type ItemResult = { ok?: boolean } & Record<string, unknown>;

/**
 * Thrown by a handler (or `ctx.fetch`) for a failure another delivery cannot change: it is recorded as the item's
 * result, `{index, ok: false, error: {kind, message}}`, and not retried. Anything else a handler throws is transient:
 * the item stays without a result and its chunk is retried as the job's retry policy says.
 *
 * @example
 * if (res.status === 404) throw new JobItemError("status", "the file is gone (HTTP 404)");
 */
export class JobItemError extends Error {
  override readonly name = "JobItemError";
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** A fetch through the URL guard: every redirect hop re-checked, credentials dropped across origins, a timeout. */
export type JobFetch = (input: string | URL, init?: GuardedInit) => Promise<Response>;

/** What a handler gets besides its item. */
export interface JobContext<Options> {
  readonly jobId: string;
  /** The item's index in the job. */
  readonly index: number;
  /** `<job id>:<index>`: the same on every delivery of this item, for whatever it calls to deduplicate by. */
  readonly key: string;
  /** This delivery of the item's chunk: 1 the first time (after a flow-control deferral too). */
  readonly attempt: number;
  /** Aborts at the chunk's deadline: stop then (what has not ended is retried). */
  readonly signal: AbortSignal;
  /** When the chunk's deadline passes (ms since the epoch). */
  readonly deadline: number;
  /** The job's per-call timeout in force (`ctx.fetch` applies it to each call). */
  readonly timeoutMs: number;
  /** `fetch` through the URL guard (a demo job's guard for a demo job): a blocked URL or hop is a JobItemError. */
  readonly fetch: JobFetch;
  /** The guard itself, for code that calls out on its own (the fan-out engine). */
  readonly guard: UrlGuard;
  /** The job's options: its body's fields besides its items and the fields every job has. */
  readonly options: Options;
  readonly env: Env;
  readonly settings: Settings;
  /**
   * Report how the item is getting on (any JSON): published, throttled, into the job's room as `job-item-progress`
   * (when it fits in ROOM_MAX_MESSAGE_BYTES), and it counts as the chunk's activity for the job's watchdog.
   */
  progress(data: unknown): void;
}

/** One item of a chunk, for a chunk handler: its index, idempotency key and the item. */
export interface ChunkItem<Item> {
  index: number;
  key: string;
  item: Item;
}

/** What a chunk handler gets: the item context's parts that are not one item's, and how to answer each item. */
export interface ChunkContext<Options> extends Omit<JobContext<Options>, "index" | "key" | "progress"> {
  readonly chunk: number;
  /** Item `index` succeeded with `result` (recorded as it comes: a later crash does not run it again). */
  result(index: number, result: ItemResult): void;
  /** Item `index` failed for good (recorded, not retried). */
  fail(index: number, kind: string, message: string): void;
  /** Item `index` failed for now: it is retried (as are items given no answer at all); `message` is its last error. */
  retry(index: number, message: string): void;
  progress(index: number, data: unknown): void;
}

/** The request body of a type (what POST /v1/jobs takes, less the fields every job has). */
export type BodyOf<Name extends JobTypeName> = Omit<
  Extract<CreateJobBody, { type: Name }>,
  "runAt" | "delayMs" | "retry" | "callback"
>;

interface JobTypeBase<Name extends JobTypeName, Item, Options> {
  readonly name: Name;
  /** One request of the job, validated in its body (the body schemas: JOB_BODIES in src/jobs/schema.ts). */
  readonly item: z.ZodType<Item>;
  /** The job's items, and the options every chunk runs with, from its body. Options keep the body's `flow`. */
  split(body: BodyOf<Name>): { items: Item[]; options: Options };
  /** Refuse the job before anything is stored (a missing secret, headers over a limit); undefined lets it pass. */
  refuse?(items: readonly Item[], options: Options, env: Env, s: Settings): JobRefusal | undefined;
  /** The URLs of its items, each with its path in the body: the URL guard checks them when the job is created. */
  urls?(items: readonly Item[]): { path: string; url: string }[];
  /** An item's own timeout, if it may have one (checked against JOBS_MAX_TIMEOUT_MS when the job is created). */
  itemTimeoutMs?(item: Item): number | undefined;
  /** The per-call timeout when the job gives none (default 5,000 ms). */
  timeoutMs?(s: Settings): number;
  /** Items per chunk (default JOBS_CHUNK_SIZE). */
  chunkSize?(s: Settings): number;
  /** Items of a chunk run at once (default 1). */
  concurrency?(options: Options, s: Settings): number;
  /** The chunk's deadline the job asks for (ms), lowered to what lets a consumer batch fit (`chunkDeadlineMs`). */
  deadlineMs?(options: Options): number | undefined;
  /** The largest result, as JSON, recorded as it is; a larger one is a failed result (default JOBS_MAX_RESULT_BYTES). */
  maxResultBytes?(s: Settings): number;
  /** The job's `error` when an item ends with this failed result (default: none; a failed result counts in `failed`). */
  failure?(result: JobResult): string | undefined;
}

/**
 * A job type: runs one item at a time (`handler`), or a chunk's items in one call (`chunk`).
 *
 * @example
 * export const echo: JobType<"echo", { text: string }, object> = {
 *   name: "echo",
 *   item: EchoItemSchema,
 *   split: ({ items }) => ({ items, options: {} }),
 *   handler: async (item) => ({ text: item.text }),
 * };
 */
export type JobType<Name extends JobTypeName, Item, Options> = JobTypeBase<Name, Item, Options> &
  (
    | { handler(item: Item, ctx: JobContext<Options>): Promise<ItemResult>; chunk?: never }
    | { chunk(items: ChunkItem<Item>[], ctx: ChunkContext<Options>): Promise<void>; handler?: never }
  );

/** Any registered type, as the generic parts see it. */
// biome-ignore lint/suspicious/noExplicitAny: a registry of types whose items and options differ
export type AnyJobType = JobType<JobTypeName, any, any>;
