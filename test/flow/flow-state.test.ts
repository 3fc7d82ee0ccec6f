import { describe, expect, it } from "vitest";
import {
  counted,
  deferSeconds,
  type FlowLease,
  type FlowState,
  grantable,
  REUSE,
  reserveMs,
  roomIn,
  SLICES,
  type Slice,
  startsOf,
  used,
  windowEnd,
} from "../../src/flow/flow-state";

const lease = (permits: number, expiresAt = 10_000, leaseId = crypto.randomUUID()): FlowLease => ({
  leaseId,
  holder: "h",
  permits,
  expiresAt,
});

const state = (over: Partial<FlowState> = {}): FlowState => ({
  leases: [],
  slices: [],
  limits: { parallelism: null, rate: null },
  paused: false,
  ...over,
});

/** Grant greedily at each arrival time (as many as fit), as the object does; the grant times. */
function grantAll(arrivals: number[], rate: { limit: number; periodMs: number }): number[] {
  let slices: Slice[] = [];
  const granted: number[] = [];
  const waiting: number[] = [];
  const step = (now: number) => {
    while (waiting.length > 0) {
      const g = grantable(state({ slices, limits: { parallelism: null, rate } }), 1, now, 1_000);
      if (g.permits === 0) return;
      waiting.shift();
      slices = counted(slices, now, 1, rate.periodMs);
      granted.push(now);
    }
  };
  const last = (arrivals.at(-1) ?? 0) + 20 * rate.periodMs;
  let next = 0;
  for (let now = 0; now <= last; now++) {
    while (next < arrivals.length && (arrivals[next] as number) <= now) {
      waiting.push(now);
      next++;
    }
    step(now);
  }
  return granted;
}

