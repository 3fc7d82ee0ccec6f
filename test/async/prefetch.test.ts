import { describe, expect, it } from "vitest";
import { prefetch, type Settled, type Task } from "../../src/async";

/** Tasks the test settles by hand: which ones started, with which signal, and a way to finish each. */
function controlled(count = Number.POSITIVE_INFINITY) {
  const started: number[] = [];
  const signals = new Map<number, AbortSignal>();
  const finishers = new Map<number, (value: string) => void>();
  let taken = 0;
  function* tasks(): Generator<Task<string>> {
    for (let i = 0; i < count; i++) {
      taken++;
      yield (signal) =>
        new Promise<string>((resolve, reject) => {
          started.push(i);
          signals.set(i, signal);
          finishers.set(i, resolve);
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
    }
  }
  return {
    tasks: tasks(),
    started,
    signals,
    finish: (i: number) => finishers.get(i)?.(`v${i}`),
    taken: () => taken,
  };
}

/** Let pending promise callbacks run (no timers: the tasks are settled by the test). */
const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const value = (s: Settled<string> | undefined) => (s?.status === "fulfilled" ? s.value : s?.status);

describe("prefetch", () => {
  it("keeps `ahead` tasks started, yields in input order even when later ones finish first, one more per outcome taken", async () => {
    const c = controlled(6);
    const it = prefetch(c.tasks, { ahead: 3 });
    const first = it.next();
    await flush();
    expect(c.started).toEqual([0, 1, 2]);
    c.finish(2);
    c.finish(1);
    await flush();
    // Task 0 holds the line: nothing is yielded and nothing more starts while it runs.
    expect(c.started).toEqual([0, 1, 2]);
    c.finish(0);
    expect(value((await first).value as Settled<string>)).toBe("v0");
    // The consumer holds outcome 0: it still counts as one of the three.
    expect(c.started).toEqual([0, 1, 2]);
    expect(value((await it.next()).value as Settled<string>)).toBe("v1");
    expect(c.started).toEqual([0, 1, 2, 3]);
    expect(value((await it.next()).value as Settled<string>)).toBe("v2");
    expect(c.started).toEqual([0, 1, 2, 3, 4]);
    c.finish(3);
    expect(value((await it.next()).value as Settled<string>)).toBe("v3");
    expect(c.started).toEqual([0, 1, 2, 3, 4, 5]);
    c.finish(5);
    c.finish(4);
    const rest: unknown[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(value(r.value));
    expect(rest).toEqual(["v4", "v5"]);
  });

  it("takes factories from a lazy, endless iterable only as slots free up", async () => {
    const c = controlled();
    const it = prefetch(c.tasks, { ahead: 2 });
    const first = it.next();
    await flush();
    expect(c.taken()).toBe(2);
    c.finish(0);
    await first;
    expect(c.taken()).toBe(2);
    const second = it.next();
    await flush();
    expect(c.taken()).toBe(3);
    c.finish(1);
    await second;
    await it.return(undefined);
  });

  it("runs one at a time with ahead 1", async () => {
    const c = controlled(3);
    const it = prefetch(c.tasks, { ahead: 1 });
    const pending = it.next();
    await flush();
    expect(c.started).toEqual([0]);
    c.finish(0);
    await pending;
    expect(c.started).toEqual([0]);
    const second = it.next();
    await flush();
    expect(c.started).toEqual([0, 1]);
    c.finish(1);
    await second;
    await it.return(undefined);
  });

  it("aborts the tasks started ahead when the consumer breaks, and starts no more", async () => {
    const c = controlled(10);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const r of prefetch(c.tasks, { ahead: 4 })) {
        seen.push(r.index);
        if (r.index === 1) break;
      }
    })();
    await flush();
    c.finish(0);
    c.finish(1);
    await loop;
    expect(seen).toEqual([0, 1]);
    // 0 and 1 were yielded; 2, 3 and 4 had started ahead (ahead - 1 beside the one handed out) and were aborted.
    expect(c.started).toEqual([0, 1, 2, 3, 4]);
    expect([2, 3, 4].map((i) => c.signals.get(i)?.aborted)).toEqual([true, true, true]);
    expect([0, 1].map((i) => c.signals.get(i)?.aborted)).toEqual([false, false]);
  });

  it("settles every started task as rejected with the caller's reason when the caller's signal fires", async () => {
    const c = controlled(5);
    const controller = new AbortController();
    const it = prefetch(c.tasks, { ahead: 2, signal: controller.signal });
    const first = it.next();
    await flush();
    controller.abort(new DOMException("gone", "AbortError"));
    const r = (await first).value as Settled<string>;
    expect(r).toMatchObject({ index: 0, status: "rejected", reason: { name: "AbortError", message: "gone" } });
    expect(c.signals.get(1)?.aborted).toBe(true);
    await it.return(undefined);
  });

  it("settles a task that ignores its signal as rejected as soon as the signal fires", async () => {
    const controller = new AbortController();
    const never: Task<string> = () => new Promise<string>(() => {});
    const it = prefetch([never], { ahead: 1, signal: controller.signal });
    const first = it.next();
    controller.abort(new DOMException("stop", "AbortError"));
    expect((await first).value).toMatchObject({ index: 0, status: "rejected" });
    expect((await it.next()).done).toBe(true);
  });

  it("reports a task that throws, synchronously or not, as rejected and goes on", async () => {
    const tasks: Task<string>[] = [
      () => {
        throw new Error("sync");
      },
      () => Promise.reject(new Error("async")),
      () => "ok",
    ];
    const out: unknown[] = [];
    for await (const r of prefetch(tasks, { ahead: 2 })) {
      out.push(r.status === "fulfilled" ? r.value : (r.reason as Error).message);
    }
    expect(out).toEqual(["sync", "async", "ok"]);
    const statuses: string[] = [];
    for await (const r of prefetch(tasks, { ahead: 1 })) statuses.push(r.status);
    expect(statuses).toEqual(["rejected", "rejected", "fulfilled"]);
  });

  it("refuses an ahead that is not a positive integer", async () => {
    for (const ahead of [0, -1, 1.5, Number.NaN]) {
      await expect(prefetch([], { ahead }).next()).rejects.toThrow(
        new RangeError(`ahead must be a positive integer, got ${ahead}`),
      );
    }
  });

  it("starts no task when the caller's signal has already fired: each is rejected with its reason", async () => {
    const called: number[] = [];
    const reason = new DOMException("already gone", "AbortError");
    const tasks: Task<string>[] = [0, 1].map((i) => () => {
      called.push(i);
      return "ran anyway";
    });
    const out: Settled<string>[] = [];
    for await (const r of prefetch(tasks, { ahead: 2, signal: AbortSignal.abort(reason) })) out.push(r);
    expect(out).toEqual([
      { index: 0, status: "rejected", reason },
      { index: 1, status: "rejected", reason },
    ]);
    expect(called).toEqual([]);
  });

  it("gives the tasks it aborts on an early stop a reason that says so", async () => {
    const c = controlled(3);
    const it = prefetch(c.tasks, { ahead: 3 });
    const first = it.next();
    await flush();
    c.finish(0);
    expect((await first).value).toMatchObject({ index: 0, status: "fulfilled" });
    await it.return(undefined);
    expect(c.signals.get(1)?.reason).toMatchObject({
      name: "AbortError",
      message: "prefetch: the consumer stopped iterating",
    });
  });
});
