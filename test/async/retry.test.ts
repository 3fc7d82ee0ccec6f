import { describe, expect, it } from "vitest";
import { backoffDelay, retry, sleep } from "../../src/async";

/** A fake sleep that records each delay and returns at once (or rejects if the signal has fired). */
function recorder() {
  const delays: number[] = [];
  let clock = 0;
  return {
    delays,
    now: () => clock,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw signal.reason;
      delays.push(ms);
      clock += ms;
    },
  };
}

const failing = (times: number, error: () => unknown = () => new Error("flaky")) => {
  let calls = 0;
  const fn = async () => {
    calls++;
    if (calls <= times) throw error();
    return `ok after ${calls}`;
  };
  return { fn, calls: () => calls };
};

describe("retry", () => {
  it("retries until success and reports the attempt number to the function", async () => {
    const fake = recorder();
    const seen: number[] = [];
    const result = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error("flaky");
        return "done";
      },
      { attempts: 5, sleep: fake.sleep, random: () => 0.5 },
    );
    expect(result).toBe("done");
    expect(seen).toEqual([1, 2, 3]);
    expect(fake.delays).toHaveLength(2);
  });

  it("gives up after the attempts and throws the last error", async () => {
    const fake = recorder();
    const f = failing(10);
    await expect(retry(f.fn, { attempts: 3, sleep: fake.sleep })).rejects.toThrow("flaky");
    expect(f.calls()).toBe(3);
    expect(fake.delays).toHaveLength(2);
  });

  it("backs off with full jitter inside an exponentially growing window capped at maxMs", async () => {
    for (const random of [() => 0, () => 0.999999, Math.random]) {
      const fake = recorder();
      await expect(
        retry(failing(10).fn, { attempts: 7, baseMs: 100, maxMs: 1_000, sleep: fake.sleep, random }),
      ).rejects.toThrow();
      const windows = [100, 200, 400, 800, 1_000, 1_000];
      expect(fake.delays).toHaveLength(6);
      fake.delays.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(windows[i] as number);
      });
    }
    expect(backoffDelay(1, 100, 1_000, () => 0.999999)).toBe(99);
    expect(backoffDelay(4, 100, 1_000, () => 0.5)).toBe(400);
    expect(backoffDelay(10, 100, 1_000, () => 0.5)).toBe(500);
  });

  it("waits exactly the Retry-After hint an error carries instead of the jittered delay", async () => {
    const fake = recorder();
    const f = failing(1, () => Object.assign(new Error("busy"), { retryAfterMs: 1_500 }));
    expect(await retry(f.fn, { attempts: 2, baseMs: 10, maxMs: 20, sleep: fake.sleep })).toBe("ok after 2");
    expect(fake.delays).toEqual([1_500]);
  });

  it("never sleeps past the deadline: it throws the last error instead", async () => {
    const fake = recorder();
    const hinted = failing(5, () => Object.assign(new Error("busy"), { retryAfterMs: 5_000 }));
    await expect(retry(hinted.fn, { attempts: 5, sleep: fake.sleep, now: fake.now, deadline: 3_000 })).rejects.toThrow(
      "busy",
    );
    expect(hinted.calls()).toBe(1);
    expect(fake.delays).toEqual([]);

    const fake2 = recorder();
    const f = failing(10);
    await expect(
      retry(f.fn, {
        attempts: 10,
        baseMs: 100,
        maxMs: 100,
        random: () => 0.5,
        sleep: fake2.sleep,
        now: fake2.now,
        deadline: 120,
      }),
    ).rejects.toThrow("flaky");
    // 50 ms + 50 ms fit before 120; a third 50 ms sleep would end at 150.
    expect(fake2.delays).toEqual([50, 50]);
    expect(f.calls()).toBe(3);
  });

  it("stops at once when aborted during a backoff, without another attempt", async () => {
    const controller = new AbortController();
    const f = failing(10);
    const started = Date.now();
    const pending = retry(f.fn, {
      attempts: 5,
      baseMs: 10_000,
      maxMs: 10_000,
      random: () => 1,
      signal: controller.signal,
    });
    await sleep(10);
    controller.abort(new DOMException("client left", "AbortError"));
    await expect(pending).rejects.toMatchObject({ name: "AbortError", message: "client left" });
    expect(f.calls()).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("does not retry an abort, nor an error retryOn refuses", async () => {
    const fake = recorder();
    const aborted = failing(5, () => new DOMException("stop", "AbortError"));
    await expect(retry(aborted.fn, { attempts: 5, sleep: fake.sleep })).rejects.toMatchObject({ name: "AbortError" });
    expect(aborted.calls()).toBe(1);

    const fatal = failing(5, () => new TypeError("fatal"));
    await expect(
      retry(fatal.fn, { attempts: 5, sleep: fake.sleep, retryOn: (e) => !(e instanceof TypeError) }),
    ).rejects.toThrow("fatal");
    expect(fatal.calls()).toBe(1);
    expect(fake.delays).toEqual([]);
  });

  it("does not start when the signal has already fired", async () => {
    const f = failing(0);
    await expect(retry(f.fn, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
    expect(f.calls()).toBe(0);
  });

  it("calls onRetry with each failed attempt and the delay chosen", async () => {
    const fake = recorder();
    const info: Array<{ attempt: number; delayMs: number }> = [];
    await retry(failing(2).fn, {
      attempts: 3,
      baseMs: 100,
      random: () => 0.5,
      sleep: fake.sleep,
      onRetry: ({ attempt, delayMs }) => info.push({ attempt, delayMs }),
    });
    expect(info).toEqual([
      { attempt: 1, delayMs: 50 },
      { attempt: 2, delayMs: 100 },
    ]);
  });

  it("waits a Retry-After hint only when it is a finite number of ms ≥ 0, and a jittered delay otherwise", async () => {
    const hints: Array<[unknown, number]> = [
      [0, 0],
      [250, 250],
      [-1, 50],
      [Number.POSITIVE_INFINITY, 50],
      [Number.NaN, 50],
      ["250", 50],
      [null, 50],
    ];
    for (const [retryAfterMs, delay] of hints) {
      const fake = recorder();
      const f = failing(1, () => Object.assign(new Error("busy"), { retryAfterMs }));
      await retry(f.fn, { attempts: 2, baseMs: 100, random: () => 0.5, sleep: fake.sleep });
      expect(fake.delays, String(retryAfterMs)).toEqual([delay]);
    }
    // Whatever is thrown: an error without the hint, a string, null.
    for (const thrown of [new Error("plain"), "a string", null, 42]) {
      const fake = recorder();
      const f = failing(1, () => thrown);
      expect(await retry(f.fn, { attempts: 2, baseMs: 100, random: () => 0.5, sleep: fake.sleep })).toBe("ok after 2");
      expect(fake.delays, String(thrown)).toEqual([50]);
    }
  });

  it("does not sleep a delay that would end exactly at the deadline", async () => {
    const fake = recorder();
    const f = failing(5, () => Object.assign(new Error("busy"), { retryAfterMs: 100 }));
    await expect(retry(f.fn, { attempts: 5, sleep: fake.sleep, now: fake.now, deadline: 100 })).rejects.toThrow("busy");
    expect(f.calls()).toBe(1);
    expect(fake.delays).toEqual([]);
  });

  it("refuses attempts that are not a positive integer, before calling anything", async () => {
    for (const attempts of [0, -1, 1.5, Number.NaN]) {
      const f = failing(0);
      await expect(retry(f.fn, { attempts })).rejects.toThrow(new RangeError(`attempts must be ≥ 1, got ${attempts}`));
      expect(f.calls()).toBe(0);
    }
    const once = failing(5);
    await expect(retry(once.fn, { attempts: 1 })).rejects.toThrow("flaky");
    expect(once.calls()).toBe(1);
  });
});
