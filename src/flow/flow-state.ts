/**
 * The decisions of a flow-control key as plain functions: how many permits a caller may take now (parallelism, rate
 * and pause together, in one decision), how many calls a grant may start, when the rate window has room again, and
 * how long a job chunk that got nothing waits before it is delivered again. The Flow Durable Object keeps the state
 * in SQLite and calls these; unit tests call them with any clock.
 *
 * The rate is a sliding window, kept as starts counted per slice of `periodMs / SLICES`: a start is allowed while the
 * slices that overlap the last `periodMs` hold fewer than `limit`. Whole slices count, so any window of `periodMs`
 * holds at most `limit` starts (exact at the object), at the cost of up to one slice of under-admission (at least
 * 31/32 of the limit is used, in bursts of up to `limit`). A token bucket (GCRA) would let `limit` more start in the
 * first period after a burst: up to twice the limit in one window.
 */

/** The limits in force: those of the latest call. */
export interface FlowLimits {
  /** Calls in flight at once; null: none asked (the service's FLOW_MAX_PARALLELISM applies). */
  parallelism: number | null;
  rate: { limit: number; periodMs: number } | null;
}

/** One holder's permits (calls it may have in flight), leased until `expiresAt`. */
export interface FlowLease {
  leaseId: string;
  holder: string;
  permits: number;
  expiresAt: number;
}

/** Starts counted in `[start, end)`. */
export interface Slice {
  start: number;
  end: number;
  count: number;
}

/** A rate window's slices: a period is counted in this many. */
export const SLICES = 32;
/**
 * A grant without a rate and without anyone waiting lets its holder start this many calls per permit before it asks
 * again: calls reuse a permit without an object round trip, and a busy holder comes back often enough for others.
 */
export const REUSE = 8;

export const live = (leases: readonly FlowLease[], now: number): FlowLease[] => leases.filter((l) => l.expiresAt > now);

export const inFlight = (leases: readonly FlowLease[], now: number): number =>
  live(leases, now).reduce((sum, l) => sum + l.permits, 0);

/** Starts in the slices that overlap the window ending at `now`. */
export const used = (slices: readonly Slice[], now: number, periodMs: number): number =>
  slices.reduce((sum, s) => (s.end > now - periodMs ? sum + s.count : sum), 0);

/** The slices still inside some window of `periodMs` ending at `now` or later. */
export const prune = (slices: readonly Slice[], now: number, periodMs: number): Slice[] =>
  slices.filter((s) => s.end > now - periodMs);

/**
 * `slices` with `n` starts counted at `now`: in the slice of `periodMs / SLICES` holding `now`, or, for starts that
 * may come up to `forMs` later, in one record from that slice to the end of the slice holding `now + forMs`.
 */
export function counted(slices: readonly Slice[], now: number, n: number, periodMs: number, forMs = 0): Slice[] {
  const width = Math.max(1, Math.ceil(periodMs / SLICES));
  const start = Math.floor(now / width) * width;
  const end = (Math.floor((now + forMs) / width) + 1) * width;
  const kept = prune(slices, now, periodMs);
  const same = kept.findIndex((s) => s.start === start && s.end === end);
  if (same < 0) return [...kept, { start, end, count: n }];
  return kept.map((s, i) => (i === same ? { ...s, count: s.count + n } : s));
}

/** Milliseconds until `need` more starts fit in the window (0: now). */
export function roomIn(slices: readonly Slice[], now: number, rate: { limit: number; periodMs: number }, need = 1) {
  let over = used(slices, now, rate.periodMs) + need - rate.limit;
  if (over <= 0) return 0;
  for (const s of [...slices].sort((a, b) => a.end - b.end)) {
    if (s.end <= now - rate.periodMs) continue;
    over -= s.count;
    if (over <= 0) return s.end + rate.periodMs - now;
  }
  return rate.periodMs;
}

export interface FlowState {
  leases: readonly FlowLease[];
  slices: readonly Slice[];
  limits: FlowLimits;
  paused: boolean;
}

/** Why a caller gets nothing now. */
export type Blocked = "paused" | "parallelism" | "rate";
/** Why a call got nothing: a limit, or others ahead in line (or the line full). */
export type Refusal = Blocked | "line";

