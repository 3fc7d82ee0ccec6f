/** The counter's arithmetic (bounds, a batch as one increment after another) and its shard routes, called directly. */
import { describe, expect, it } from "vitest";
import { applyIncrements, nextValue, sharded } from "../../src/counters/counter-state";
import { ShardRoutes, shardName } from "../../src/counters/shards";

describe("counter arithmetic", () => {
  it("stays within bounds and safe integers", () => {
    expect(nextValue(1, { by: 2 })).toEqual({ ok: true, value: 3 });
    expect(nextValue(1, { by: 2, max: 2 })).toMatchObject({ ok: false, reason: "out-of-bounds" });
    expect(nextValue(1, { by: -2, min: 0 })).toMatchObject({ ok: false, reason: "out-of-bounds" });
    expect(nextValue(Number.MAX_SAFE_INTEGER, { by: 1 })).toMatchObject({ ok: false, reason: "unsafe" });
    expect(nextValue(-Number.MAX_SAFE_INTEGER, { by: -1 })).toMatchObject({ ok: false, reason: "unsafe" });
  });

  it("lets a value reach its bounds exactly, and passes anything within them", () => {
    expect(nextValue(1, { by: -1, min: 0 })).toEqual({ ok: true, value: 0 });
    expect(nextValue(4, { by: 1, max: 5 })).toEqual({ ok: true, value: 5 });
    expect(nextValue(5, { by: 1, min: 0, max: 10 })).toEqual({ ok: true, value: 6 });
    expect(nextValue(0, { by: -1, min: 0 })).toEqual({
      ok: false,
      reason: "out-of-bounds",
      detail: "0 + -1 = -1 would go below min 0",
    });
  });

  it("refuses what needs one place of truth on a sharded counter, naming its shard count", () => {
    expect(sharded(4)).toEqual({
      ok: false,
      reason: "sharded",
      detail: "it has 4 shards: bounds, compare-and-set and fences need one place of truth",
      shards: 4,
    });
  });

  it("applies a batch as one increment after another: a refused member changes nothing and the next still apply", () => {
    const { value, outcomes } = applyIncrements(8, [
      { by: 1, max: 10 },
      { by: 5, max: 10 },
      { by: 1, max: 10 },
      { by: -20, min: 0 },
      { by: Number.MAX_SAFE_INTEGER },
    ]);
    expect(outcomes).toEqual([
      { ok: true, value: 9 },
      { ok: false, reason: "out-of-bounds", detail: "9 + 5 = 14 would go above max 10", value: 9 },
      { ok: true, value: 10 },
      { ok: false, reason: "out-of-bounds", detail: "10 + -20 = -10 would go below min 0", value: 10 },
      { ok: false, reason: "unsafe", detail: expect.stringContaining("safe integer"), value: 10 },
    ]);
    expect(value).toBe(10);
    expect(applyIncrements(3, [])).toEqual({ value: 3, outcomes: [] });
  });
});

describe("shard routes", () => {
  it("names shard 0 after the counter and the others with a # no counter name may contain", () => {
    expect([0, 1, 7].map((i) => shardName("views", i))).toEqual(["views", "views#1", "views#7"]);
  });

  it("believes 1 shard until told, and takes the shards in turn from the isolate's start", () => {
    const routes = new ShardRoutes({ start: 6 });
    expect([routes.shards("v"), routes.next("v")]).toEqual([1, 0]);
    routes.learn("v", 4);
    expect(Array.from({ length: 6 }, () => routes.next("v"))).toEqual([2, 3, 0, 1, 2, 3]);
    routes.learn("v", 1);
    expect([routes.shards("v"), routes.next("v")]).toEqual([1, 0]);
  });

  it("keeps its turn when told the same count again, so batches refused together take different shards", () => {
    const routes = new ShardRoutes({ start: 4 });
    routes.learn("v", 4);
    const first = routes.next("v");
    routes.learn("v", 4);
    expect([first, routes.next("v")]).toEqual([0, 1]);
  });

  it("forgets the counter learned first beyond its bound", () => {
    const routes = new ShardRoutes({ max: 2 });
    routes.learn("a", 2);
    routes.learn("b", 3);
    routes.learn("c", 4);
    expect(["a", "b", "c"].map((n) => routes.shards(n))).toEqual([1, 3, 4]);
  });
});
