/** GCRA, the rate limiters' arithmetic, called directly with a chosen clock. */
import { describe, expect, it } from "vitest";
import { gcra, gcraBatch } from "../../src/async/gcra";

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
});
