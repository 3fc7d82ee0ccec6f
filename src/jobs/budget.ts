/**
 * A consumer invocation's time budget. One invocation runs a whole batch: up to the queue's `max_batch_size`
 * messages, JOBS_CONSUMER_CONCURRENCY at a time, and it must end within the platform's limit on a consumer
 * invocation (15 minutes of wall time). So each chunk runs under a deadline that lets a full batch fit: with slots
 * for `c` chunks at once, a batch of `n` runs in at most ceil(n / c) rounds of one chunk's longest run.
 */

/** The jobs queue's `max_batch_size` ([[queues.consumers]] in wrangler.toml; test/e2e/settings.test.ts checks). */
export const JOBS_MAX_BATCH_SIZE = 10;

/** Wall time of one queue consumer invocation (Cloudflare Queues: 15 minutes). */
export const CONSUMER_INVOCATION_MS = 15 * 60_000;

/** Kept per chunk for what is not its requests: the Job object's claim and record calls, reading the last body. */
export const CHUNK_OVERHEAD_MS = 30_000;

/**
 * The longest one chunk's requests may run (its fan-out `deadlineMs`, or a webhook delivery) so that a full batch,
 * `concurrency` chunks at a time, ends within one invocation.
 *
 * @example
 * chunkDeadlineMs(5) // 420_000: 10 messages 5 at a time are 2 rounds of 450 s, less 30 s for each chunk's calls
 * chunkDeadlineMs(1) // 60_000
 */
export function chunkDeadlineMs(concurrency: number): number {
  const slots = Math.min(Math.max(1, Math.floor(concurrency)), JOBS_MAX_BATCH_SIZE);
  const rounds = Math.ceil(JOBS_MAX_BATCH_SIZE / slots);
  return Math.floor(CONSUMER_INVOCATION_MS / rounds) - CHUNK_OVERHEAD_MS;
}
