/** One retry rule for fan-out retries and job redeliveries, by RFC 9110's meaning of each status. */
import { describe, expect, it } from "vitest";
import { isRetryableStatus } from "../../src/http/retryable";
import { classifyOutcome } from "../../src/jobs/backoff";

describe("isRetryableStatus", () => {
  it("retries 408, 425, 429 and every 5xx but 501", () => {
    for (const status of [408, 425, 429, 500, 502, 503, 504, 599]) expect(isRetryableStatus(status)).toBe(true);
  });

  it("does not retry 501 Not Implemented, other 4xx, 2xx, 3xx, or anything past 599", () => {
    for (const status of [501, 200, 204, 301, 304, 400, 401, 403, 404, 409, 410, 422, 499, 600, 999]) {
      expect(isRetryableStatus(status)).toBe(false);
    }
  });

  it("is the rule the jobs consumer sorts results by", () => {
    for (const status of [408, 425, 429, 500, 501, 503, 404]) {
      const expected = isRetryableStatus(status) ? "transient" : "final";
      expect(classifyOutcome({ outcome: "fulfilled", status })).toBe(expected);
    }
    expect(classifyOutcome({ outcome: "fulfilled", status: 501 })).toBe("final");
  });
});
