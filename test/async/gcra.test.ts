/** GCRA, the rate limiters' arithmetic, called directly with a chosen clock. */
import { describe, expect, it } from "vitest";
import { gcra, gcraBatch, gcraInterval, gcraRescale } from "../../src/async/gcra";

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

  it("reads a TAT stored under another limit in the current one's terms: the units spent, at most a full bucket", () => {
    const two = { limit: 2, periodMs: 1_000 }; // 500 ms a unit
    const hundred = { limit: 100, periodMs: 1_000 }; // 10 ms a unit
    // Two units spent at 2 a second (TAT 1 s ahead) are 20 ms at 100 a second, and 250 ms later 1.5 units: 15 ms.
    expect(gcraRescale(1_000, 500, 0, hundred)).toBe(20);
    expect(gcraRescale(1_000, 500, 250, hundred)).toBe(265);
    // 100 units spent at 100 a second are more than a bucket of 2: a full bucket, 1 s ahead.
    expect(gcraRescale(1_000, 10, 0, two)).toBe(1_000);
    expect(gcraRescale(1_000, 10, 0, { ...two, burst: 1 })).toBe(500);
    // The same limit, an idle key, a state stored without its interval (capped only).
    expect(gcraRescale(700, 500, 0, two)).toBe(700);
    expect(gcraRescale(-5, 500, 0, hundred)).toBe(-5);
    expect(gcraRescale(3_600_000, undefined, 0, hundred)).toBe(1_000);
    expect(gcraRescale(15, undefined, 0, hundred)).toBe(15);
  });

  it("reads a TAT under the limit it was stored under exactly as stored: no rounding adds a millisecond to a wait", () => {
    const ten = { limit: 10, periodMs: 1_000 }; // 100 ms a unit
    // 905 / 100 * 100 is 905.0000000000001 in floating point: rescaled, the wait below would be 6 ms and reset 906.
    for (const tat of [905, 7, 29, 1_000]) expect(gcraRescale(tat, 100, 0, ten)).toBe(tat);
    expect(gcra(gcraRescale(905, 100, 0, ten), 0, ten)).toMatchObject({
      allowed: false,
      retryAfterMs: 5,
      resetMs: 905,
    });
  });

  it("never answers a wait beyond the current limit's, and the call passes once that wait is over", () => {
    const limits = [
      { limit: 30, periodMs: 3_600_000 },
      { limit: 100_000, periodMs: 60_000 },
      { limit: 2, periodMs: 1_000 },
      { limit: 1, periodMs: 100 },
      { limit: 10, periodMs: 1_000, burst: 3 },
    ];
    for (const before of limits) {
      for (const after of limits) {
        // Use `before` up at t = 0, then ask under `after` at t = 1.
        let tat = 0;
        for (let d = gcra(tat, 0, before); d.allowed; d = gcra(tat, 0, before)) tat = d.tat;
        const interval = gcraInterval(after);
        const read = gcraRescale(tat, gcraInterval(before), 1, after);
        const d = gcra(read, 1, after);
        const pair = `${JSON.stringify(before)} then ${JSON.stringify(after)}`;
        expect(d.retryAfterMs, pair).toBeLessThanOrEqual(Math.ceil(interval));
        expect(d.resetMs, pair).toBeLessThanOrEqual(Math.ceil(interval * (after.burst ?? after.limit)));
        if (d.allowed) continue;
        // Refused: the state kept (in the current terms) lets the call through when the answer said it would.
        const at = 1 + d.retryAfterMs;
        expect(gcra(gcraRescale(d.tat, interval, at, after), at, after).allowed, pair).toBe(true);
      }
    }
    // A bare TAT far ahead of a full bucket (no interval known) is capped by gcra itself.
    expect(gcra(3_600_000, 0, { limit: 10, periodMs: 1_000 })).toMatchObject({
      allowed: false,
      retryAfterMs: 100,
      resetMs: 1_000,
      tat: 1_000,
    });
  });

  it("counts remaining, reset and retry-after from now on any clock, not from 0", () => {
    const now = 50_000;
    const fresh = gcra(0, now, limits);
    expect(fresh).toEqual({ allowed: true, remaining: 9, resetMs: 100, retryAfterMs: 0, tat: now + 100 });
    let tat = 0;
    for (let i = 0; i < 10; i++) tat = gcra(tat, now, limits).tat;
    expect(gcra(tat, now, limits)).toEqual({ allowed: false, remaining: 0, resetMs: 1_000, retryAfterMs: 100, tat });
    expect(gcra(tat, now + 250, limits)).toMatchObject({ allowed: true, remaining: 1, resetMs: 850 });
  });

  it("takes all that is available in one batch with divisor 1, up to max", () => {
    const now = 7_000;
    expect(gcraBatch(0, now, limits, 100, 1)).toMatchObject({ allowed: true, granted: 10, remaining: 0 });
    expect(gcraBatch(0, now, limits, 4, 1)).toMatchObject({ allowed: true, granted: 4, remaining: 6 });
  });

  it("takes the one unit the probe allowed when rounding refuses a batch of exactly what it counted", () => {
    // A TAT as float arithmetic leaves it: the probe counts 5 available, a batch of 5 is refused by a hair.
    const odd = { limit: 9, periodMs: 10 };
    const tat = 44.44444444444447;
    const probe = gcra(tat, 40, { ...odd, cost: 1 });
    expect(probe).toMatchObject({ allowed: true, remaining: 4 });
    expect(gcra(tat, 40, { ...odd, cost: 5 }).allowed).toBe(false);
    expect(gcraBatch(tat, 40, odd, 100, 1)).toEqual({ ...probe, granted: 1 });
  });
});
