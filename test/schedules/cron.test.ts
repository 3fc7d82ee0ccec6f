/**
 * Cron expressions through croner, in the workers runtime (whose Intl supplies the time zones): the daylight-saving
 * days of Europe/Berlin and America/New_York as docs/schedules.md describes them, the shortest gap a pattern allows
 * (what SCHEDULES_MIN_INTERVAL_SECONDS is checked against), what parses and what does not.
 */
import { describe, expect, it } from "vitest";
import { cronError, cronTimes, isTimeZone, shortestGapSeconds } from "../../src/schedules/cron";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The next `n` fire times after `from`, as ISO strings (UTC). */
function fires(cron: string, tz: string, from: string, n: number): (string | null)[] {
  const times = cronTimes(cron, tz);
  const out: (string | null)[] = [];
  let t: number | null = at(from);
  for (let i = 0; i < n && t !== null; i++) {
    t = times.next(t);
    out.push(iso(t));
  }
  return out;
}

describe("daylight saving in Europe/Berlin (2026: spring forward 29 March 02:00 CET, fall back 25 October 03:00 CEST)", () => {
  it("a daily 02:30 runs at 03:00 CEST on the spring-forward day, when 02:30 does not exist, and at 02:30 after", () => {
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 4)).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // 03:00 CEST: the first valid time after the gap
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
      "2026-03-31T00:30:00.000Z",
    ]);
  });

  it("a daily 02:30 runs once on the fall-back day, at the first 02:30 (CEST), not again an hour later (CET)", () => {
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 3)).toEqual([
      "2026-10-25T00:30:00.000Z", // 02:30 CEST; 02:30 CET (01:30Z) is skipped
      "2026-10-26T01:30:00.000Z", // 02:30 CET
      "2026-10-27T01:30:00.000Z",
    ]);
  });

  it("a list or range without wildcards is a wall-clock time too: 02:30 and 14:30 move and run once alike", () => {
    expect(fires("30 2,14 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 2)).toEqual([
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T12:30:00.000Z",
    ]);
    expect(fires("30 2,14 * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", 2)).toEqual([
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T13:30:00.000Z",
    ]);
  });

  it("an hourly schedule (a wildcard) skips the hour that does not exist and runs at both 02:00 on the fall-back day", () => {
    expect(fires("0 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", 2)).toEqual([
      "2026-03-29T01:00:00.000Z", // 03:00 CEST, one hour after 01:00 CET: 02:00 never was
      "2026-03-29T02:00:00.000Z",
    ]);
    expect(fires("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 3)).toEqual([
      "2026-10-25T00:00:00.000Z", // 02:00 CEST
      "2026-10-25T01:00:00.000Z", // 02:00 CET
      "2026-10-25T02:00:00.000Z", // 03:00 CET
    ]);
  });
});

describe("daylight saving in America/New_York (2026: 8 March and 1 November)", () => {
  it("a daily 02:30 runs at 03:00 EDT on the spring-forward day", () => {
    expect(fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2)).toEqual([
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
    ]);
  });

  it("a daily 01:30 runs once on the fall-back day, at the first 01:30 (EDT)", () => {
    expect(fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT; 01:30 EST (06:30Z) is skipped
      "2026-11-02T06:30:00.000Z",
    ]);
  });
});

describe("fire times", () => {
  it("are read in UTC when the time zone is UTC, with seconds when there are six fields", () => {
    expect(fires("30 2 * * *", "UTC", "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-03-29T02:30:00.000Z",
      "2026-03-30T02:30:00.000Z",
    ]);
    expect(fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:05.500Z", 3)).toEqual([
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
  });

  it("next is strictly after; latest includes the time itself, and stops at the one before", () => {
    const t = cronTimes("0 3 * * *", "UTC");
    expect(iso(t.next(at("2026-01-05T03:00:00Z")))).toBe("2026-01-06T03:00:00.000Z");
    expect(iso(t.latest(at("2026-01-05T03:00:00Z")))).toBe("2026-01-05T03:00:00.000Z");
    expect(iso(t.latest(at("2026-01-05T02:59:59.999Z")))).toBe("2026-01-04T03:00:00.000Z");
    expect(iso(t.latest(at("2026-01-05T03:00:00.600Z")))).toBe("2026-01-05T03:00:00.000Z");
  });

  it("combines day-of-month and day-of-week with OR, as Vixie cron does", () => {
    // 1 July 2026 is a Wednesday; the Mondays after it are the 6th and the 13th.
    expect(fires("0 0 1 * MON", "UTC", "2026-06-30T12:00:00Z", 3)).toEqual([
      "2026-07-01T00:00:00.000Z",
      "2026-07-06T00:00:00.000Z",
      "2026-07-13T00:00:00.000Z",
    ]);
  });

  it("a date that never comes has no fire time", () => {
    expect(cronTimes("0 0 30 2 *", "UTC").next(at("2026-01-01T00:00:00Z"))).toBeNull();
  });
});

describe("the shortest gap a pattern allows (checked against SCHEDULES_MIN_INTERVAL_SECONDS)", () => {
  it.each([
    ["* * * * *", 60],
    ["* * * * * *", 1],
    ["*/10 * * * * *", 10],
    ["0,50 * * * * *", 10], // 00:50 → the next minute's 00
    ["*/15 * * * *", 900],
    ["0 9,17 * * *", 8 * 3_600], // 17:00 → 09:00 the next day is 16 h; 09:00 → 17:00 is 8 h
    ["0 0 * * *", 86_400],
    ["0,59 0,23 * * *", 60], // 23:59 → 00:00 the next day
    ["30 2 1 1 *", 86_400], // counted as if every day matched
    ["@hourly", 3_600],
  ])("%s: %i s", (cron, gap) => {
    expect(shortestGapSeconds(cron)).toBe(gap);
  });
});

describe("what parses", () => {
  it("takes five or six fields, names, L, W, # and nicknames", () => {
    for (const cron of [
      "30 2 * * *",
      "0 30 2 * * *",
      "0 9 * * MON-FRI",
      "0 0 L * *",
      "0 0 15W * *",
      "0 0 * * FRI#2",
      "0 0 ? * MON",
      "@daily",
    ]) {
      expect(cronError(cron), cron).toBeUndefined();
    }
  });

  it("refuses what croner refuses, with its reason", () => {
    expect(cronError("* * * *")).toMatch(/five, six, or seven/);
    expect(cronError("0 0 0 * * * 2030")).toMatch(/5 or 6 parts/);
    expect(cronError("61 * * * *")).toMatch(/minute/);
    expect(cronError("0 25 * * *")).toMatch(/hour/);
    expect(cronError("nonsense")).toBeDefined();
  });

  it("knows IANA time zones and nothing else", () => {
    expect(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"].map(isTimeZone)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(["Mars/Olympus", "Europe/Nowhere", ""].map(isTimeZone)).toEqual([false, false, false]);
  });
});
