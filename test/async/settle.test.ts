import { describe, expect, it } from "vitest";
import { asCompleted, type Settled, settle, sleep, type Task } from "../../src/async";
import { schedule } from "../../src/async/settle";

/** A task that waits `ms` (honouring its signal) then returns `value`. */
const resolveAfter =
  <T>(ms: number, value: T): Task<T> =>
  (signal) =>
    sleep(ms, signal).then(() => value);

/** A task that never settles on its own and only ends when its signal fires, recording that it saw the abort. */
const hang =
  (seen: unknown[]): Task<never> =>
  (signal) =>
    new Promise((_, reject) => {
      signal.addEventListener("abort", () => {
        seen.push(signal.reason);
        reject(signal.reason);
      });
    });

const reasonName = (s: Settled<unknown> | undefined) =>
  s?.status === "rejected" ? (s.reason as { name?: string }).name : undefined;

describe("settle", () => {
  it("returns every outcome in input order, not completion order, and never rejects", async () => {
    const results = await settle<string>([
      resolveAfter(30, "slow"),
      resolveAfter(1, "fast"),
      () => {
        throw new Error("sync boom");
      },
      () => Promise.reject(new Error("async boom")),
      () => "plain",
    ]);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(results[0]).toEqual({ index: 0, status: "fulfilled", value: "slow" });
    expect(results[1]).toEqual({ index: 1, status: "fulfilled", value: "fast" });
    expect(results[2]).toMatchObject({ status: "rejected", reason: { message: "sync boom" } });
    expect(results[3]).toMatchObject({ status: "rejected", reason: { message: "async boom" } });
    expect(results[4]).toEqual({ index: 4, status: "fulfilled", value: "plain" });
  });

  it("returns an empty list for no tasks", async () => {
    expect(await settle([], { deadlineMs: 10 })).toEqual([]);
  });

  it("never runs more tasks at once than the concurrency, counted inside the tasks", async () => {
    let running = 0;
    let peak = 0;
    const tasks = Array.from(
      { length: 30 },
      (_, i): Task<number> =>
        async (signal) => {
          running++;
          peak = Math.max(peak, running);
          await sleep(1 + (i % 5), signal);
          running--;
          return i;
        },
    );
    const results = await settle(tasks, { concurrency: 4 });
    expect(peak).toBe(4);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : -1))).toEqual(tasks.map((_, i) => i));
  });

  it("aborts a task that outlives its timeout and classifies it as a TimeoutError", async () => {
    const seen: unknown[] = [];
    const results = await settle([hang(seen), resolveAfter(1, "ok")], { timeoutMs: 20 });
    expect(reasonName(results[0])).toBe("TimeoutError");
    expect(results[1]).toMatchObject({ status: "fulfilled", value: "ok" });
    expect(seen).toHaveLength(1);
    expect((seen[0] as Error).name).toBe("TimeoutError");
  });

  it("counts the timeout from when a task starts, not while it waits for a permit", async () => {
    const tasks = ["a", "b", "c", "d"].map((v) => resolveAfter(60, v));
    // Together they take 240 ms, each one 60: only a timeout counted per task lets them all pass.
    const results = await settle(tasks, { concurrency: 1, timeoutMs: 150 });
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
  });

  it("tells the caller's cancel (AbortError) apart from a timeout and from the task's own error", async () => {
    const controller = new AbortController();
    const seen: unknown[] = [];
    const pending = settle(
      [
        hang(seen),
        () => {
          throw new TypeError("own error");
        },
        resolveAfter(1, "done"),
      ],
      { signal: controller.signal, timeoutMs: 10_000 },
    );
    await sleep(10);
    controller.abort();
    const results = await pending;
    expect(reasonName(results[0])).toBe("AbortError");
    expect(results[1]).toMatchObject({ status: "rejected", reason: { name: "TypeError", message: "own error" } });
    expect(results[2]).toMatchObject({ status: "fulfilled", value: "done" });
    expect(seen).toHaveLength(1);
  });

  it("at the deadline aborts what runs and what waits, and answers on time with every entry", async () => {
    const seen: unknown[] = [];
    let started = 0;
    const tasks: Task<string>[] = Array.from({ length: 6 }, (_, i) => (signal) => {
      started++;
      return i === 0 ? resolveAfter(1, "quick")(signal) : hang(seen)(signal);
    });
    const t0 = Date.now();
    const results = await settle(tasks, { concurrency: 2, deadlineMs: 200 });
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(results).toHaveLength(6);
    expect(results[0]).toMatchObject({ status: "fulfilled", value: "quick" });
    for (const r of results.slice(1)) {
      expect(reasonName(r)).toBe("TimeoutError");
      expect((r as { reason: Error }).reason.message).toBe("deadline of 200 ms exceeded");
    }
    // Tasks 1 and 2 were running and saw their signal fire; tasks 3-5 never started.
    expect(started).toBe(3);
    expect(seen).toHaveLength(2);
  });

  it("settles a task that ignores its signal at the timeout, yet keeps its permit until it really returns", async () => {
    let running = 0;
    let peak = 0;
    const stubborn: Task<string> = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(60);
      running--;
      return "late";
    };
    const polite: Task<string> = async () => {
      running++;
      peak = Math.max(peak, running);
      running--;
      return "ok";
    };
    const t0 = Date.now();
    const results = await settle([stubborn, polite], { concurrency: 1, timeoutMs: 10 });
    expect(reasonName(results[0])).toBe("TimeoutError");
    expect(results[1]).toMatchObject({ status: "fulfilled", value: "ok" });
    expect(peak).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
  });
});

