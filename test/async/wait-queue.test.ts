/** WaitQueue, the FIFO line of waiters behind locks and semaphores. */
import { describe, expect, it, vi } from "vitest";
import { WaitQueue } from "../../src/async/wait-queue";

describe("WaitQueue", () => {
  it("settles waiters in arrival order, cancels one, and times out another", async () => {
    const q = new WaitQueue<string, string>();
    const a = q.wait("a", "A", 10_000, () => "timeout");
    const b = q.wait("b", "B", 10_000, () => "timeout");
    const c = q.wait("c", "C", 1, () => "timeout");
    expect(q.size).toBe(3);
    expect(q.peek()).toEqual({ id: "a", data: "A" });
    expect(q.cancel("b", "cancelled")).toBe(true);
    expect(q.cancel("b", "cancelled")).toBe(false);
    q.shift()?.settle("granted");
    expect(await a).toBe("granted");
    expect(await b).toBe("cancelled");
    expect(await c).toBe("timeout");
    expect(q.size).toBe(0);
    expect(q.shift()).toBeUndefined();
  });

  it("tells its owner when a waiter times out (not when it is shifted or cancelled), after settling it", async () => {
    const left: string[] = [];
    let settledFirst = false;
    const q = new WaitQueue<string, string>({ afterTimeout: (id) => left.push(`${id}:${settledFirst}`) });
    const slow = q.wait("slow", "S", 1, () => {
      settledFirst = true;
      return "timeout";
    });
    const shifted = q.wait("shifted", "X", 10_000, () => "timeout");
    const cancelled = q.wait("cancelled", "C", 10_000, () => "timeout");
    expect(await slow).toBe("timeout");
    expect(left).toEqual(["slow:true"]);
    q.shift()?.settle("granted");
    q.cancel("cancelled", "cancelled");
    expect([await shifted, await cancelled]).toEqual(["granted", "cancelled"]);
    expect(left).toEqual(["slow:true"]);
  });

  it("knows who is queued, and refuses the same id twice", async () => {
    const q = new WaitQueue<string, string>();
    const a = q.wait("a", "A", 10_000, () => "timeout");
    expect([q.has("a"), q.has("b")]).toEqual([true, false]);
    expect(() => q.wait("a", "again", 10_000, () => "timeout")).toThrow(new Error("waiter a is already queued"));
    expect(q.size).toBe(1);
    q.cancel("a", "cancelled");
    expect(q.has("a")).toBe(false);
    expect(await a).toBe("cancelled");
  });

  it("settles every waiter with what drain makes of its data, empties, and leaves no timer behind", async () => {
    vi.useFakeTimers();
    try {
      const q = new WaitQueue<number, string>();
      const waiting = [q.wait("x", 1, 10_000, () => "timeout"), q.wait("y", 2, 10_000, () => "timeout")];
      expect(vi.getTimerCount()).toBe(2);
      q.drain((n) => `drained ${n}`);
      expect(await Promise.all(waiting)).toEqual(["drained 1", "drained 2"]);
      expect([q.size, vi.getTimerCount()]).toEqual([0, 0]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("clears the timer of a waiter shifted or cancelled: it never times out afterwards", async () => {
    vi.useFakeTimers();
    try {
      const timedOut: string[] = [];
      const q = new WaitQueue<string, string>({ afterTimeout: (id) => timedOut.push(id) });
      void q.wait("s", "S", 100, () => "timeout");
      void q.wait("c", "C", 100, () => "timeout");
      q.shift()?.settle("granted");
      expect(vi.getTimerCount()).toBe(1);
      q.cancel("c", "cancelled");
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(timedOut).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
