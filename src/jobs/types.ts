/**
 * The shapes jobs pass around: queue messages, stored results, the status a client reads, the Job Durable
 * Object's RPC contract (what `create`, `claim`, `dispatch`, `cancel`, `retryDead`, `results` and `gone` take and
 * return), and the rows a JobIndex keeps.
 */

import type { JobState } from "./protocol.js";
import type { JobTypeName } from "./schema.js";

export type { JobState };
/** A job type's name (the registry: src/jobs/types/). */
export type JobType = JobTypeName;

/**
 * One queue message: one chunk of one job. A chunk carries its items (`requests`) when they fit in a message;
 * otherwise the consumer reads them from the Job Durable Object.
 */
export interface JobMessage {
  jobId: string;
  chunk: number;
  requests?: unknown[];
  /** Deliveries in a row that flow control deferred without running a call (the next delay doubles). */
  deferrals?: number;
}

/** A recorded result: what the type's handler answered for one item (a fan-out result, a digest…), by its index. */
export interface JobResult {
  index: number;
  ok: boolean;
  [field: string]: unknown;
}

export interface JobStatus {
  id: string;
  type: JobType;
  state: JobState;
  /** Items in the job (1 for a webhook). */
  total: number;
  /** Requests with a final result (any outcome). */
  done: number;
  /** Results that are not ok (non-2xx, blocked, …) plus requests of dead chunks. */
  failed: number;
  /** Requests of chunks that went to the dead-letter queue and have no result. */
  dead: number;
  /** Deliveries of the job's chunks that ran (first tries and retries). */
  attempts: number;
  /**
   * Times the watchdog sent a chunk again because its queue message was lost (no activity for JOBS_STALL_SECONDS);
   * `POST /v1/jobs/:id/retry` starts the count of the chunks it revives afresh.
   */
  resends: number;
  chunks: number;
  createdAt: string;
  updatedAt: string;
  error?: string;
  /** When a delayed job starts (or started). */
  runAt?: string;
  /** The retry policy in force (`policy.ts`). */
  retry: { attempts: number; baseMs: number; maxMs: number };
  /** The per-call timeout in force. */
  timeoutMs: number;
  callback?: CallbackStatus;
}

/** The states a job ends in (`END_STATES`). */
export type EndState = "succeeded" | "partial" | "failed" | "canceled";

/**
 * Where a job's completion callback is: `waiting` while the job runs, `skipped` when it ended in a state not in `on`,
 * else `pending` (due), `failing` (an attempt failed, another follows), `delivered` or `given-up`.
 */
export type CallbackState = "waiting" | "pending" | "delivered" | "failing" | "given-up" | "skipped";

export interface CallbackStatus {
  url: string;
  on: EndState[];
  state: CallbackState;
  attempts: number;
  lastError?: string;
}

/** A job's `flow` (src/flow/schema.ts), with its tenant's name prefix (`ownerName`), whose key its calls share. */
export interface JobFlow {
  key: string;
  parallelism?: number;
  rate?: { limit: number; periodMs: number };
  owner: string;
}

/** A job's completion callback, as stored: where to POST its final status, and for which end states. */
export interface CallbackSpec {
  url: string;
  on: EndState[];
}

/**
 * What `create` needs. Items and options cross the RPC boundary as JSON text: they are stored as such, and plain
 * strings keep the RPC types simple.
 */
export interface CreateJobInput {
  id: string;
  type: JobType;
  bodyHash: string;
  /** The job's items (a JSON array: the fan-out requests, the webhook, the URLs to hash…). */
  requestsJson?: string;
  /** The options every chunk runs with (a JSON object: the type's, with the job's `flow`). */
  optionsJson?: string;
  chunkSize: number;
  /** Who creates it (`tenantOf`'s owner): only that owner, and the root token, may read or change it. */
  owner?: string;
  /** Whose list it is in (`ownerName` of its tenant): its row in that JobIndex. None: not listed. */
  listedBy?: string;
  /** A delayed job's start (ms): it is `scheduled` until then. */
  runAt?: number | null;
  /** The job's own retry fields (a JSON `RetryInput`), when it gave any. */
  retryJson?: string;
  /** Its completion callback (a JSON `CallbackSpec`). */
  callbackJson?: string;
}

/** What is left of a job deleted after its retention: enough to answer 410 Gone for its id (JOBS_TOMBSTONE_DAYS). */
export interface JobTombstone {
  id: string;
  state: JobState;
  /** When it ended (its last change), when its storage was deleted, and when the tombstone goes too (ms). */
  endedAt: number;
  deletedAt: number;
  forgetAt: number;
}

export type CreateOutcome =
  | { outcome: "created" | "existing" | "conflict"; status: JobStatus }
  /** The id's job ran and was deleted: nothing is created again. */
  | { outcome: "gone"; tombstone: JobTombstone };

export type Claim =
  | { action: "skip"; reason: "unknown-job" | "unknown-chunk" | "canceled" | "done" | "dead" | "not-due" }
  | {
      action: "run";
      type: JobType;
      /** Job-wide indices of the chunk's requests that have no result yet. */
      pending: number[];
      /** Index of the chunk's first request. */
      start: number;
      /** The job's options (JSON object). */
      optionsJson: string;
      /** The chunk's items (JSON array, by position from `start`), when asked for. */
      requestsJson?: string;
      /** The job's own retry fields (JSON `RetryInput`), read in the terms of the settings in force. */
      retryJson?: string;
    };

export type DispatchOutcome = { sent: number; error?: string };
export type CancelOutcome = { outcome: "canceled" | "conflict"; status: JobStatus };
export type RetryOutcome = { outcome: "requeued" | "nothing" | "conflict"; requeued: number; status: JobStatus };

export interface ResultsPage {
  /** Each result as JSON text. */
  items: string[];
  /** Index of the last item when more follow, else null. */
  next: number | null;
}

/** A job's row in its owner's JobIndex (what GET /v1/jobs lists), as the Job object sends it. */
export interface JobIndexEntry {
  id: string;
  type: JobType;
  state: JobState;
  total: number;
  createdAt: number;
  runAt: number | null;
  /** When it ended (its last change), while it has. */
  endedAt: number | null;
  /** When its retention deletes it, once known (its callback settled): the index drops the row then too. */
  expiresAt: number | null;
  /** Counts up with each update the job sends: an older one arriving late changes nothing. */
  version: number;
}

/** A page of an owner's jobs, newest first; `next` is where the next page starts, or null. */
export interface JobIndexPage {
  items: JobIndexEntry[];
  next: { createdAt: number; id: string } | null;
}
