import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { until } from "../helpers/api";
import { newGate, newKey, stats, up } from "../helpers/upstream";
import { allResults, deliver, hits, path, received, seedFanoutJob, seedWebhookJob, UP } from "./helpers";
import { verifyStandardWebhook } from "./verify-webhook";

const JOBS = "edgeloop-jobs";
const DLQ = "edgeloop-jobs-dlq";

describe("the jobs consumer", () => {
  it("acks successes and permanent failures one by one and retries transient ones with backoff", async () => {
    const p = [path("a"), path("b"), path("c"), path("d", "status=503"), path("e", "status=404")];
    const urls = [...p.map((x) => UP + x), "http://10.0.0.1/private"];
    const { id, stub } = await seedFanoutJob(urls, 2);
    const result = await deliver(JOBS, [
      { id: "m0", body: { jobId: id, chunk: 0 } },
      { id: "m1", attempts: 3, body: { jobId: id, chunk: 1 } },
      { id: "m2", body: { jobId: id, chunk: 2 } },
      { id: "m3", body: { nonsense: true } },
    ]);
    expect(result.explicitAcks).toEqual(["m0", "m2", "m3"]);
    expect(result.retryMessages).toHaveLength(1);
    expect(result.retryMessages[0]?.msgId).toBe("m1");
    // attempts 3, base 2 s: 8 s of exponential backoff, half of it jitter.
    expect(result.retryMessages[0]?.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(result.retryMessages[0]?.delaySeconds).toBeLessThanOrEqual(8);
    expect(result.retryBatch.retry).toBe(false);

    const status = await stub.status();
    expect(status).toMatchObject({ state: "running", total: 6, done: 5, failed: 2, dead: 0, attempts: 3 });
    const results = await allResults(stub);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 4, 5]);
    expect(results[3]).toMatchObject({ index: 4, outcome: "fulfilled", status: 404, ok: false });
    expect(results[4]).toMatchObject({ index: 5, outcome: "rejected", ok: false, error: { kind: "blocked" } });
    expect(await hits(p[3] as string)).toBe(1);
  });

  it("records each call's result as it finishes, so the job's progress moves call by call within a chunk", async () => {
    // One chunk of three calls, each held at a gate of its own: the test decides when each one answers.
    const gates = [newGate(), newGate(), newGate()];
    const { id, stub } = await seedFanoutJob(
      gates.map((gate) => up({ key: newKey(), gate: gate.name })),
      3,
      { concurrency: 3 },
    );
    const run = deliver(JOBS, [{ id: "p1", body: { jobId: id, chunk: 0 } }]);
    const done = async () => (await stub.status())?.done;
    try {
      await Promise.all(gates.map((gate) => gate.waiting(1)));
      expect(await stub.status()).toMatchObject({ done: 0, total: 3 });
      for (const [i, gate] of gates.slice(0, 2).entries()) {
        await gate.open();
        // Recorded while the chunk still runs: its other calls are still held.
        await until(async () => (await done()) === i + 1);
        expect(await stub.status()).toMatchObject({ state: "running", done: i + 1, total: 3 });
        expect((await allResults(stub)).map((r) => r.index)).toHaveLength(i + 1);
      }
    } finally {
      for (const gate of gates) await gate.open();
    }
    expect((await run).explicitAcks).toEqual(["p1"]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 3, failed: 0 });
    expect((await allResults(stub)).map((r) => r.index)).toEqual([0, 1, 2]);
  });

  it("applies a chunk delivered twice once, even when both deliveries run at the same time", async () => {
    // Both requests of the chunk are held at one gate on the loopback upstream.
    const gate = newGate();
    const keys = [newKey(), newKey()];
    const { id, stub } = await seedFanoutJob(
      keys.map((key) => up({ key, gate: gate.name })),
      2,
    );
    const message = { jobId: id, chunk: 0 };
    const both = deliver(JOBS, [
      { id: "d1", body: message },
      { id: "d2", body: message },
    ]);
    try {
      // The two deliveries overlap: both claimed the chunk and both are fetching its two requests at once.
      expect(await gate.waiting(4)).toMatchObject({ waiting: 4 });
    } finally {
      await gate.open();
    }
    const first = await both;
    expect(first.explicitAcks).toEqual(["d1", "d2"]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 2, failed: 0 });
    expect((await allResults(stub)).map((r) => r.index)).toEqual([0, 1]);
    const hitsOf = async () => Promise.all(keys.map(async (key) => (await stats(key)).hits));
    expect(await hitsOf()).toEqual([2, 2]);
    // Late duplicates find the chunk done, are acked and fetch nothing.
    for (const late of ["d3", "d4"]) {
      expect((await deliver(JOBS, [{ id: late, body: message }])).explicitAcks).toEqual([late]);
      expect(await hitsOf()).toEqual([2, 2]);
    }
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 2, failed: 0 });
  });

  it("re-runs only the requests of a chunk that have no result yet", async () => {
    const ok = path("ok");
    const flaky = path("flaky", "failFirst=1");
    const { id, stub } = await seedFanoutJob([UP + ok, UP + flaky], 2);
    const first = await deliver(JOBS, [{ id: "r1", body: { jobId: id, chunk: 0 } }]);
    expect(first.retryMessages.map((r) => r.msgId)).toEqual(["r1"]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 1 });
    const second = await deliver(JOBS, [{ id: "r1", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(second.explicitAcks).toEqual(["r1"]);
    expect(await hits(ok)).toBe(1);
    expect(await hits(flaky)).toBe(2);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 2, failed: 0, attempts: 2 });
  });

  it("uses the requests carried in the message and reads them from the job when they are not", async () => {
    const a = path("inline");
    const { id, stub } = await seedFanoutJob([UP + a], 1);
    const result = await deliver(JOBS, [{ id: "i1", body: { jobId: id, chunk: 0, requests: [{ url: UP + a }] } }]);
    expect(result.explicitAcks).toEqual(["i1"]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 1 });
  });

  it("marks a chunk from the dead-letter queue dead, so the job ends partial with the last error", async () => {
    const good = path("good");
    const bad = path("bad", "status=503");
    const { id, stub } = await seedFanoutJob([UP + good, UP + bad], 1);
    await deliver(JOBS, [
      { id: "g", body: { jobId: id, chunk: 0 } },
      { id: "b", attempts: 6, body: { jobId: id, chunk: 1 } },
    ]);
    const dead = await deliver(DLQ, [{ id: "b", attempts: 1, body: { jobId: id, chunk: 1 } }]);
    expect(dead.explicitAcks).toEqual(["b"]);
    const status = await stub.status();
    expect(status).toMatchObject({ state: "partial", total: 2, done: 1, failed: 1, dead: 1 });
    expect(status?.error).toContain("HTTP 503");
    // A duplicate dead letter changes nothing.
    await deliver(DLQ, [{ id: "b2", body: { jobId: id, chunk: 1 } }]);
    expect(await stub.status()).toMatchObject({ state: "partial", done: 1, failed: 1, dead: 1 });
    // A late delivery of the dead chunk is skipped.
    const late = await deliver(JOBS, [{ id: "late", body: { jobId: id, chunk: 1 } }]);
    expect(late.explicitAcks).toEqual(["late"]);
    expect(await hits(bad)).toBe(1);
  });

  it("ends a job failed when every chunk is dead", async () => {
    const { id, stub } = await seedFanoutJob([`${UP}${path("never")}`], 5);
    await deliver(DLQ, [{ id: "x", body: { jobId: id, chunk: 0 } }]);
    expect(await stub.status()).toMatchObject({ state: "failed", done: 0, failed: 1, dead: 1 });
  });

  it("acks messages of unknown jobs and chunks without doing anything", async () => {
    const { id } = await seedFanoutJob([`${UP}${path("one")}`], 5);
    const result = await deliver(JOBS, [
      { id: "u1", body: { jobId: "0".repeat(32), chunk: 0 } },
      { id: "u2", body: { jobId: id, chunk: 7 } },
      { id: "u3", body: { jobId: "not-a-job-id", chunk: 0 } },
    ]);
    expect(result.explicitAcks).toEqual(["u1", "u2", "u3"]);
    expect(result.retryMessages).toEqual([]);
  });

  it("skips and acks chunks of a canceled job", async () => {
    const a = path("canceled");
    const { id, stub } = await seedFanoutJob([UP + a], 1);
    expect(await stub.cancel()).toMatchObject({ outcome: "canceled", status: { state: "canceled" } });
    const result = await deliver(JOBS, [{ id: "c1", body: { jobId: id, chunk: 0 } }]);
    expect(result.explicitAcks).toEqual(["c1"]);
    expect(await hits(a)).toBe(0);
    expect(await stub.status()).toMatchObject({ state: "canceled", done: 0, attempts: 0 });
  });
});

