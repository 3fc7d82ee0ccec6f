/**
 * The generic chunk runner (src/jobs/run.ts) on job types written here: what it records of what a handler answers
 * or throws, result sizes, concurrency, the chunk's deadline, a chunk handler's answers, the guarded `ctx.fetch`, flow
 * deferrals. Outcomes are what the consumer acts on (record, retry, defer); nothing here goes through a queue.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CallGate } from "../../src/fanout/engine";
import { createUrlGuard } from "../../src/fanout/url-guard";
import { type ChunkRun, runChunk } from "../../src/jobs/run";
import type { JobResult } from "../../src/jobs/types";
import { type AnyJobType, JobItemError } from "../../src/jobs/types/define";
import { settings } from "../../src/settings";
import { until } from "../helpers/api";
import { UP } from "./helpers";

const S = settings(env);
const guard = createUrlGuard(S.FANOUT_ALLOW_HOSTS);

/** A type named like a registered one (the runner reads its default timeout by name), with these hooks. */
const typeOf = (hooks: Partial<AnyJobType>): AnyJobType =>
  ({ name: "hash", item: undefined, split: () => ({ items: [], options: {} }), ...hooks }) as unknown as AnyJobType;

const chunkOf = (items: unknown[], over: Partial<ChunkRun> = {}): ChunkRun => ({
  jobId: "j1",
  chunk: 0,
  attempt: 1,
  pending: items.map((_, i) => i),
  start: 0,
  items,
  options: {},
  ...over,
});

/** Run a chunk, keeping what it handed on. */
async function run(type: AnyJobType, chunk: ChunkRun, extra: { gate?: CallGate } = {}) {
  const handed: { result: JobResult; jobError?: string }[] = [];
  const outcome = await runChunk(type, chunk, {
    env,
    s: S,
    guard,
    ...extra,
    onResult: (result, jobError) => handed.push({ result, ...(jobError ? { jobError } : {}) }),
  });
  return { outcome, handed };
}

