/** WaitQueue, the FIFO line of waiters behind locks and semaphores. */
import { describe, expect, it } from "vitest";
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
});
