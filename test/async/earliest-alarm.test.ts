/**
 * `EarliestAlarm` over a recorded alarm store (the two alarm calls of a Durable Object's storage, as the objects give
 * it): the alarm is kept no later than the earliest due moment, with as few writes as that takes. The objects that
 * use it (locks, semaphores, rate limits) prove it on real storage.
 */
import { describe, expect, it } from "vitest";
import { type AlarmStorage, EarliestAlarm } from "../../src/async/earliest-alarm";

/** An alarm store that counts its calls. */
function store(initial: number | null = null) {
  const s = {
    at: initial,
    reads: 0,
    writes: [] as number[],
    async getAlarm() {
      s.reads++;
      return s.at;
    },
    async setAlarm(at: number) {
      s.writes.push(at);
      s.at = at;
    },
  };
  return s satisfies AlarmStorage;
}

describe("EarliestAlarm", () => {
  it("sets the alarm when there is none, moves it earlier, and keeps one already due sooner", async () => {
    const s = store();
    const alarm = new EarliestAlarm(s);
    await alarm.armBy(500);
    await alarm.armBy(800);
    await alarm.armBy(500);
    await alarm.armBy(300);
    expect(s.writes).toEqual([500, 300]);
    expect(s.at).toBe(300);
    // The stored alarm is read once, when the object first needs it.
    expect(s.reads).toBe(1);
  });

  it("starts from the alarm the object already had in storage", async () => {
    const s = store(400);
    const alarm = new EarliestAlarm(s);
    await alarm.armBy(600);
    expect(s.writes).toEqual([]);
    await alarm.armBy(200);
    expect(s.writes).toEqual([200]);
  });

  it("sets a new alarm after the one that was set has fired", async () => {
    const s = store();
    const alarm = new EarliestAlarm(s);
    await alarm.armBy(100);
    alarm.fired();
    await alarm.armBy(900);
    expect(s.writes).toEqual([100, 900]);
    expect(s.reads).toBe(1);
  });
});
