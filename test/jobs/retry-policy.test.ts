/**
 * A job's own retry policy and per-call timeout, in the consumer: each delivery of a chunk with transient failures is
 * retried after the job's backoff (not the JOBS_RETRY_* defaults), until the job's `retry.attempts` deliveries; then
 * the chunk is dead at once (no wait for the dead-letter queue) and the job ends. A call slower than the job's
 * `timeoutMs` times out. The status shows the policy in force. Deliveries are handed to queue() by the test.
 */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../functions/index";
import type { JobStatus } from "../../src/jobs/types";
import { AUTH, BASE, deliver, hits, path, seedFanoutJob, UP } from "./helpers";

const JOBS = "edgeloop-jobs";

/** A job stored straight into its object (nothing queued), with its own retry fields. */
const seed = (urls: string[], retry: Record<string, number> | undefined, options: Record<string, unknown> = {}) =>
  seedFanoutJob(urls, 10, options, retry ? { retryJson: JSON.stringify(retry) } : {});

describe("a job's retry policy", () => {
  it("retries a chunk after the job's backoff, and after its attempts marks it dead at once", async () => {
    const ok = path("p-ok");
    const bad = path("p-bad", "status=503");
    const { id, stub } = await seed([UP + ok, UP + bad], { attempts: 2, baseMs: 20_000, maxMs: 30_000 });
    expect(await stub.status()).toMatchObject({ retry: { attempts: 2, baseMs: 20_000, maxMs: 30_000 } });

    const first = await deliver(JOBS, [{ id: "r", attempts: 1, body: { jobId: id, chunk: 0 } }]);
    // First retry: 20 s of exponential backoff, half of it jitter (the default base would give 1-2 s).
    expect(first.retryMessages).toHaveLength(1);
    expect(first.retryMessages[0]?.delaySeconds).toBeGreaterThanOrEqual(10);
    expect(first.retryMessages[0]?.delaySeconds).toBeLessThanOrEqual(20);

    const second = await deliver(JOBS, [{ id: "r", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(second.retryMessages).toEqual([]);
    expect(second.explicitAcks).toEqual(["r"]);
    const status = await stub.status();
    expect(status).toMatchObject({ state: "partial", done: 1, failed: 1, dead: 1, attempts: 2 });
    expect(status?.error).toContain("HTTP 503");
    expect(await hits(ok)).toBe(1);
    expect(await hits(bad)).toBe(2);
  });

  it("without a policy of its own, keeps the JOBS_RETRY_* backoff and all of max_retries + 1 deliveries", async () => {
    const bad = path("d-bad", "status=503");
    const { id, stub } = await seed([UP + bad], undefined);
    expect(await stub.status()).toMatchObject({ retry: { attempts: 6, baseMs: 2_000, maxMs: 300_000 } });
    const fifth = await deliver(JOBS, [{ id: "d", attempts: 5, body: { jobId: id, chunk: 0 } }]);
    // attempts 5, base 2 s: 32 s, half of it jitter.
    expect(fifth.retryMessages[0]?.delaySeconds).toBeGreaterThanOrEqual(16);
    expect(fifth.retryMessages[0]?.delaySeconds).toBeLessThanOrEqual(32);
    const sixth = await deliver(JOBS, [{ id: "d", attempts: 6, body: { jobId: id, chunk: 0 } }]);
    expect(sixth.explicitAcks).toEqual(["d"]);
    expect(await stub.status()).toMatchObject({ state: "failed", dead: 1 });
  });

  it("with attempts 1, never retries: a transient failure ends the chunk dead on its first delivery", async () => {
    const { id, stub } = await seed([UP + path("once", "status=503")], { attempts: 1 });
    const only = await deliver(JOBS, [{ id: "o", attempts: 1, body: { jobId: id, chunk: 0 } }]);
    expect(only.retryMessages).toEqual([]);
    expect(await stub.status()).toMatchObject({ state: "failed", dead: 1, attempts: 1 });
  });
});

describe("a job's per-call timeout", () => {
  it("times out a call slower than the job's timeoutMs (transient: retried), and the status shows it", async () => {
    const slow = path("slow", "latency=3000");
    const { id, stub } = await seed([UP + slow], { attempts: 2, baseMs: 1_000 }, { timeoutMs: 150 });
    expect(await stub.status()).toMatchObject({ timeoutMs: 150 });
    const first = await deliver(JOBS, [{ id: "t", attempts: 1, body: { jobId: id, chunk: 0 } }]);
    expect(first.retryMessages.map((r) => r.msgId)).toEqual(["t"]);
    await deliver(JOBS, [{ id: "t", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    const status = await stub.status();
    expect(status).toMatchObject({ state: "failed", dead: 1 });
    expect(status?.error).toMatch(/timeout/);
  });

  it("over the routes: a webhook job's timeoutMs and retry are taken, and refused beyond the settings' caps", async () => {
    const post = (body: unknown) =>
      exports.default.fetch(`${BASE}/v1/jobs`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
        body: JSON.stringify(body),
      });
    const webhook = { type: "webhook", url: UP + path("wh"), payload: { a: 1 } };
    const res = await post({ ...webhook, timeoutMs: 2_500, retry: { attempts: 3, maxMs: 60_000 } });
    expect(res.status).toBe(202);
    const { id } = await res.json<{ id: string }>();
    const status = await (await exports.default.fetch(`${BASE}/v1/jobs/${id}`, { headers: AUTH })).json<JobStatus>();
    expect(status).toMatchObject({ timeoutMs: 2_500, retry: { attempts: 3, baseMs: 2_000, maxMs: 60_000 } });

    const refused: [unknown, string][] = [
      [{ ...webhook, retry: { attempts: 7 } }, "max_retries"],
      [{ ...webhook, retry: { maxMs: 300_001 } }, "JOBS_RETRY_MAX_SECONDS"],
      [{ ...webhook, retry: { baseMs: 400_000 } }, "JOBS_RETRY_MAX_SECONDS"],
      [{ ...webhook, timeoutMs: 300_001 }, "JOBS_MAX_TIMEOUT_MS"],
      [{ ...webhook, retry: { attempts: 2, tries: 3 } }, "tries"],
    ];
    for (const [body, named] of refused) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(await r.text()).toContain(named);
    }
    // A request's own timeout is held to the cap in force too (the schema's bound is the fan-out's, 300 s).
    const lowered = await worker.fetch(
      new Request(`${BASE}/v1/jobs`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
        body: JSON.stringify({ type: "fanout", requests: [{ url: UP + path("t"), timeoutMs: 2_000 }] }),
      }),
      { ...env, JOBS_MAX_TIMEOUT_MS: "1000" },
      createExecutionContext(),
    );
    expect(lowered.status).toBe(400);
    expect(await lowered.json()).toMatchObject({ limit: "JOBS_MAX_TIMEOUT_MS", max: 1_000 });
  });
});
