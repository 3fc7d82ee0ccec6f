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