/** Permits that fit now; with none, why (`blocked`) and, for the rate, in how many ms one will. */
export interface Grantable {
  permits: number;
  blocked: Blocked | null;
  retryAfterMs: number | null;
}

/**
 * How many of `want` permits fit now under every limit at once: parallelism (`maxParallelism` when the key asks for
 * none) and the rate window, unless the key is paused. With nothing free, why, and for the rate when it has room.
 *
 * @example
 * grantable({ leases, slices, limits: { parallelism: 2, rate: null }, paused: false }, 5, Date.now(), 1000)
 * // { permits: 2 } with nothing in flight
 */
export function grantable(state: FlowState, want: number, now: number, maxParallelism: number): Grantable {
  const none = (blocked: Blocked, retryAfterMs: number | null = null) => ({ permits: 0, blocked, retryAfterMs });
  if (state.paused) return none("paused");
  const parallelism = Math.min(state.limits.parallelism ?? maxParallelism, maxParallelism);
  let permits = Math.min(want, parallelism - inFlight(state.leases, now));
  if (permits <= 0) return none("parallelism");
  const { rate } = state.limits;
  if (rate) {
    permits = Math.min(permits, rate.limit - used(state.slices, now, rate.periodMs));
    if (permits <= 0) return none("rate", roomIn(state.slices, now, rate));
  }
  return { permits, blocked: null, retryAfterMs: null };
}

/** How long after a grant the starts it reserves under a rate may be used: a quarter period, at most 1 s. */
export const reserveMs = (periodMs: number): number => Math.min(1_000, Math.max(1, Math.floor(periodMs / 4)));

/** What a grant lets its holder start before it asks again, for how long (ms; 0: at once), and the window after. */
export interface Starts {
  starts: number;
  forMs: number;
  slices: Slice[];
}

/**
 * The starts of a grant of `permits` at `now`. Without a rate: REUSE calls per permit, or only the permits' own while
 * others wait (so each permit comes back after its call). Under a rate every start is counted when granted: the
 * permits' own, to start at once; and, with room to spare and nobody waiting, up to REUSE - 1 more per permit (at
 * most half the room left) to start within `reserveMs`, counted in one record spanning the grant to that time, so no
 * window holds more than the limit whenever they start.
 *
 * @example
 * startsOf(2, state, now, false) // { starts: 16, forMs: 0, slices } without a rate
 */
export function startsOf(permits: number, state: FlowState, now: number, othersWaiting: boolean): Starts {
  const { rate } = state.limits;
  if (!rate) return { starts: othersWaiting ? permits : permits * REUSE, forMs: 0, slices: [...state.slices] };
  const room = rate.limit - used(state.slices, now, rate.periodMs) - permits;
  const extra = othersWaiting ? 0 : Math.max(0, Math.min(permits * (REUSE - 1), Math.floor(room / 2)));
  const forMs = extra > 0 ? reserveMs(rate.periodMs) : 0;
  return { starts: permits + extra, forMs, slices: counted(state.slices, now, permits + extra, rate.periodMs, forMs) };
}

/** When an idle key (nothing in flight, nobody waiting) may forget its window: once no slice counts any more. */
export const windowEnd = (slices: readonly Slice[], limits: FlowLimits): number =>
  slices.reduce((end, s) => Math.max(end, s.end + (limits.rate?.periodMs ?? 0)), 0);

/**
 * How long a job chunk that got no permit waits before it is delivered again, in seconds: until the rate window has
 * room; `maxSeconds` for a paused key; else 1, 2, 4… s by the deliveries in a row that got nothing. Within 1 s and
 * `maxSeconds` (FLOW_JOB_MAX_DEFER_SECONDS).
 *
 * @example
 * deferSeconds({ blocked: "parallelism", retryAfterMs: null }, 3, 60) // 8
 */
export function deferSeconds(
  refusal: { blocked: Refusal; retryAfterMs: number | null },
  deferrals: number,
  maxSeconds: number,
): number {
  const wanted =
    refusal.blocked === "paused"
      ? maxSeconds
      : refusal.retryAfterMs !== null
        ? Math.ceil(refusal.retryAfterMs / 1000)
        : 2 ** Math.min(deferrals, 16);
  return Math.max(1, Math.min(maxSeconds, wanted));
}
