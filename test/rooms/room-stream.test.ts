/**
 * A sharded room's pure parts, without sockets: the shard a user lands on, the ordered pipe between objects (one
 * call in flight, the rest together), and a shard's stream (seq order, once, gaps named for filling).
 */
import { describe, expect, it } from "vitest";
import { Pipe } from "../../src/rooms/room-pipe";
import { type Batch, ShardStream, type StreamItem, shardOf } from "../../src/rooms/room-stream";

const m = (seq: number) => ({ seq, text: `m${seq}` });
const batch = (n: number, after: number, ...seqs: number[]): Batch => ({ epoch: "e", n, after, items: seqs.map(m) });
const seqs = (items: StreamItem[]) => items.map((i) => ("seq" in i ? i.seq : undefined));

describe("shardOf", () => {
  it("puts a user on the same shard every time, and 4,000 users within 20 % of a fair share on each of 4 shards", () => {
    expect(shardOf("ada", 4)).toBe(shardOf("ada", 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) counts[shardOf(`user-${i}`, 4)] = (counts[shardOf(`user-${i}`, 4)] ?? 0) + 1;
    for (const c of counts) expect(Math.abs(c - 1_000)).toBeLessThan(200);
    expect(shardOf("anyone", 1)).toBe(0);
  });
});

describe("Pipe", () => {
  it("sends items in order, one call in flight, what queued meanwhile together, each caller its own answer", async () => {
    const calls: number[][] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const pipe = new Pipe<number, number>(async (xs) => {
      calls.push(xs);
      if (calls.length === 1) await gate;
      return xs.map((x) => x * 10);
    });
    const first = pipe.call(1);
    await Promise.resolve();
    await Promise.resolve();
    const rest = [pipe.call(2), pipe.call(3), pipe.call(4)];
    expect(pipe.waiting).toBe(3);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(calls).toEqual([[1], [2, 3, 4]]);
    expect(pipe.calls).toBe(2);
  });

  it("sends at most max items in one call: 5 calls in one turn with max 2 go as [1,2], [3,4], [5]", async () => {
    const calls: number[][] = [];
    const pipe = new Pipe<number, number>(async (xs) => {
      calls.push(xs);
      return xs.map((x) => x * 10);
    }, 2);
    expect(await Promise.all([1, 2, 3, 4, 5].map((x) => pipe.call(x)))).toEqual([10, 20, 30, 40, 50]);
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
    expect(pipe.calls).toBe(3);
  });

  it("rejects the callers of a failed call and goes on with the next", async () => {
    let fail = true;
    const pipe = new Pipe<number, number>(async (xs) => {
      if (fail) {
        fail = false;
        throw new Error("down");
      }
      return xs;
    });
    await expect(pipe.call(1)).rejects.toThrow("down");
    expect(await pipe.call(2)).toBe(2);
  });
});

describe("ShardStream", () => {
  it("plays batches that follow on at once, and starts where the first batch starts when nobody reads yet", () => {
    const stream = new ShardStream();
    expect(seqs(stream.receive(batch(1, 7, 8, 9), false).play)).toEqual([8, 9]);
    expect(seqs(stream.receive(batch(2, 9, 10), true).play)).toEqual([10]);
    expect(stream.cursor).toBe(10);
  });

  it("holds a batch after a gap, names the gap, and plays the filled messages and then the batch in order", () => {
    const stream = new ShardStream(3);
    const step = stream.receive(batch(5, 6, 7, 8), true);
    expect(step).toEqual({ play: [], fill: { after: 3, upTo: 6 } });
    // Another batch ahead while the gap is being filled: held too, no second fill.
    expect(stream.receive(batch(6, 8, 9), true)).toEqual({ play: [] });
    expect(seqs(stream.filled([m(4), m(5), m(6)], 6).play)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(stream.cursor).toBe(9);
  });

  it("plays a batch that arrives after a later one once: before the fill returns, or dropped after it", () => {
    const early = new ShardStream(1);
    early.receive(batch(2, 3, 4, 5), true);
    expect(seqs(early.receive(batch(1, 1, 2, 3), true).play)).toEqual([2, 3, 4, 5]);
    expect(early.filled([m(2), m(3)], 3).play).toEqual([]);

    const late = new ShardStream(1);
    late.receive(batch(2, 3, 4, 5), true);
    expect(seqs(late.filled([m(2), m(3)], 3).play)).toEqual([2, 3, 4, 5]);
    expect(late.receive(batch(1, 1, 2, 3), true).play).toEqual([]);
    expect(late.cursor).toBe(5);
  });

  it("plays a batch delivered twice once, and never a message at or below the cursor", () => {
    const stream = new ShardStream(0);
    expect(seqs(stream.receive(batch(1, 0, 1, 2), true).play)).toEqual([1, 2]);
    expect(stream.receive(batch(1, 0, 1, 2), true).play).toEqual([]);
    // Another epoch (a restarted sequencer) overlapping what was played: only the new messages.
    expect(seqs(stream.receive({ ...batch(1, 1, 2, 3), epoch: "f" }, true).play)).toEqual([3]);
  });

  it("plays a batch received twice while it waited behind a gap once when the gap is filled", () => {
    const stream = new ShardStream(3);
    const presence: StreamItem = { presence: '{"type":"presence"}', personal: {} };
    const ahead: Batch = { epoch: "e", n: 5, after: 6, items: [m(7), presence] };
    expect(stream.receive(ahead, true)).toEqual({ play: [], fill: { after: 3, upTo: 6 } });
    // A retry of the same batch (its answer was lost) while it still waits.
    expect(stream.receive({ ...ahead }, true)).toEqual({ play: [] });
    expect(stream.filled([m(4), m(5), m(6)], 6).play).toEqual([m(4), m(5), m(6), m(7), presence]);
    expect(stream.cursor).toBe(7);
  });

  it("skips ahead to the gap's end when history no longer keeps all of it", () => {
    const stream = new ShardStream(2);
    stream.receive(batch(3, 10, 11), true);
    expect(seqs(stream.filled([m(9), m(10)], 10).play)).toEqual([9, 10, 11]);
    expect(stream.cursor).toBe(11);
  });

  it("asks again for a gap it could not fill when the next batch arrives", () => {
    const stream = new ShardStream(2);
    expect(stream.receive(batch(3, 5, 6), true).fill).toEqual({ after: 2, upTo: 5 });
    stream.unfilled();
    expect(stream.receive(batch(4, 6, 7), true).fill).toEqual({ after: 2, upTo: 5 });
  });
});
