/**
 * A consumer invocation's budget: one batch (max_batch_size messages, JOBS_CONSUMER_CONCURRENCY at a time) must end
 * within the 15-minute limit of an invocation, so a chunk's deadline is bounded whatever the job asked for.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FanoutOptionsSchema } from "../../src/fanout/schema";
import { CHUNK_OVERHEAD_MS, CONSUMER_INVOCATION_MS, chunkDeadlineMs, JOBS_MAX_BATCH_SIZE } from "../../src/jobs/budget";
import { webhookOptions } from "../../src/jobs/policy";
import { chunkFanoutOptions } from "../../src/jobs/types/fanout";
import { settings } from "../../src/settings";

describe("a chunk's deadline", () => {
  it("lets a full batch fit in one invocation for every JOBS_CONSUMER_CONCURRENCY", () => {
    for (let c = 1; c <= 100; c++) {
      const rounds = Math.ceil(JOBS_MAX_BATCH_SIZE / Math.min(c, JOBS_MAX_BATCH_SIZE));
      const perChunk = chunkDeadlineMs(c);
      expect(perChunk, `concurrency ${c}`).toBeGreaterThan(0);
      expect(rounds * (perChunk + CHUNK_OVERHEAD_MS), `concurrency ${c}`).toBeLessThanOrEqual(CONSUMER_INVOCATION_MS);
    }
    expect(chunkDeadlineMs(5)).toBe(420_000);
    expect(chunkDeadlineMs(1)).toBe(60_000);
    expect(chunkDeadlineMs(10)).toBe(870_000);
  });

  it("caps a job's deadlineMs (600 s allowed by the fan-out schema) to what fits, and keeps a shorter one", () => {
    const s = settings(env);
    const bound = chunkDeadlineMs(s.JOBS_CONSUMER_CONCURRENCY);
    const long = chunkFanoutOptions(FanoutOptionsSchema.parse({ deadlineMs: 600_000, concurrency: 500 }), s);
    expect(long.deadlineMs).toBe(bound);
    expect(long.concurrency).toBe(s.FANOUT_MAX_CONCURRENCY);
    expect(chunkFanoutOptions(FanoutOptionsSchema.parse({ deadlineMs: 20_000 }), s).deadlineMs).toBe(20_000);
  });

  it("caps a webhook delivery's timeout the same way", () => {
    const s = settings(env);
    expect(webhookOptions(s).deadlineMs).toBe(
      Math.min(s.JOBS_WEBHOOK_TIMEOUT_MS, chunkDeadlineMs(s.JOBS_CONSUMER_CONCURRENCY)),
    );
    const slow = { ...s, JOBS_WEBHOOK_TIMEOUT_MS: 120_000, JOBS_CONSUMER_CONCURRENCY: 1 };
    expect(webhookOptions(slow)).toMatchObject({ timeoutMs: 60_000, deadlineMs: 60_000 });
  });
});
