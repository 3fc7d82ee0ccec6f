import { describe, expect, it, vi } from "vitest";
import { Batcher } from "../../src/async";
import { manualWindows } from "../helpers/windows";

/** A batcher that records every batch it sends and answers each item with `item * 10`. */
function recorder(options: { windowMs?: number; maxSize?: number } = {}) {
  const windows = manualWindows();
  const sent: [string, number[]][] = [];
  const batcher = new Batcher<string, number, number>({
    windowMs: options.windowMs ?? 2,
    maxSize: options.maxSize ?? 4,
    window: windows.window,
    send: async (key, items) => {
      sent.push([key, [...items]]);
      return items.map((i) => i * 10);
    },
  });
  return { batcher, windows, sent };
}

describe("Batcher (group commit)", () => {
  it("sends what arrives under one key within the window as one batch, each caller answered with its own result", async () => {
    const { batcher, windows, sent } = recorder();
    const answers = [batcher.add("a", 1), batcher.add("a", 2), batcher.add("b", 3), batcher.add("a", 4)];
    expect(sent).toEqual([]);
    expect(windows.waiting).toBe(4);
    windows.fire();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40]);
    expect(sent).toEqual([
      ["a", [1, 2, 4]],
      ["b", [3]],
    ]);
  });

  it("closes a full batch to newcomers, who open the next one", async () => {
    const { batcher, windows, sent } = recorder({ maxSize: 2 });
    const answers = [1, 2, 3, 4, 5].map((i) => batcher.add("a", i));
    expect(windows.waiting).toBe(5);
    windows.fire();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50]);
    expect(sent.map(([, items]) => items)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("puts an item added while its key's batch is being sent into a new batch, with its own answer", async () => {
    const windows = manualWindows();
    const sent: number[][] = [];
    let inFlight: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      inFlight = resolve;
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const batcher = new Batcher<string, number, number>({
      windowMs: 2,
      maxSize: 8,
      window: windows.window,
      send: async (_, items) => {
        sent.push([...items]);
        // The first batch's send stays pending until the test releases it.
        if (sent.length === 1) {
          inFlight();
          await gate;
        }
        return items.map((i) => i * 10);
      },
    });
    const first = [batcher.add("a", 1), batcher.add("a", 2)];
    windows.fire();
    await started;
    const third = batcher.add("a", 3);
    windows.fire();
    release();
    expect(await Promise.all([...first, third])).toEqual([10, 20, 30]);
    expect(sent).toEqual([[1, 2], [3]]);
  });

  it("sends every item alone and at once with a window of 0", async () => {
    const { batcher, windows, sent } = recorder({ windowMs: 0 });
    const answers = [batcher.add("a", 1), batcher.add("a", 2)];
    expect(windows.waiting).toBe(0);
    expect(await Promise.all(answers)).toEqual([10, 20]);
    expect(sent).toEqual([
      ["a", [1]],
      ["a", [2]],
    ]);
  });

  it("fails every item of a batch with the same error when its send fails, and only that batch", async () => {
    const windows = manualWindows();
    const boom = new Error("the object is unreachable");
    const batcher = new Batcher<string, number, number>({
      windowMs: 2,
      maxSize: 8,
      window: windows.window,
      send: async (key, items) => {
        if (key === "down") throw boom;
        return items;
      },
    });
    const failing = [batcher.add("down", 1), batcher.add("down", 2)].map((p) => p.catch((e: unknown) => e));
    const fine = batcher.add("up", 3);
    windows.fire();
    expect(await Promise.all(failing)).toEqual([boom, boom]);
    expect((await Promise.all(failing))[0]).toBe(boom);
    expect(await fine).toBe(3);
  });

  it("refuses an answer that does not have one result per item", async () => {
    const windows = manualWindows();
    const batcher = new Batcher<string, number, number>({
      windowMs: 2,
      maxSize: 8,
      window: windows.window,
      send: async () => [1],
    });
    const answers = [batcher.add("a", 1), batcher.add("a", 2)].map((p) => p.catch((e: Error) => e.message));
    windows.fire();
    expect(await Promise.all(answers)).toEqual(["Batcher: 1 results for 2 items", "Batcher: 1 results for 2 items"]);
  });

  it("keeps the send alive through the keepAlive of the caller that sent it, and asks nothing of the others", async () => {
    const { batcher, windows, sent } = recorder();
    const kept: Promise<unknown>[][] = [[], []];
    const answers = [0, 1].map((i) => batcher.add("a", i, (work) => kept[i]?.push(work)));
    expect(kept.map((k) => k.length)).toEqual([0, 0]);
    windows.fire();
    expect(await Promise.all(answers)).toEqual([0, 10]);
    expect(kept.map((k) => k.length)).toEqual([1, 0]);
    expect(sent).toHaveLength(1);
  });

  it("is sent by the next caller whose window ends when the opener's never does (its request went away)", async () => {
    const sent: number[][] = [];
    const windows = manualWindows();
    let calls = 0;
    const batcher = new Batcher<string, number, number>({
      windowMs: 2,
      maxSize: 8,
      // The opener's window never ends; the others' do when the test fires them.
      window: (ms) => (calls++ === 0 ? new Promise(() => {}) : windows.window(ms)),
      send: async (_, items) => {
        sent.push([...items]);
        return items;
      },
    });
    void batcher.add("a", 1);
    const second = batcher.add("a", 2);
    windows.fire();
    expect(await second).toBe(2);
    expect(sent).toEqual([[1, 2]]);
  });

  it("refuses a negative window or a batch size below 1 when built", () => {
    const send = async (_: string, items: number[]) => items;
    expect(() => new Batcher({ windowMs: -1, maxSize: 1, send })).toThrow(RangeError);
    expect(() => new Batcher({ windowMs: 2, maxSize: 0, send })).toThrow(
      new RangeError("Batcher: windowMs ≥ 0, maxSize ≥ 1"),
    );
    expect(() => new Batcher({ windowMs: 0, maxSize: 1, send })).not.toThrow();
  });

  it("keeps adding to the open batch when a full batch closed earlier is sent", async () => {
    // Each caller's window is ended by the test, one at a time.
    const ends: (() => void)[] = [];
    const sent: number[][] = [];
    const batcher = new Batcher<string, number, number>({
      windowMs: 2,
      maxSize: 2,
      window: () => new Promise<void>((resolve) => ends.push(resolve)),
      send: async (_, items) => {
        sent.push([...items]);
        return items;
      },
    });
    // 1 and 2 fill a batch (closed); 3 opens the next.
    const answers = [batcher.add("a", 1), batcher.add("a", 2), batcher.add("a", 3)];
    ends[0]?.();
    await answers[0];
    // The full batch went; 4 still joins 3's open batch.
    answers.push(batcher.add("a", 4));
    for (const end of ends.slice(1)) end();
    expect(await Promise.all(answers)).toEqual([1, 2, 3, 4]);
    expect(sent).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it("gives up on a batch another caller sent after a minute without an answer", async () => {
    vi.useFakeTimers();
    try {
      const windows = manualWindows();
      const batcher = new Batcher<string, number, number>({
        windowMs: 2,
        maxSize: 8,
        window: windows.window,
        // The opener's send never answers (its request went away mid-call).
        send: () => new Promise<number[]>(() => {}),
      });
      void batcher.add("a", 1);
      let outcome: unknown;
      const other = batcher.add("a", 2).catch((e: Error) => {
        outcome = e.message;
      });
      windows.fire();
      await vi.advanceTimersByTimeAsync(59_990);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(100);
      await other;
      expect(outcome).toBe("Batcher: no answer");
    } finally {
      vi.useRealTimers();
    }
  });
});
