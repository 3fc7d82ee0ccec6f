import { describe, expect, it } from "vitest";
import { backoffSeconds, classifyError, classifyOutcome, PermanentJobError } from "../../src/jobs/backoff";

const opts = { baseSeconds: 2, maxSeconds: 300 };

describe("backoffSeconds", () => {
  it("doubles per attempt, with half of the delay fixed and half random", () => {
    expect(backoffSeconds(1, opts, () => 0)).toBe(1);
    expect(backoffSeconds(1, opts, () => 1)).toBe(2);
    expect(backoffSeconds(2, opts, () => 0)).toBe(2);
    expect(backoffSeconds(2, opts, () => 1)).toBe(4);
    expect(backoffSeconds(4, opts, () => 0)).toBe(8);
    expect(backoffSeconds(4, opts, () => 1)).toBe(16);
  });

  it("caps the exponential part at maxSeconds and never exceeds the queue's 12-hour limit", () => {
    expect(backoffSeconds(30, opts, () => 1)).toBe(300);
    expect(backoffSeconds(30, opts, () => 0)).toBe(150);
    expect(backoffSeconds(60, { baseSeconds: 3_600, maxSeconds: 100_000 }, () => 1)).toBe(43_200);
  });

  it("spreads chunks that failed together over the jitter window", () => {
    const delays = new Set(Array.from({ length: 200 }, () => backoffSeconds(5, opts)));
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(16);
      expect(d).toBeLessThanOrEqual(32);
    }
    expect(delays.size).toBeGreaterThan(5);
  });

  it("allows a zero base (no waiting) and treats attempts below 1 as the first", () => {
    expect(backoffSeconds(5, { baseSeconds: 0, maxSeconds: 0 })).toBe(0);
    expect(backoffSeconds(0, opts, () => 1)).toBe(2);
  });
});

describe("classifyOutcome", () => {
  it("keeps answers as final results, including 4xx such as 404", () => {
    for (const status of [200, 201, 204, 301, 400, 401, 403, 404, 410, 422]) {
      expect(classifyOutcome({ outcome: "fulfilled", status })).toBe("final");
    }
  });

  it("retries 408, 425, 429 and every 5xx", () => {
    for (const status of [408, 425, 429, 500, 502, 503, 504, 599]) {
      expect(classifyOutcome({ outcome: "fulfilled", status })).toBe("transient");
    }
  });

  it("retries timeouts, deadlines, aborts and network errors but not blocked, invalid or too large", () => {
    for (const kind of ["timeout", "deadline", "aborted", "network"]) {
      expect(classifyOutcome({ outcome: "rejected", status: 0, error: { kind } })).toBe("transient");
    }
    expect(classifyOutcome({ outcome: "rejected", status: 503, error: { kind: "status" } })).toBe("transient");
    expect(classifyOutcome({ outcome: "rejected", status: null, error: { kind: "status" } })).toBe("final");
    for (const kind of ["blocked", "invalid", "too_large"]) {
      expect(classifyOutcome({ outcome: "rejected", status: 0, error: { kind } })).toBe("final");
    }
  });
});

describe("classifyError", () => {
  it("treats Durable Object overload and unknown errors as transient, PermanentJobError as permanent", () => {
    const overloaded = Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
    expect(classifyError(overloaded)).toBe("transient");
    expect(classifyError(new TypeError("fetch failed"))).toBe("transient");
    expect(classifyError(new PermanentJobError("malformed"))).toBe("permanent");
  });
});
