import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../src/jobs/job";
import type { JobProgress } from "../../src/jobs/progress";
import { allResults, deliver, hits, path, seedFanoutJob, UP } from "./helpers";

const ok = (index: number) => ({ index, ok: true, status: 200 });

describe("the Job Durable Object", () => {
  it("keeps its chunks and results across an eviction, and a later delivery runs only what is left", async () => {
    const done = path("before-eviction");
    const left = path("after-eviction", "failFirst=1");
    const { id, stub } = await seedFanoutJob([UP + done, UP + left], 2);
    await deliver("edgeloop-jobs", [{ id: "e1", body: { jobId: id, chunk: 0 } }]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 1 });
    await evictDurableObject(stub);
    await deliver("edgeloop-jobs", [{ id: "e1", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(await stub.status()).toMatchObject({ state: "succeeded", done: 2, attempts: 2 });
    expect(await hits(done)).toBe(1);
    expect((await allResults(stub)).map((r) => r.index)).toEqual([0, 1]);
  });

  it("records a result index once however often it is reported, and ignores indices outside the chunk", async () => {
    const { stub } = await seedFanoutJob([`${UP}/a`, `${UP}/b`, `${UP}/c`], 2);
    await stub.record(0, JSON.stringify([ok(0)]));
    await stub.record(0, JSON.stringify([ok(0), ok(0)]));
    await stub.record(0, JSON.stringify([ok(2), ok(7)]));
    expect(await stub.status()).toMatchObject({ state: "running", done: 1, failed: 0 });
    await stub.record(0, JSON.stringify([ok(1), { index: 0, ok: false, status: 500 }]));
    await stub.record(1, JSON.stringify([{ index: 2, ok: false, status: 404 }]));
    expect(await stub.status()).toMatchObject({ state: "partial", done: 3, failed: 1 });
    expect((await allResults(stub)).map((r) => [r.index, r.ok])).toEqual([
      [0, true],
      [1, true],
      [2, false],
    ]);
  });

  it("sends each chunk once, in sendBatch calls of at most 100, and sends again what a failed send left", async () => {
    const urls = Array.from({ length: 250 }, (_, i) => `${UP}/s${i}`);
    const { id, stub } = await seedFanoutJob(urls, 1);
    const useQueue = (JOBS_QUEUE: { sendBatch: (messages: { body: unknown }[]) => Promise<void> }) =>
      runInDurableObject(stub, (instance: Job) => {
        Object.defineProperty(instance, "env", { value: { ...env, JOBS_QUEUE }, configurable: true });
      });
    await useQueue({
      sendBatch: async () => {
        throw new Error("queue unavailable");
      },
    });
    expect(await stub.dispatch()).toEqual({ sent: 0, error: "queue unavailable" });

    const batches: { jobId: string; chunk: number; requests?: unknown[] }[][] = [];
    await useQueue({
      sendBatch: async (messages) => {
        batches.push(messages.map((m) => m.body as { jobId: string; chunk: number }));
      },
    });
    const [first, second] = await Promise.all([stub.dispatch(), stub.dispatch()]);
    expect(first.sent + second.sent).toBe(250);
    expect(await stub.dispatch()).toEqual({ sent: 0 });
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    const sent = batches.flat();
    expect(sent.map((m) => m.chunk)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(sent.every((m) => m.jobId === id && m.requests?.length === 1)).toBe(true);
  });

  it("publishes throttled progress into the room job:<id> and always the final state", async () => {
    const urls = Array.from({ length: 40 }, (_, i) => `${UP}/p${i}`);
    const { id, stub } = await seedFanoutJob(urls, 1);
    // The publishes go out through ctx.waitUntil: keep each one, to wait for them without sleeping.
    const publishes: Promise<unknown>[] = [];
    await runInDurableObject(stub, (instance: Job, ctx) => {
      const tracked = new Proxy(ctx, {
        get(target, key) {
          if (key === "waitUntil") {
            return (promise: Promise<unknown>) => {
              publishes.push(promise);
              target.waitUntil(promise);
            };
          }
          const value = Reflect.get(target, key, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      Object.defineProperty(instance, "ctx", { value: tracked, configurable: true });
    });
    // The throttle's clock and its trailing timer are the test's: 40 updates in two bursts, 200 ms apart.
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    try {
      for (let i = 0; i < 20; i++) await stub.record(i, JSON.stringify([ok(i)]));
      await runInDurableObject(stub, () => vi.advanceTimersByTime(200));
      for (let i = 20; i < 40; i++) await stub.record(i, JSON.stringify([ok(i)]));
      await runInDurableObject(stub, () => vi.runAllTimers());
    } finally {
      vi.useRealTimers();
    }
    expect(await runInDurableObject(stub, () => Promise.all(publishes))).toEqual(publishes.map(() => true));

    const room = env.ROOM.getByName(`job:${id}`);
    expect((await room.info()).lastSeq).toBe(publishes.length);
    const history = await runInDurableObject(room, (_instance, state) =>
      state.storage.sql
        .exec<{ sender: string; data: string }>("SELECT sender, data FROM messages ORDER BY seq")
        .toArray()
        .map((m) => ({ from: m.sender, data: JSON.parse(m.data) as JobProgress })),
    );
    expect(history).toHaveLength(publishes.length);
    expect(history.every((m) => m.from === "jobs")).toBe(true);
    const final = { kind: "job-progress", id, state: "succeeded", total: 40, done: 40, failed: 0 };
    expect(history.at(-1)?.data).toEqual(final);
    // The first update at once, the latest of a burst when its interval ends, the final state at once: never 40.
    // (A trailing timer still pending when the final state goes out publishes it again: repeats are collapsed.)
    const distinct = history.map((m) => m.data).filter((d, i, all) => i === 0 || d.done !== all[i - 1]?.done);
    expect(distinct).toEqual([
      { ...final, state: "running", done: 1 },
      { ...final, state: "running", done: 20 },
      final,
    ]);
  });
});