describe("flow decisions", () => {
  it("grants what fits under the parallelism, counting live leases only", () => {
    const s = state({ leases: [lease(2), lease(1, 500)], limits: { parallelism: 4, rate: null } });
    expect(grantable(s, 5, 100, 1_000)).toEqual({ permits: 1, blocked: null, retryAfterMs: null });
    // The lease of 1 permit expires at 500: it counts until then, and from 500 on two fit.
    expect(grantable(s, 5, 499, 1_000)).toMatchObject({ permits: 1 });
    expect(grantable(s, 5, 500, 1_000)).toMatchObject({ permits: 2 });
    expect(grantable(s, 5, 600, 1_000)).toMatchObject({ permits: 2 });
    expect(grantable(state({ leases: [lease(4)], limits: { parallelism: 4, rate: null } }), 1, 0, 1_000)).toEqual({
      permits: 0,
      blocked: "parallelism",
      retryAfterMs: null,
    });
  });

  it("caps the parallelism by the service's maximum, which also applies when the key asks for none", () => {
    expect(grantable(state({ limits: { parallelism: 50, rate: null } }), 100, 0, 10)).toMatchObject({ permits: 10 });
    expect(grantable(state(), 100, 0, 10)).toMatchObject({ permits: 10 });
  });

  it("lets nobody in while paused, whatever is free", () => {
    expect(grantable(state({ paused: true }), 1, 0, 10)).toEqual({ permits: 0, blocked: "paused", retryAfterMs: null });
  });

  it("grants both limits at once: the fewest of what the parallelism and the rate window allow", () => {
    const rate = { limit: 3, periodMs: 1_000 };
    const s = state({ limits: { parallelism: 10, rate }, slices: counted([], 0, 2, 1_000) });
    expect(grantable(s, 5, 10, 100)).toMatchObject({ permits: 1 });
    const full = state({ limits: { parallelism: 10, rate }, slices: counted([], 0, 3, 1_000) });
    const refused = grantable(full, 1, 10, 100);
    expect(refused.blocked).toBe("rate");
    // The slice of t=0 (0–31 ms wide) leaves the window at its end + 1,000 ms.
    expect(refused.retryAfterMs).toBe(Math.ceil(1_000 / SLICES) + 1_000 - 10);
  });

  it("counts starts in slices of periodMs / 32 and forgets the slices no window can reach", () => {
    let slices = counted([], 5, 1, 3_200);
    slices = counted(slices, 50, 2, 3_200);
    slices = counted(slices, 120, 1, 3_200);
    expect(slices).toEqual([
      { start: 0, end: 100, count: 3 },
      { start: 100, end: 200, count: 1 },
    ]);
    // A slice counts whole while any of it is inside the window (conservative): at 3,250 the first still does.
    expect(used(slices, 3_250, 3_200)).toBe(4);
    expect(used(slices, 3_300, 3_200)).toBe(1);
    expect(counted(slices, 3_450, 1, 3_200)).toEqual([{ start: 3_400, end: 3_500, count: 1 }]);
    // A slice is forgotten once its end is a whole period ago, not before.
    expect(counted(slices, 3_299, 1, 3_200)).toEqual([...slices, { start: 3_200, end: 3_300, count: 1 }]);
    expect(counted(slices, 3_300, 1, 3_200)).toEqual([
      { start: 100, end: 200, count: 1 },
      { start: 3_300, end: 3_400, count: 1 },
    ]);
  });

  it("adds starts to the record with the same start and end only: a reserve's record and a slice stay apart", () => {
    // A reserve from the slice of 150 to the end of the slice of 950 (slices of 100 ms).
    let slices = counted([], 150, 24, 3_200, 800);
    expect(slices).toEqual([{ start: 100, end: 1_000, count: 24 }]);
    // The same start, another end: a record of its own.
    slices = counted(slices, 150, 1, 3_200);
    // The same end, another start: a record of its own.
    slices = counted(slices, 950, 2, 3_200);
    expect(slices).toEqual([
      { start: 100, end: 1_000, count: 24 },
      { start: 100, end: 200, count: 1 },
      { start: 900, end: 1_000, count: 2 },
    ]);
    // Into the slice of 100–200: that record only.
    expect(counted(slices, 160, 3, 3_200)).toEqual([
      { start: 100, end: 1_000, count: 24 },
      { start: 100, end: 200, count: 4 },
      { start: 900, end: 1_000, count: 2 },
    ]);
  });

  it("never grants more than the limit in any window of periodMs, for bursts and steady arrivals alike", () => {
    const rate = { limit: 5, periodMs: 1_000 };
    const burst = Array.from({ length: 40 }, () => 0);
    const steady = Array.from({ length: 40 }, (_, i) => i * 97);
    const random = Array.from({ length: 60 }, () => Math.floor(Math.random() * 5_000)).sort((a, b) => a - b);
    for (const arrivals of [burst, steady, random]) {
      const granted = grantAll(arrivals, rate);
      expect(granted).toHaveLength(arrivals.length);
      // Any limit + 1 grants span more than a period: no window of periodMs holds limit + 1.
      for (let i = 0; i + rate.limit < granted.length; i++) {
        expect((granted[i + rate.limit] as number) - (granted[i] as number)).toBeGreaterThanOrEqual(rate.periodMs);
      }
    }
    // A burst of 5 goes at once; the slicing costs at most one slice (31 ms) a period in throughput.
    const granted = grantAll(burst, rate);
    expect(granted.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(granted[5]).toBeLessThanOrEqual(rate.periodMs + Math.ceil(rate.periodMs / SLICES));
  });

  it("says when the window has room again, by the oldest slices leaving it", () => {
    const rate = { limit: 4, periodMs: 3_200 };
    const slices = counted(counted([], 0, 2, 3_200), 150, 2, 3_200);
    expect(roomIn(slices, 200, rate)).toBe(100 + 3_200 - 200);
    expect(roomIn(slices, 200, rate, 3)).toBe(200 + 3_200 - 200);
    expect(roomIn(counted([], 0, 1, 3_200), 200, rate)).toBe(0);
    // Exactly full after the start asked for: room now.
    expect(roomIn(counted([], 0, 3, 3_200), 200, rate)).toBe(0);
    // Two more need exactly the oldest slice's two to leave.
    expect(roomIn(slices, 200, rate, 2)).toBe(100 + 3_200 - 200);
  });

  it("finds the room by the slices that leave first, whatever their order, and not by those already gone", () => {
    const rate = { limit: 4, periodMs: 3_200 };
    // A reserve's record (ending at 1,000) kept before slices that end earlier.
    const unsorted: Slice[] = [
      { start: 100, end: 1_000, count: 1 },
      { start: 500, end: 600, count: 1 },
      { start: 200, end: 300, count: 2 },
    ];
    // One more needs one start to leave: the slice ending at 300 goes first.
    expect(roomIn(unsorted, 1_000, rate)).toBe(300 + 3_200 - 1_000);
    // A slice that left the window (its end a period ago) frees nothing more.
    const stale: Slice[] = [
      { start: 100, end: 200, count: 5 },
      { start: 3_200, end: 3_300, count: 4 },
    ];
    expect(roomIn(stale, 3_400, rate)).toBe(3_300 + 3_200 - 3_400);
  });

  it("lets a grant reuse its permits without a rate while nobody waits, and only their own starts while others do", () => {
    const s = state({ limits: { parallelism: 5, rate: null } });
    expect(startsOf(3, s, 0, false)).toEqual({ starts: 3 * REUSE, forMs: 0, slices: [] });
    expect(startsOf(3, s, 0, true)).toMatchObject({ starts: 3, forMs: 0 });
    // A window left from an earlier rate is kept as it is (it still counts if the rate comes back).
    const earlier = counted([], 0, 2, 1_000);
    expect(startsOf(3, state({ slices: earlier }), 10, false).slices).toEqual(earlier);
  });

  it("under a rate, reserves starts for reuse only with room to spare, counted from the grant to their last use", () => {
    const rate = { limit: 100, periodMs: 3_200 };
    const s = state({ limits: { parallelism: null, rate } });
    // Room for 100: 3 permits, and 7 more each (21) to start within a quarter period (800 ms), counted in one record
    // from the grant's slice (of 100 ms) to the end of the slice holding now + 800 ms.
    expect(reserveMs(3_200)).toBe(800);
    expect(startsOf(3, s, 150, false)).toEqual({
      starts: 24,
      forMs: 800,
      slices: [{ start: 100, end: 1_000, count: 24 }],
    });
    // Near the limit (room for 4): the permits' own starts only, at once, in their slice.
    const near = state({ limits: { parallelism: null, rate }, slices: counted([], 0, 96, 3_200) });
    expect(startsOf(3, near, 150, false)).toMatchObject({ starts: 3, forMs: 0 });
    expect(startsOf(3, s, 150, true)).toMatchObject({ starts: 3, forMs: 0 });
    // A reserve counts for at most 1 s beyond its grant, whatever the period.
    expect(reserveMs(3_600_000)).toBe(1_000);
  });

  it("never lets more than the limit start in a window, whenever the reserved starts are used", () => {
    const rate = { limit: 20, periodMs: 1_000 };
    let slices: Slice[] = [];
    const starts: number[] = [];
    // A holder asking for 2 permits every 7 ms, using each grant's reserve at its last allowed moment.
    for (let now = 0; now < 5_000; now += 7) {
      const s = state({ limits: { parallelism: null, rate }, slices });
      const g = grantable(s, 2, now, 1_000);
      if (g.permits === 0) continue;
      const got = startsOf(g.permits, s, now, false);
      slices = got.slices;
      for (let i = 0; i < got.starts; i++) starts.push(i < g.permits ? now : now + got.forMs - 1);
    }
    starts.sort((a, b) => a - b);
    for (let i = 0; i + rate.limit < starts.length; i++) {
      expect((starts[i + rate.limit] as number) - (starts[i] as number)).toBeGreaterThanOrEqual(rate.periodMs);
    }
    expect(starts.length).toBeGreaterThan(60);
  });

  it("keeps an idle key until its last slice has left every window", () => {
    const rate = { limit: 4, periodMs: 3_200 };
    expect(windowEnd(counted([], 150, 1, 3_200), { parallelism: null, rate })).toBe(200 + 3_200);
    expect(windowEnd([], { parallelism: 2, rate: null })).toBe(0);
    // Without a rate (any more), a slice counts until its own end.
    expect(windowEnd(counted([], 150, 1, 3_200), { parallelism: 2, rate: null })).toBe(200);
  });

  it("defers a job chunk until the rate has room, doubling for a busy parallelism, longest while paused", () => {
    expect(deferSeconds({ blocked: "rate", retryAfterMs: 1_200 }, 5, 60)).toBe(2);
    expect(deferSeconds({ blocked: "rate", retryAfterMs: 10 }, 0, 60)).toBe(1);
    expect([0, 1, 2, 3, 9].map((n) => deferSeconds({ blocked: "parallelism", retryAfterMs: null }, n, 60))).toEqual([
      1, 2, 4, 8, 60,
    ]);
    expect(deferSeconds({ blocked: "line", retryAfterMs: null }, 40, 30)).toBe(30);
    expect(deferSeconds({ blocked: "paused", retryAfterMs: null }, 0, 45)).toBe(45);
  });
});