describe("schedule", () => {
  it("settles nothing and finishes at once for no tasks, with or without a deadline", async () => {
    const seen: unknown[] = [];
    const run = schedule([], {}, (s) => seen.push(s));
    await run.done;
    await schedule([], { deadlineMs: 10_000 }, (s) => seen.push(s)).done;
    expect([run.count, seen]).toEqual([0, []]);
  });

  it("starts no task when cancelled before the tasks' turn came, settling each with the reason", async () => {
    const called: number[] = [];
    const seen: Settled<string>[] = [];
    const reason = new Error("the caller left");
    const run = schedule(
      [0, 1].map((i) => () => {
        called.push(i);
        return "ran anyway";
      }),
      {},
      (s) => seen.push(s),
    );
    run.cancel(reason);
    await run.done;
    expect(called).toEqual([]);
    expect(seen).toEqual([
      { index: 0, status: "rejected", reason },
      { index: 1, status: "rejected", reason },
    ]);
  });

  it("names the task and its timeout in a per-task timeout's reason", async () => {
    const results = await settle([resolveAfter(10_000, "late")], { timeoutMs: 5 });
    expect(results[0]).toMatchObject({
      status: "rejected",
      reason: { name: "TimeoutError", message: "task 0 timed out after 5 ms" },
    });
  });
});

describe("asCompleted", () => {
  it("yields each outcome as it settles, in completion order, with its index", async () => {
    const order: number[] = [];
    for await (const r of asCompleted([resolveAfter(100, "c"), resolveAfter(1, "a"), resolveAfter(50, "b")])) {
      order.push(r.index);
      expect(r.status).toBe("fulfilled");
    }
    expect(order).toEqual([1, 2, 0]);
  });

  it("aborts every task still running or waiting when the consumer stops early", async () => {
    const seen: unknown[] = [];
    const running: Promise<unknown>[] = [];
    const tasks: Task<string>[] = [
      resolveAfter(1, "first"),
      (s) => {
        const task = hang(seen)(s);
        running.push(task.catch(() => {}));
        return task;
      },
      (s) => {
        const task = hang(seen)(s);
        running.push(task.catch(() => {}));
        return task;
      },
    ];
    for await (const r of asCompleted(tasks, { concurrency: 2 })) {
      expect(r.index).toBe(0);
      break;
    }
    // At least the hanging task that ran beside the first one started; each task that started has ended (it
    // only ends on its signal), and each saw an AbortError.
    expect(running.length).toBeGreaterThanOrEqual(1);
    await Promise.all(running);
    expect(seen).toHaveLength(running.length);
    expect(seen.every((e) => (e as Error).name === "AbortError")).toBe(true);
    expect((seen[0] as Error).message).toBe("asCompleted: the consumer stopped iterating");
  });

  it("honours concurrency and the deadline like settle", async () => {
    let now = 0;
    let peak = 0;
    const counted =
      (task: Task<string>): Task<string> =>
      async (signal) => {
        peak = Math.max(peak, ++now);
        try {
          return await task(signal);
        } finally {
          now--;
        }
      };
    const results: Settled<string>[] = [];
    const tasks = [resolveAfter(1, "a"), resolveAfter(5, "b"), resolveAfter(10_000, "x"), resolveAfter(10_000, "y")];
    for await (const r of asCompleted(tasks.map(counted), { concurrency: 2, deadlineMs: 200 })) {
      results.push(r);
    }
    expect(peak).toBe(2);
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, "fulfilled"],
      [1, "fulfilled"],
      [2, "rejected"],
      [3, "rejected"],
    ]);
    expect(results.slice(2).map(reasonName)).toEqual(["TimeoutError", "TimeoutError"]);
  });
});
