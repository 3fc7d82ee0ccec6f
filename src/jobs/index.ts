/**
 * The jobs wing: the Job object (chunks, results, watchdog, delayed start, callbacks, retention), the JobIndex of each
 * owner's jobs, creation, the queue consumer, webhooks, progress and the wire schemas. Its face to functions/ and to the other wings.
 */
export { queue } from "./consumer";
export { type CreateJobOutcome, createJob, refuse as checkJob } from "./create";
export {
  canonicalJson,
  DEMO_SCOPE,
  decodeCursor,
  decodeListCursor,
  encodeCursor,
  encodeListCursor,
  isDemoJobId,
  JOB_ID_PATTERN,
} from "./ids";
export { Job } from "./job";
export { JobIndex } from "./job-index";
export { progressRoom } from "./progress";
export {
  CreateJobSchema,
  IdempotencyHeaders,
  JobCreatedSchema,
  JobIdParams,
  JobListSchema,
  JobStatusSchema,
  ListQuery,
  ResultsPageSchema,
  ResultsQuery,
  RetrySchema,
} from "./schema";
export type { JobIndexEntry, JobMessage, JobStatus, JobTombstone } from "./types";