describe("webhook jobs", () => {
  const secret = env.JOBS_WEBHOOK_SECRET as string;

  it("deliver the payload once, signed as the Standard Webhooks spec says", async () => {
    const hook = path("hook");
    const payload = { event: "order.paid", order: 42 };
    const { id, stub } = await seedWebhookJob(UP + hook, payload, { "x-tenant": "acme" });
    const result = await deliver(JOBS, [{ id: "w1", body: { jobId: id, chunk: 0 } }]);
    expect(result.explicitAcks).toEqual(["w1"]);
    const deliveries = await received(hook);
    expect(deliveries).toHaveLength(1);
    const [d] = deliveries;
    expect(d?.body).toBe(JSON.stringify(payload));
    expect(d?.headers["webhook-id"]).toBe(`msg_${id}`);
    expect(d?.headers["content-type"]).toBe("application/json");
    expect(d?.headers["x-tenant"]).toBe("acme");
    expect(d?.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(await verifyStandardWebhook(secret, d?.headers ?? {}, d?.body ?? "")).toBe(true);
    expect(await verifyStandardWebhook(secret, d?.headers ?? {}, `${d?.body}x`)).toBe(false);
    expect(await stub.status()).toMatchObject({ type: "webhook", state: "succeeded", total: 1, done: 1, failed: 0 });
    const [recorded] = await allResults(stub);
    expect(recorded).toMatchObject({ index: 0, status: 200, ok: true });
  });

  it("retry a 5xx answer with backoff, keeping the same webhook-id", async () => {
    const hook = path("hook-flaky", "failFirst=1");
    const { id, stub } = await seedWebhookJob(UP + hook, { n: 1 });
    const first = await deliver(JOBS, [{ id: "w2", body: { jobId: id, chunk: 0 } }]);
    expect(first.retryMessages.map((r) => r.msgId)).toEqual(["w2"]);
    expect(first.retryMessages[0]?.delaySeconds).toBeGreaterThanOrEqual(1);
    const second = await deliver(JOBS, [{ id: "w2", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(second.explicitAcks).toEqual(["w2"]);
    const deliveries = await received(hook.split("?")[0] as string);
    expect(deliveries.map((d) => d.headers["webhook-id"])).toEqual([`msg_${id}`, `msg_${id}`]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", attempts: 2 });
  });

  it("record a 4xx answer as a failed delivery without retrying", async () => {
    const hook = path("hook-gone", "status=410");
    const { id, stub } = await seedWebhookJob(UP + hook, { n: 2 });
    const result = await deliver(JOBS, [{ id: "w3", body: { jobId: id, chunk: 0 } }]);
    expect(result.explicitAcks).toEqual(["w3"]);
    expect(result.retryMessages).toEqual([]);
    expect(await stub.status()).toMatchObject({
      state: "failed",
      done: 1,
      failed: 1,
      error: "webhook delivery ended with HTTP 410",
    });
  });
});