/** A promise the test settles. */
function later<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("running a chunk", () => {
  it("records what a handler returns with its index, a JobItemError as a failed result, and retries what else it throws", async () => {
    const type = typeOf({
      failure: (r) => (r.ok ? undefined : `item ${r.index} failed`),
      handler: async (item: { do: string }, ctx) => {
        if (item.do === "fail") throw new JobItemError("refused", "no");
        if (item.do === "throw") throw new TypeError("a bug");
        if (item.do === "not-ok") return { ok: false, why: "upstream said no" };
        return { key: ctx.key, attempt: ctx.attempt, index: 99 };
      },
    });
    const { outcome, handed } = await run(
      type,
      chunkOf([{ do: "ok" }, { do: "fail" }, { do: "throw" }, { do: "not-ok" }], {
        start: 10,
        pending: [10, 11, 12, 13],
        attempt: 3,
      }),
    );
    expect(outcome).toMatchObject({ transient: 1, deferred: 0, lastError: "TypeError: a bug" });
    expect(handed.sort((a, b) => a.result.index - b.result.index)).toEqual([
      { result: { key: "j1:10", attempt: 3, index: 10, ok: true } },
      { result: { index: 11, ok: false, error: { kind: "refused", message: "no" } }, jobError: "item 11 failed" },
      { result: { index: 13, ok: false, why: "upstream said no" }, jobError: "item 13 failed" },
    ]);
    expect(outcome.results).toHaveLength(3);
  });

  it("runs only the pending items, each with its own item and index", async () => {
    const seen: [number, unknown][] = [];
    const type = typeOf({
      handler: async (item, ctx) => {
        seen.push([ctx.index, item]);
        return {};
      },
    });
    await run(type, chunkOf(["a", "b", "c", "d"], { start: 4, pending: [5, 7] }));
    expect(seen.sort()).toEqual([
      [5, "b"],
      [7, "d"],
    ]);
  });

  it("records a result larger than JOBS_MAX_RESULT_BYTES, or one that is not JSON, as a failed result", async () => {
    const type = typeOf({
      maxResultBytes: () => 100,
      handler: async (item: number) =>
        item === 0 ? { text: "x".repeat(200) } : item === 1 ? { n: 10n } : { small: 1 },
    });
    const { handed } = await run(type, chunkOf([0, 1, 2]));
    const byIndex = handed.map((h) => h.result).sort((a, b) => a.index - b.index);
    expect(byIndex[0]).toEqual({
      index: 0,
      ok: false,
      error: {
        kind: "too_large",
        message: `the result is ${JSON.stringify({ text: "x".repeat(200), index: 0, ok: true }).length} bytes of JSON; JOBS_MAX_RESULT_BYTES allows 100`,
      },
    });
    expect(byIndex[1]).toMatchObject({ index: 1, ok: false, error: { kind: "invalid" } });
    expect(byIndex[2]).toEqual({ small: 1, index: 2, ok: true });
  });

  it("runs at most `concurrency` items at once", async () => {
    let running = 0;
    let started = 0;
    let most = 0;
    const gate = later<void>();
    const type = typeOf({
      concurrency: () => 2,
      handler: async () => {
        running++;
        started++;
        most = Math.max(most, running);
        await gate.promise;
        running--;
        return {};
      },
    });
    const done = run(type, chunkOf([0, 1, 2, 3, 4, 5]));
    await until(async () => running === 2);
    expect(started).toBe(2);
    gate.resolve();
    expect((await done).handed).toHaveLength(6);
    expect([started, most]).toEqual([6, 2]);
  });

  it("stops waiting at the chunk's deadline: what has not ended is retried, and its late answer is not recorded", async () => {
    const hang = later<{ late: true }>();
    let aborted: unknown;
    const type = typeOf({
      deadlineMs: () => 50,
      handler: async (item: number, ctx) => {
        if (item === 0) return { fast: true };
        ctx.signal.addEventListener("abort", () => {
          aborted = ctx.signal.reason;
        });
        return hang.promise;
      },
    });
    const { outcome, handed } = await run(type, chunkOf([0, 1]));
    expect(outcome).toMatchObject({ transient: 1, lastError: "TimeoutError: deadline of 50 ms exceeded" });
    expect(aborted).toMatchObject({ name: "TimeoutError" });
    hang.resolve({ late: true });
    await hang.promise;
    await null;
    expect(handed.map((h) => h.result)).toEqual([{ fast: true, index: 0, ok: true }]);
  });

  it("fetches through the guard: a blocked URL is a failed result, a call slower than the job's timeout is retried", async () => {
    const type = typeOf({
      handler: async (url: string, ctx) => {
        const res = await ctx.fetch(url);
        return { status: res.status, body: await res.text() };
      },
    });
    const chunk = chunkOf(["http://10.0.0.1/x", `${UP}/slow?latency=2000`], { options: { timeoutMs: 50 } });
    const { outcome, handed } = await run(type, chunk);
    expect(handed.map((h) => h.result)).toEqual([
      { index: 0, ok: false, error: { kind: "blocked", message: expect.stringMatching(/^blocked: /) } },
    ]);
    expect(outcome).toMatchObject({ transient: 1, lastError: "TimeoutError: no answer within 50 ms" });
  });

  it("defers the items a flow gate does not admit, without running them", async () => {
    let ran = 0;
    const refusing: CallGate = {
      enter: async () => {
        throw new Error("FlowRefused");
      },
      abandoned: false,
    };
    const type = typeOf({
      concurrency: () => 3,
      handler: async () => {
        ran++;
        return {};
      },
    });
    const { outcome, handed } = await run(type, chunkOf([0, 1, 2]), { gate: refusing });
    expect(outcome).toMatchObject({ transient: 0, deferred: 3 });
    expect([ran, handed.length]).toEqual([0, 0]);
  });
});

describe("running a chunk through a chunk handler", () => {
  it("records the answers for pending items once, retries the unanswered and those answered `retry`, and ignores the rest", async () => {
    let late: ((index: number) => void) | undefined;
    const type = typeOf({
      chunk: async (items, ctx) => {
        expect(items.map((i) => [i.index, i.key, i.item])).toEqual([
          [1, "j1:1", "b"],
          [2, "j1:2", "c"],
          [3, "j1:3", "d"],
          [4, "j1:4", "e"],
        ]);
        ctx.result(1, { v: 1 });
        ctx.result(1, { v: "again" });
        ctx.result(0, { v: "not pending" });
        ctx.fail(2, "handler", "no");
        ctx.retry(3, "later");
        late = (index) => ctx.result(index, { v: "late" });
      },
    });
    const { outcome, handed } = await run(type, chunkOf(["a", "b", "c", "d", "e"], { pending: [1, 2, 3, 4] }));
    expect(handed.map((h) => h.result)).toEqual([
      { v: 1, index: 1, ok: true },
      { index: 2, ok: false, error: { kind: "handler", message: "no" } },
    ]);
    expect(outcome).toMatchObject({ transient: 2, lastError: "later" });
    late?.(4);
    expect(handed).toHaveLength(2);
  });

  it("retries every item without an answer when the call throws, keeping those answered before", async () => {
    const type = typeOf({
      chunk: async (_items, ctx) => {
        ctx.result(0, { v: 0 });
        throw new Error("the Worker went away");
      },
    });
    const { outcome, handed } = await run(type, chunkOf(["a", "b", "c"]));
    expect(handed.map((h) => h.result.index)).toEqual([0]);
    expect(outcome).toMatchObject({ transient: 2, lastError: "the Worker went away" });
  });
});
