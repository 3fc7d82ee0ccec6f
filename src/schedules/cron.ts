/**
 * Cron expressions, read by croner (never by hand): five fields, or six with seconds first; names (MON, JAN), `L`,
 * `W`, `#` and nicknames (`@daily`); an IANA time zone. Fire times are whole seconds, in ms since the epoch.
 *
 * Daylight saving follows croner's fixed-time rule "no-wildcard" (as Vixie cron): an expression whose second,
 * minute and hour fields have no `*` and no step (`30 2 * * *`, `0 9,17 * * 1-5`) runs once a day at a wall-clock
 * time, so a time skipped by the spring change runs at the first valid time after the gap (02:30 → 03:00) and a
 * time that occurs twice in autumn runs once, at the first occurrence. Any other expression is an interval: it skips
 * the times that do not exist and runs at both occurrences of a repeated one (`0 * * * *` runs twice at 02:00).
 */
import { Cron, CronPattern } from "croner";

const OPTIONS = { mode: "5-or-6-parts", fixedTimeRule: "no-wildcard" } as const;

/** A parsed schedule: its fire times in its time zone. */
export interface CronTimes {
  /** The first fire time strictly after `after` (ms), or null when there is none. */
  next(after: number): number | null;
  /** The last fire time at or before `at` (ms), or null. */
  latest(at: number): number | null;
}

/** True for a time zone name the runtime knows (IANA, e.g. Europe/Berlin, or UTC). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse `cron` in `timezone` (already checked with `isTimeZone`).
 *
 * @example
 * const times = cronTimes("30 2 * * *", "Europe/Berlin");
 * times.next(Date.parse("2026-03-29T00:00:00Z")); // 2026-03-29T01:00:00Z: 03:00 CEST, 02:30 does not exist
 */
export function cronTimes(cron: string, timezone: string): CronTimes {
  const c = new Cron(cron, { ...OPTIONS, timezone });
  return {
    next: (after) => c.nextRun(new Date(after))?.getTime() ?? null,
    // previousRuns counts a run earlier in the same second as the reference: 1 ms past `at` includes `at` itself.
    latest: (at) => c.previousRuns(1, new Date(at + 1))[0]?.getTime() ?? null,
  };
}

/** Why `cron` cannot be a schedule: croner's parse error, or undefined when it parses. */
export function cronError(cron: string): string | undefined {
  try {
    new CronPattern(cron, undefined, OPTIONS);
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, "");
  }
}

/**
 * The shortest time between two fire times that the second, minute and hour fields allow, in seconds, as if every
 * day matched (so a gap across midnight counts). Exact from the parsed fields, without enumerating fire times (each
 * costs a time zone conversion). A daylight-saving day can bring fire times closer (checked again when they fire).
 *
 * @example
 * shortestGapSeconds("*\/10 * * * * *"); // 10
 * shortestGapSeconds("0 9,17 * * *"); // 28,800 (17:00 → 09:00 next day is 16 h)
 */
export function shortestGapSeconds(cron: string): number {
  const p = new CronPattern(cron, undefined, OPTIONS);
  let first = -1;
  let last = -1;
  let gap = 86_400;
  for (let h = 0; h < 24; h++) {
    if (!p.hour[h]) continue;
    for (let m = 0; m < 60; m++) {
      if (!p.minute[m]) continue;
      for (let s = 0; s < 60; s++) {
        if (!p.second[s]) continue;
        const t = h * 3_600 + m * 60 + s;
        if (first < 0) first = t;
        else gap = Math.min(gap, t - last);
        last = t;
      }
    }
  }
  // Across midnight, to the next day's first fire time.
  return first < 0 ? gap : Math.min(gap, 86_400 - last + first);
}
