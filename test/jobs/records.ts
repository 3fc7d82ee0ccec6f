/**
 * A Job object's record on plain values, for the tests of its pure decisions (src/jobs/job-state.ts, policy.ts): a
 * running fan-out of 4 calls with nothing done, no policy, callback or index row of its own. No runtime import, so
 * `npm run mutate` runs those tests in Node too.
 */
import type { JobRecord } from "../../src/jobs/job-state";

/**
 * The record, with `over` in place of the defaults.
 *
 * @example
 * const ended = jobRecord({ state: "failed", updatedAt: NOW });
 */
export const jobRecord = (over: Partial<JobRecord> = {}): JobRecord => ({
  id: "j1",
  type: "fanout",
  bodyHash: "h",
  state: "running",
  total: 4,
  spec: '{"concurrency":2}',
  done: 0,
  failed: 0,
  attempts: 0,
  error: null,
  createdAt: 0,
  updatedAt: 0,
  listedBy: null,
  runAt: null,
  retry: null,
  callback: null,
  cbState: null,
  cbAttempts: 0,
  cbError: null,
  cbNextAt: null,
  cbSettledAt: null,
  cbRound: 0,
  idxAcked: null,
  idxRetryAt: null,
  idxFailures: 0,
  ...over,
});
