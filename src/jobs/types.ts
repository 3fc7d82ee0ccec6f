/**
 * The shapes jobs pass around: queue messages, stored results and the status a client reads.
 */

export type JobType = "fanout" | "webhook";
export type JobState = "queued" | "running" | "succeeded" | "partial" | "failed" | "canceled";
export const TERMINAL_STATES: readonly JobState[] = ["succeeded", "partial", "failed", "canceled"];

/**
 * One queue message: one chunk of one job. Fan-out chunks carry their requests when they fit in a message;
 * otherwise the consumer reads them from the Job Durable Object.
 */
export interface JobMessage {
  jobId: string;
  chunk: number;
  requests?: unknown[];
}

/** A recorded result: the fan-out result of one request (or of the webhook delivery), by its index in the job. */
export interface JobResult {
  index: number;
  ok: boolean;
  [field: string]: unknown;
}

export interface JobStatus {
  id: string;
  type: JobType;
  state: JobState;
  /** Requests in the job (1 for a webhook). */
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
}
