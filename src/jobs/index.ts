/**
 * The jobs wing: the Job object (chunks, results, watchdog, retention), creation, the queue consumer, webhooks,
 * progress and the wire schemas. Its face to functions/ and to the other wings.
 */
export { queue } from "./consumer";
export { type CreateJobOutcome, createJob, refuse as checkJob } from "./create";
export { canonicalJson, DEMO_SCOPE, decodeCursor, encodeCursor, isDemoJobId, JOB_ID_PATTERN } from "./ids";
export { Job } from "./job";
export { progressRoom } from "./progress";
export {
  CreateJobSchema,
  IdempotencyHeaders,
  JobCreatedSchema,
  JobIdParams,
  JobStatusSchema,
  ResultsPageSchema,
  ResultsQuery,
  RetrySchema,
} from "./schema";
export type { JobMessage, JobStatus, JobTombstone } from "./types";
