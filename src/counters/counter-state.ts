/**
 * The decisions of a counter as plain functions: what an increment may write. The Counter Durable Object reads the
 * value from SQLite, calls these, and writes what they allow; unit tests call them directly.
 */

/** The value after adding `by`, or why it may not be written. */
export function nextValue(
  current: number,
  { by, min, max }: { by: number; min?: number; max?: number },
): { ok: true; value: number } | { ok: false; reason: "out-of-bounds" | "unsafe"; detail: string } {
  const value = current + by;
  if (!Number.isSafeInteger(value)) {
    return { ok: false, reason: "unsafe", detail: `${current} + ${by} is beyond the safe integer range ±(2^53-1)` };
  }
  if (min !== undefined && value < min) {
    return { ok: false, reason: "out-of-bounds", detail: `${current} + ${by} = ${value} would go below min ${min}` };
  }
  if (max !== undefined && value > max) {
    return { ok: false, reason: "out-of-bounds", detail: `${current} + ${by} = ${value} would go above max ${max}` };
  }
  return { ok: true, value };
}

/** Refused because the counter is sharded: what was asked needs one place of truth. */
export interface Sharded {
  ok: false;
  reason: "sharded";
  detail: string;
  shards: number;
}

/**
 * The refusal of bounds, compare-and-set or a fence on a counter spread over `shards` objects.
 *
 * @example
 * sharded(4).detail; // "it has 4 shards: bounds, compare-and-set and fences need one place of truth"
 */
export function sharded(shards: number): Sharded {
  return {
    ok: false,
    reason: "sharded",
    detail: `it has ${shards} shards: bounds, compare-and-set and fences need one place of truth`,
    shards,
  };
}

/** One increment of a batch (group commit): a plain or bounded increment, no fence. */
export interface IncrementMember {
  by: number;
  min?: number;
  max?: number;
}

export type MemberOutcome =
  | { ok: true; value: number }
  | { ok: false; reason: "out-of-bounds" | "unsafe"; detail: string; value: number };

/**
 * A batch applied in order, exactly as if its members had come one after another: each member sees the value the
 * members before it left, gets its own value or its own refusal (a refused member changes nothing, the next ones
 * still apply), and `value` is what is left at the end.
 *
 * @example
 * applyIncrements(8, [{ by: 1, max: 10 }, { by: 5, max: 10 }, { by: 1, max: 10 }]);
 * // { value: 10, outcomes: [{ ok: true, value: 9 }, { ok: false, reason: "out-of-bounds", value: 9, … }, { ok: true, value: 10 }] }
 */
export function applyIncrements(
  current: number,
  members: readonly IncrementMember[],
): { value: number; outcomes: MemberOutcome[] } {
  let value = current;
  const outcomes = members.map((member): MemberOutcome => {
    const next = nextValue(value, member);
    if (!next.ok) return { ...next, value };
    value = next.value;
    return next;
  });
  return { value, outcomes };
}
