import { describe, expect, it, vi } from "vitest";
import { Semaphore, sleep } from "../../src/async";

describe("sleep", () => {
  it("resolves after the delay", async () => {
    const started = Date.now();
    await sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });

  it("rejects with the signal's reason as soon as it fires", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(10_000, controller.signal);
    setTimeout(() => controller.abort(new Error("stop")), 10);
    await expect(pending).rejects.toThrow("stop");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("rejects at once when the signal has already fired", async () => {
    await expect(sleep(10_000, AbortSignal.abort(new Error("already")))).rejects.toThrow("already");
  });

  it("leaves no timer behind when aborted, and treats a negative delay as 0", async () => {
    vi.useFakeTimers();
    try {
      const controller = new AbortController();
      const pending = sleep(10_000, controller.signal);
      expect(vi.getTimerCount()).toBe(1);
      controller.abort(new Error("stop"));
      await expect(pending).rejects.toThrow("stop");
      expect(vi.getTimerCount()).toBe(0);
      let done = false;
      void sleep(-5).then(() => {
        done = true;
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("Semaphore", () => {
  it("refuses a permit count that is not a positive integer", () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(
      new RangeError("Semaphore permits must be a positive integer or Infinity, got 1.5"),
    );
    expect(new Semaphore(Number.POSITIVE_INFINITY).available).toBe(Number.POSITIVE_INFINITY);
  });

  it("grants permits up to the limit, then queues waiters first-in first-out", async () => {
    const sem = new Semaphore(2);
    await sem.acquire();
    await sem.acquire();
    expect(sem.available).toBe(0);
    const order: string[] = [];
    const a = sem.acquire().then(() => order.push("a"));
    const b = sem.acquire().then(() => order.push("b"));
    expect(sem.waiting).toBe(2);
    sem.release();
    await a;
    sem.release();
    await b;
    expect(order).toEqual(["a", "b"]);
    expect(sem.waiting).toBe(0);
  });

  it("removes a cancelled waiter from the queue so the next waiter gets the permit", async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const controller = new AbortController();
    const cancelled = sem.acquire(controller.signal);
    const next = sem.acquire();
    expect(sem.waiting).toBe(2);
    controller.abort(new DOMException("gone", "AbortError"));
    await expect(cancelled).rejects.toMatchObject({ name: "AbortError" });
    expect(sem.waiting).toBe(1);
    sem.release();
    await next;
    expect(sem.available).toBe(0);
    sem.release();
    expect(sem.available).toBe(1);
  });

  it("rejects at once for an already-aborted signal without taking a permit", async () => {
    const sem = new Semaphore(1);
    await expect(sem.acquire(AbortSignal.abort())).rejects.toMatchObject({ name: "AbortError" });
    expect(sem.available).toBe(1);
  });

  it("releases the permit of withPermit whether the function returns or throws", async () => {
    const sem = new Semaphore(1);
    expect(await sem.withPermit(() => 42)).toBe(42);
    await expect(
      sem.withPermit(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(sem.available).toBe(1);
  });

  it("never lets more than the limit hold a permit at once", async () => {
    const sem = new Semaphore(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sem.withPermit(async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(i % 4);
          running--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });

  it("with Infinity permits never makes anyone wait", async () => {
    const sem = new Semaphore(Number.POSITIVE_INFINITY);
    await Promise.all(Array.from({ length: 100 }, () => sem.acquire()));
    expect(sem.waiting).toBe(0);
    sem.release();
    expect(sem.available).toBe(Number.POSITIVE_INFINITY);
  });

  it("throws when released more times than acquired", () => {
    const sem = new Semaphore(1);
    expect(() => sem.release()).toThrow("released more times than acquired");
  });
});
