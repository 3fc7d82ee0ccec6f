/**
 * Service jobs: a job's items go by RPC to a Worker the deployer binds (here test/jobs/service-worker.js, bound as
 * JOBS_SERVICE with JOBS_SERVICE_BINDING naming it: vitest.config.ts), one `handle(items, ctx)` call per chunk, with
 * the jobs' guarantees: each answer recorded once by index, a crash mid-chunk redelivering only the items without a
 * result, an idempotency key per item. Messages are delivered by hand (createMessageBatch, getQueueResult), so the
 * test decides what the queue does; the Worker's calls go to the jobs upstream, which counts each run of an item and
 * holds the ones the test holds.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../../src/jobs/types";
import { call, fetchWithSettings, until } from "../helpers/api";
import { allResults, cutOffMidJob, deliver, hits, nothingStored, openGate, path, seedJob, UP } from "./helpers";

const JOBS = "edgeloop-jobs";

/** An item whose run the upstream counts under a path of its own. */
const counted = (n: number, more: Record<string, unknown> = {}, query = "") => {
  const p = path(`item-${n}`, query);
  return { item: { n, url: UP + p, ...more }, path: p };
};

describe("service jobs", () => {
  it("deliver each chunk's items to the bound Worker by RPC, with an idempotency key per item, and record each answer once by index", async () => {
    const items = [0, 1, 2, 3, 4].map((n) => counted(n, n === 3 ? { mode: "return" } : {}));
    const { id, stub } = await seedJob(
      "service",
      items.map((i) => i.item),
      2,
    );
    const result = await deliver(JOBS, [
      { id: "s0", body: { jobId: id, chunk: 0 } },
      { id: "s1", body: { jobId: id, chunk: 1 } },
      { id: "s2", body: { jobId: id, chunk: 2 } },
    ]);
    expect(result.explicitAcks).toEqual(["s0", "s1", "s2"]);
    expect(result.retryMessages).toEqual([]);
    expect(await stub.status()).toMatchObject({ type: "service", state: "succeeded", total: 5, done: 5, failed: 0 });
    expect(await allResults(stub)).toEqual(
      [0, 1, 2, 3, 4].map((n) => ({
        index: n,
        ok: true,
        value: { n, key: `${id}:${n}`, attempt: 1, jobId: id, chunk: Math.floor(n / 2) },
      })),
    );
    for (const { path: p } of items) expect(await hits(p)).toBe(1);
  });

  it("end with every result once when the consumer is cut off mid-job: the redelivery sends only the items without a result", async () => {
    // Two chunks in one batch: chunk 0 (items 0-2) runs whole; in chunk 1 (items 3-5), items 3 and 5 are held at the
    // upstream on their first run. The consumer is cut off while they run, after items 0-2 and 4 were recorded: the
    // test never lets that invocation end, so chunk 1's message is neither acked nor retried.
    const gate = crypto.randomUUID();
    const items = [0, 1, 2, 3, 4, 5].map((n) => counted(n, {}, n === 3 || n === 5 ? `holdFirst=${gate}` : ""));
    const { id, stub } = await seedJob(
      "service",
      items.map((i) => i.item),
      3,
    );
    const { crashed } = await cutOffMidJob(id, stub, gate);
    expect(await stub.status()).toMatchObject({ state: "succeeded", total: 6, done: 6, failed: 0, attempts: 3 });
    const results = await allResults(stub);
    // Each index has one result; items 3 and 5 have the redelivery's (attempt 2), every key is the item's own.
    expect(results.map((r) => [r.index, (r.value as { attempt: number; key: string }).attempt])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 1],
      [5, 2],
    ]);
    expect(results.map((r) => (r.value as { key: string }).key)).toEqual(items.map((_, n) => `${id}:${n}`));
    // The Worker ran items 3 and 5 twice (the cut-off run was in flight), every other item once.
    expect(await Promise.all(items.map((i) => hits(i.path)))).toEqual([1, 1, 1, 2, 1, 2]);
    // The cut-off invocation's late answers change nothing: each index keeps its one result.
    expect((await crashed).explicitAcks).toContain("m0");
    expect(await allResults(stub)).toEqual(results);
    expect(await stub.status()).toMatchObject({ done: 6, failed: 0 });
  });

  it("keep what the Worker reported before handle() threw, and deliver only the rest again", async () => {
    const gate = crypto.randomUUID();
    // Item 0 answers at once; item 1 waits at the gate, then throws (on the first attempt only).
    const first = counted(0);
    const second = counted(1, { mode: "throw" }, `gate=${gate}`);
    const { id, stub } = await seedJob("service", [first.item, second.item], 2);
    const run = deliver(JOBS, [{ id: "t1", body: { jobId: id, chunk: 0 } }]);
    await until(async () => (await stub.status())?.done === 1);
    await openGate(gate);
    const thrown = await run;
    expect(thrown.retryMessages.map((r) => r.msgId)).toEqual(["t1"]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 1 });
    const again = await deliver(JOBS, [{ id: "t1", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(again.explicitAcks).toEqual(["t1"]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 2, attempts: 2 });
    expect((await allResults(stub)).map((r) => [r.index, (r.value as { attempt: number }).attempt])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect([await hits(first.path), await hits(second.path)]).toEqual([1, 2]);
  });

  it("record an error answer as a failed result, retry one marked retry or left unanswered, and end partial once attempts are spent", async () => {
    const items = [{ mode: "fail" }, { mode: "retry" }, { mode: "silent" }, { n: 3 }];
    const { id, stub } = await seedJob("service", items, 4);
    const first = await deliver(JOBS, [{ id: "e1", body: { jobId: id, chunk: 0 } }]);
    expect(first.retryMessages.map((r) => r.msgId)).toEqual(["e1"]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 2, failed: 1 });
    const results = await allResults(stub);
    expect(results[0]).toEqual({ index: 0, ok: false, error: { kind: "handler", message: "refused by the handler" } });
    expect(results[1]).toMatchObject({ index: 3, ok: true, value: { n: 3 } });
    // The last delivery the job's policy allows (6): what is still without a result is dead.
    const last = await deliver(JOBS, [{ id: "e1", attempts: 6, body: { jobId: id, chunk: 0 } }]);
    expect(last.explicitAcks).toEqual(["e1"]);
    const status = await stub.status();
    expect(status).toMatchObject({ state: "partial", total: 4, done: 2, failed: 3, dead: 2 });
    expect(status?.error).toBe("1 chunk(s) ran out of retries (2 request(s) without a result); last error: not now");
  });

  it("record a value larger than JOBS_MAX_RESULT_BYTES as a failed result, not retried", async () => {
    const { id, stub } = await seedJob("service", [{ bytes: 2_000 }, { bytes: 10 }], 2);
    const result = await deliver(JOBS, [{ id: "b1", body: { jobId: id, chunk: 0 } }], {
      JOBS_MAX_RESULT_BYTES: "1024",
    });
    expect(result.explicitAcks).toEqual(["b1"]);
    const [big, small] = await allResults(stub);
    expect(big).toEqual({
      index: 0,
      ok: false,
      error: { kind: "too_large", message: expect.stringContaining("JOBS_MAX_RESULT_BYTES allows 1024") },
    });
    expect(small).toEqual({ index: 1, ok: true, value: "x".repeat(10) });
  });

  it("publish an item's progress into the job's room, as job-item-progress", async () => {
    const { id, stub } = await seedJob("service", [{ n: 0, progress: true }], 1);
    await deliver(JOBS, [{ id: "p1", body: { jobId: id, chunk: 0 } }]);
    const room = env.ROOM.getByName(`job:${id}`);
    const history = async () =>
      runInDurableObject(room, (_instance, state) =>
        state.storage.sql
          .exec<{ data: string }>("SELECT data FROM messages ORDER BY seq")
          .toArray()
          .map((m) => JSON.parse(m.data) as { kind: string }),
      );
    await until(async () => (await history()).some((m) => m.kind === "job-item-progress"));
    expect((await history()).filter((m) => m.kind === "job-item-progress")).toEqual([
      { kind: "job-item-progress", id, items: [{ index: 0, data: { step: 1 } }] },
    ]);
    expect(await stub.status()).toMatchObject({ state: "succeeded" });
  });

  it("run end to end through POST /v1/jobs and the real queue", async () => {
    const items = [0, 1, 2].map((n) => counted(n));
    const created = await call<{ id: string }>(
      "POST",
      "/v1/jobs",
      { type: "service", items: items.map((i) => i.item) },
      { headers: { "idempotency-key": crypto.randomUUID() } },
    );
    expect(created.status).toBe(202);
    const { id } = created.body;
    let status: JobStatus | undefined;
    await until(async () => {
      status = (await call<JobStatus>("GET", `/v1/jobs/${id}`)).body;
      return status.state === "succeeded";
    }, 1_000);
    expect(status).toMatchObject({ type: "service", total: 3, done: 3, failed: 0 });
    const page = await call<{ items: { index: number; value: { n: number; key: string } }[] }>(
      "GET",
      `/v1/jobs/${id}/results`,
    );
    expect(page.body.items.map((r) => [r.index, r.value.n, r.value.key])).toEqual(
      [0, 1, 2].map((n) => [n, n, `${id}:${n}`]),
    );
  });

  it("are refused with 503 not-configured, storing nothing, without JOBS_SERVICE_BINDING or when it names no service binding", async () => {
    for (const [name, detail] of [
      ["", "Service jobs need JOBS_SERVICE_BINDING"],
      ["JOB", "JOBS_SERVICE_BINDING names JOB, which is no service binding"],
      ["NOT_BOUND", "JOBS_SERVICE_BINDING names NOT_BOUND, which is no service binding"],
    ] as const) {
      const key = crypto.randomUUID();
      const res = await fetchWithSettings({ JOBS_SERVICE_BINDING: name }, "/v1/jobs", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ type: "service", items: [{ n: 1 }] }),
      });
      expect(res.status, name).toBe(503);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const problem = await res.json<{ type: string; detail: string }>();
      expect(problem.type).toBe("urn:edgeloop:problem:not-configured");
      expect(problem.detail).toContain(detail);
      expect(await nothingStored(key)).toBe(true);
    }
  });
});
