/** The decisions behind locks, semaphores, counters and rate limits, called directly with a chosen clock. */
import { describe, expect, it } from "vitest";
import { gcra, gcraBatch } from "../src/async/gcra";
import { WaitQueue } from "../src/async/wait-queue";
import { applyIncrements, nextValue } from "../src/counters/counter-state";
import { ShardRoutes, shardName } from "../src/counters/shards";
import { emptyLock, expire, grant, isFree, release, renew } from "../src/locks/lock-state";
import { fits, inUse, nextExpiry, type SemaphoreLease } from "../src/semaphores/semaphore-state";

describe("lock decisions", () => {
  it("hands out strictly increasing tokens across grants, releases and expiries", () => {
    let lock = grant(emptyLock(), "a", 100, 0, null);
    expect(lock.holder).toMatchObject({ owner: "a", token: 1, expiresAt: 100 });
    const released = release(lock, "a", 1, 50);
    if (released.kind !== "ok") throw new Error(released.kind);
    lock = grant(released.lock, "b", 100, 60, null);
    expect(lock.holder?.token).toBe(2);
    lock = expire(lock, 160);
    expect(lock.holder).toBeNull();
    expect(grant(lock, "c", 100, 170, null).holder?.token).toBe(3);
  });

  it("treats a lease as over exactly at its expiry, and refuses to grant a held lock", () => {
    const lock = grant(emptyLock(), "a", 100, 0, null);
    expect(isFree(lock, 99)).toBe(false);
    expect(isFree(lock, 100)).toBe(true);
    expect(expire(lock, 99)).toBe(lock);
    expect(() => grant(lock, "b", 100, 50, null)).toThrow();
  });

  it("renews only the live holder's token", () => {
    const lock = grant(emptyLock(), "a", 100, 0, null);
    expect(renew(lock, "a", 1, 500, 50)).toMatchObject({ kind: "ok", lock: { holder: { expiresAt: 550 } } });
    expect(renew(lock, "b", 1, 500, 50)).toMatchObject({ kind: "conflict" });
    expect(renew(lock, "a", 2, 500, 50)).toMatchObject({ kind: "conflict", detail: "token 2 was never granted" });
    expect(renew(lock, "a", 1, 500, 100)).toMatchObject({ kind: "conflict", detail: "the lease of token 1 expired" });
  });

  it("makes a second release of the same token harmless but refuses a stale one", () => {
    const first = release(grant(emptyLock(), "a", 100, 0, null), "a", 1, 10);
    if (first.kind !== "ok") throw new Error(first.kind);
    expect(release(first.lock, "a", 1, 20)).toEqual({ kind: "already-released" });
    const next = grant(first.lock, "b", 100, 30, null);
    expect(release(next, "a", 1, 40)).toEqual({ kind: "already-released" });
    expect(release(next, "c", 1, 40)).toMatchObject({ kind: "conflict" });
    expect(release(next, "b", 2, 40).kind).toBe("ok");
  });
});

describe("semaphore decisions", () => {
  const lease = (permits: number, expiresAt: number): SemaphoreLease => ({
    leaseId: crypto.randomUUID(),
    holder: "h",
    permits,
    grantedAt: 0,
    expiresAt,
    waiterId: null,
  });

  it("counts only live permits and knows what fits", () => {
    const leases = [lease(2, 100), lease(1, 50)];
    expect(inUse(leases, 10)).toBe(3);
    expect(inUse(leases, 50)).toBe(2);
    expect(fits(leases, 1, 3, 10)).toBe(false);
    expect(fits(leases, 1, 3, 50)).toBe(true);
    expect(nextExpiry(leases)).toBe(50);
    expect(nextExpiry([])).toBeNull();
  });
});

describe("counter arithmetic", () => {
  it("stays within bounds and safe integers", () => {
    expect(nextValue(1, { by: 2 })).toEqual({ ok: true, value: 3 });
    expect(nextValue(1, { by: 2, max: 2 })).toMatchObject({ ok: false, reason: "out-of-bounds" });
    expect(nextValue(1, { by: -2, min: 0 })).toMatchObject({ ok: false, reason: "out-of-bounds" });
    expect(nextValue(Number.MAX_SAFE_INTEGER, { by: 1 })).toMatchObject({ ok: false, reason: "unsafe" });
    expect(nextValue(-Number.MAX_SAFE_INTEGER, { by: -1 })).toMatchObject({ ok: false, reason: "unsafe" });
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

describe("GCRA", () => {
  const limits = { limit: 10, periodMs: 1_000 };

  it("allows a burst of limit from idle, then one request per periodMs/limit", () => {
    let tat = 0;
    const allowed: boolean[] = [];
    for (let i = 0; i < 11; i++) {
      const d = gcra(tat, 0, limits);
      allowed.push(d.allowed);
      if (d.allowed) tat = d.tat;
    }
    expect(allowed.filter(Boolean)).toHaveLength(10);
    expect(allowed[10]).toBe(false);
    expect(gcra(tat, 0, limits)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 1_000 });
    expect(gcra(tat, 99, limits).allowed).toBe(false);
    expect(gcra(tat, 100, limits)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("has no fixed-window double burst at a window boundary", () => {
    // Spend the burst at the end of one "window", then try again right after its boundary.
    let tat = 0;
    let count = 0;
    for (const now of [999, 1_000, 1_001]) {
      for (let i = 0; i < 20; i++) {
        const d = gcra(tat, now, limits);
        if (d.allowed) {
          tat = d.tat;
          count++;
        }
      }
    }
    // A fixed window would allow 20 here (10 before the boundary, 10 after); GCRA allows the burst once.
    expect(count).toBe(10);
  });
});

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

  it("takes batches of a share of what is left, one at a time near the limit, never more than the burst", () => {
    const big = { limit: 1_000, periodMs: 1_000 };
    let tat = 0;
    const sizes: number[] = [];
    for (;;) {
      const d = gcraBatch(tat, 0, big, 50, 32);
      if (d.granted === 0) break;
      sizes.push(d.granted);
      tat = d.tat;
    }
    expect(sizes.slice(0, 2)).toEqual([31, 30]);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(sizes.slice(-63).every((n) => n === 1)).toBe(true);
    expect(gcraBatch(0, 0, { limit: 10_000, periodMs: 1_000 }, 50, 32)).toMatchObject({
      granted: 50,
      remaining: 9_950,
    });
    expect(gcraBatch(tat, 0, big, 50, 32)).toMatchObject({ granted: 0, allowed: false, retryAfterMs: 1 });
  });
});
