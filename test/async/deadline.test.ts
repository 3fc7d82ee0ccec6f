/**
 * Deadlines and timeouts as AbortSignals: a timer's signal and its reason, a timer cancelled in time, one signal out
 * of several, what kind of error a reason is, and the time left before a deadline on an injected clock.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { anySignal, deadline, isAbort, isTimeout, timer } from "../../src/async";
import { abortError, deadlineAt } from "../../src/async/deadline";

afterEach(() => {
  vi.useRealTimers();
});

describe("timer", () => {
  it("fires its signal after ms with a TimeoutError carrying the message (by default, how long it waited)", async () => {
    vi.useFakeTimers();
    const named = timer(100, "upstream timed out");
    const plain = timer(50);
    await vi.advanceTimersByTimeAsync(49);
    expect([named.signal.aborted, plain.signal.aborted]).toEqual([false, false]);
    await vi.advanceTimersByTimeAsync(1);
    expect(plain.signal.aborted).toBe(true);
    expect(plain.signal.reason).toMatchObject({ name: "TimeoutError", message: "timed out after 50 ms" });
    await vi.advanceTimersByTimeAsync(50);
    expect(named.signal.reason).toBeInstanceOf(DOMException);
    expect(named.signal.reason).toMatchObject({ name: "TimeoutError", message: "upstream timed out" });
  });

  it("never fires once cancelled, and fires at once for a negative time", async () => {
    vi.useFakeTimers();
    const cancelled = timer(10);
    cancelled.cancel();
    const negative = timer(-5);
    await vi.advanceTimersByTimeAsync(0);
    expect(negative.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cancelled.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("abortError, isAbort, isTimeout", () => {
  it("tells a cancellation from a timeout by the error's name, and neither from anything else", () => {
    const aborted = abortError();
    expect(aborted).toBeInstanceOf(DOMException);
    expect(aborted).toMatchObject({ name: "AbortError", message: "The operation was aborted." });
    expect(abortError("the consumer left").message).toBe("the consumer left");
    const timedOut = new DOMException("late", "TimeoutError");
    expect([isAbort(aborted), isTimeout(aborted)]).toEqual([true, false]);
    expect([isAbort(timedOut), isTimeout(timedOut)]).toEqual([false, true]);
    expect([isAbort({ name: "AbortError" }), isTimeout({ name: "TimeoutError" })]).toEqual([true, true]);
    for (const other of [new Error("AbortError"), null, undefined, "AbortError", 42, { name: 7 }, {}]) {
      expect([isAbort(other), isTimeout(other)], String(other)).toEqual([false, false]);
    }
  });
});

describe("anySignal", () => {
  it("is the one signal given when only one is present, and otherwise fires with the first to fire", () => {
    const a = new AbortController();
    const b = new AbortController();
    expect(anySignal([undefined, a.signal, undefined])).toBe(a.signal);
    const both = anySignal([a.signal, undefined, b.signal]);
    expect(both).not.toBe(a.signal);
    expect(both.aborted).toBe(false);
    b.abort("b first");
    a.abort("a later");
    expect(both.reason).toBe("b first");
    expect(anySignal([]).aborted).toBe(false);
  });
});

describe("deadline", () => {
  it("counts down on its clock, never below 0, and has passed from its moment on", () => {
    let now = 1_000;
    const clock = () => now;
    const d = deadline(500, clock);
    expect(d.at).toBe(1_500);
    expect([d.remaining(), d.expired()]).toEqual([500, false]);
    now = 1_499;
    expect([d.remaining(), d.expired()]).toEqual([1, false]);
    now = 1_500;
    expect([d.remaining(), d.expired()]).toEqual([0, true]);
    now = 2_000;
    expect([d.remaining(), d.expired()]).toEqual([0, true]);
    const at = deadlineAt(1_200, clock);
    expect([at.at, at.remaining(), at.expired()]).toEqual([1_200, 0, true]);
  });

  it("never passes without a time, and uses the real clock by default", () => {
    const none = deadline(undefined, () => 5);
    expect([none.at, none.remaining(), none.expired()]).toEqual([
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      false,
    ]);
    const real = deadline(60_000);
    expect(real.at - Date.now()).toBeGreaterThan(59_000);
    expect(real.at - Date.now()).toBeLessThanOrEqual(60_000);
    expect(real.expired()).toBe(false);
    expect(deadlineAt(Date.now() - 1).expired()).toBe(true);
  });
});
