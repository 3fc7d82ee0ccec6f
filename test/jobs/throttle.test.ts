import { describe, expect, it } from "vitest";
import { publishProgress } from "../../src/jobs/progress";
import { Throttle } from "../../src/jobs/throttle";

describe("Throttle", () => {
  it("publishes the first update at once and the next ones at most once per interval", () => {
    const t = new Throttle(200);
    expect(t.offer(1_000)).toEqual({ action: "now" });
    expect(t.offer(1_050)).toEqual({ action: "later", delayMs: 150 });
    expect(t.offer(1_100)).toEqual({ action: "pending" });
    expect(t.offer(1_199)).toEqual({ action: "pending" });
    t.fired(1_200);
    expect(t.pending).toBe(false);
    expect(t.offer(1_250)).toEqual({ action: "later", delayMs: 150 });
  });

  it("publishes a final update at once even when one was published just before", () => {
    const t = new Throttle(200);
    expect(t.offer(0)).toEqual({ action: "now" });
    expect(t.offer(10, true)).toEqual({ action: "now" });
  });

  it("lets through at most about 5 updates a second for a stream of 1,000 updates", () => {
    const t = new Throttle(200);
    let published = 0;
    let timerAt: number | null = null;
    for (let now = 0; now < 2_000; now += 2) {
      if (timerAt !== null && now >= timerAt) {
        t.fired(now);
        published++;
        timerAt = null;
      }
      const d = t.offer(now);
      if (d.action === "now") published++;
      else if (d.action === "later") timerAt = now + d.delayMs;
    }
    expect(published).toBeGreaterThanOrEqual(9);
    expect(published).toBeLessThanOrEqual(11);
  });
});

describe("publishProgress", () => {
  const progress = {
    kind: "job-progress" as const,
    id: "abc",
    state: "running" as const,
    total: 4,
    done: 1,
    failed: 0,
  };

  it("does nothing without a ROOM binding", async () => {
    expect(await publishProgress({}, progress)).toBe(false);
  });

  it("publishes into the room job:<id> when ROOM exists, and swallows a room's failure", async () => {
    const calls: { room: string; from: string; data: unknown }[] = [];
    const ROOM = {
      getByName: (room: string) => ({
        publish: async (from: string, data: unknown) => {
          calls.push({ room, from, data });
          return { seq: calls.length };
        },
      }),
    };
    expect(await publishProgress({ ROOM }, progress)).toBe(true);
    expect(calls).toEqual([{ room: "job:abc", from: "jobs", data: progress }]);
    const failing = { getByName: () => ({ publish: async () => Promise.reject(new Error("room down")) }) };
    expect(await publishProgress({ ROOM: failing }, progress)).toBe(false);
  });
});
