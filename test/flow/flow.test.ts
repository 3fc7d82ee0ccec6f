import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TakeRequest, TakeResult } from "../../src/flow/flow";
import type { FlowLimits } from "../../src/flow/flow-state";
import { until } from "../helpers/api";

const key = () => `flow:test:${crypto.randomUUID()}`;
const stubOf = (name: string) => env.FLOW.getByName(name);

/** A take of `want` permits under `limits` for `leaseId` (a fresh lease), answering at once unless `waitMs`. */
function take(name: string, limits: FlowLimits, over: Partial<TakeRequest> = {}): Promise<TakeResult> {
  return stubOf(name).take({
    leaseId: crypto.randomUUID(),
    holder: "h",
    want: 1,
    give: 0,
    held: 0,
    limits,
    ttlMs: 10_000,
    waitMs: 0,
    waiterId: crypto.randomUUID(),
    maxParallelism: 1_000,
    maxWaiters: 100,
    ...over,
  });
}

const two: FlowLimits = { parallelism: 2, rate: null };

/** Make every lease (or `leaseId`'s) look expired, as if its TTL had passed unrenewed. */
async function expireLeases(name: string, leaseId?: string): Promise<void> {
  await runInDurableObject(stubOf(name), (_, state) => {
    if (leaseId) state.storage.sql.exec("UPDATE lease SET expires_at = ? WHERE lease_id = ?", Date.now() - 1, leaseId);
    else state.storage.sql.exec("UPDATE lease SET expires_at = ?", Date.now() - 1);
  });
}

describe("the Flow object", () => {
  it("grants up to its parallelism at once, with a budget of calls per permit while nobody waits", async () => {
    const name = key();
    const a = await take(name, two, { want: 3 });
    expect(a).toMatchObject({ ok: true, permits: 2, starts: 16, lost: false });
    expect(await take(name, two)).toEqual({ ok: false, blocked: "parallelism", retryAfterMs: null, lost: false });
    expect(await stubOf(name).status()).toEqual({
      inFlight: 2,
      waiting: 0,
      holders: 1,
      rateUsed: null,
      parallelism: 2,
      rate: null,
      paused: false,
    });
  });

  it("hands permits given back to its line in FIFO order, one call each while others wait", async () => {
    const name = key();
    const leaseId = crypto.randomUUID();
    await take(name, two, { want: 2, leaseId });
    const order: string[] = [];
    const first = take(name, two, { want: 1, waitMs: 10_000, holder: "first" }).then((r) => {
      order.push("first");
      return r;
    });
    await until(async () => (await stubOf(name).status()).waiting === 1);
    const second = take(name, two, { want: 1, waitMs: 10_000, holder: "second" }).then((r) => {
      order.push("second");
      return r;
    });
    await until(async () => (await stubOf(name).status()).waiting === 2);
    // A newcomer that does not wait is refused: others are ahead of it in line.
    expect(await take(name, two, { want: 1 })).toMatchObject({ ok: false, blocked: "line" });
    // Give one permit back: the head of the line gets it (and, with the second still waiting, no reuse).
    expect(await take(name, two, { want: 0, give: 1, held: 2, leaseId })).toMatchObject({ ok: true, permits: 0 });
    expect(await first).toMatchObject({ ok: true, permits: 1, starts: 1 });
    expect(await stubOf(name).release(leaseId)).toBe(1);
    expect(await second).toMatchObject({ ok: true, permits: 1, starts: 8 });
    expect(order).toEqual(["first", "second"]);
    expect(await stubOf(name).status()).toMatchObject({ inFlight: 2, waiting: 0, holders: 2 });
  });

  it("gives a crashed holder's permits to the line when its lease expires, by alarm", async () => {
    const name = key();
    const crashed = crypto.randomUUID();
    await take(name, two, { want: 2, leaseId: crashed });
    const next = take(name, two, { want: 2, waitMs: 10_000 });
    await until(async () => (await stubOf(name).status()).waiting === 1);
    await expireLeases(name, crashed);
    expect(await runDurableObjectAlarm(stubOf(name))).toBe(true);
    expect(await next).toMatchObject({ ok: true, permits: 2 });
    // The crashed holder comes back: its lease is gone, and it is told so.
    const renewed = await take(name, two, { want: 0, held: 2, leaseId: crashed });
    expect(renewed).toMatchObject({ ok: true, lost: true });
    expect(await stubOf(name).status()).toMatchObject({ inFlight: 2, holders: 1 });
  });

  it("counts each start in its rate window and lets the line in when the window has room", async () => {
    const name = key();
    const rate = { parallelism: null, rate: { limit: 3, periodMs: 600 } };
    const first = await take(name, rate, { want: 5 });
    // Each start is counted when granted: no budget beyond the permits.
    expect(first).toMatchObject({ ok: true, permits: 3, starts: 3 });
    const refused = await take(name, rate, { want: 1 });
    expect(refused).toMatchObject({ ok: false, blocked: "rate" });
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(600 + Math.ceil(600 / 32));
    expect(await stubOf(name).status()).toMatchObject({ rateUsed: 3, rate: { limit: 3, periodMs: 600 } });
    // Parallelism is not the limit here: the waiter is let in by the window's own timer, without any release.
    const waited = await take(name, rate, { want: 2, waitMs: 5_000 });
    expect(waited).toMatchObject({ ok: true, permits: 2, starts: 2 });
  });

  it("stops granting while paused, keeps the line, and grants the line first on resume", async () => {
    const name = key();
    const paused = await stubOf(name).pause();
    expect(paused).toMatchObject({ paused: true, inFlight: 0 });
    expect(await take(name, two)).toMatchObject({ ok: false, blocked: "paused" });
    const waiting = take(name, two, { want: 2, waitMs: 10_000 });
    await until(async () => (await stubOf(name).status()).waiting === 1);
    expect(await stubOf(name).status()).toMatchObject({ paused: true, waiting: 1, inFlight: 0 });
    expect(await stubOf(name).resume()).toMatchObject({ paused: false });
    expect(await waiting).toMatchObject({ ok: true, permits: 2 });
  });

  it("applies the latest asking call's limits: a lower parallelism lets nobody in until enough calls end", async () => {
    const name = key();
    const leaseId = crypto.randomUUID();
    expect(await take(name, { parallelism: 3, rate: null }, { want: 3, leaseId })).toMatchObject({ permits: 3 });
    const one = { parallelism: 1, rate: null };
    expect(await take(name, one)).toMatchObject({ ok: false, blocked: "parallelism" });
    expect(await stubOf(name).status()).toMatchObject({ parallelism: 1, inFlight: 3 });
    // The first holder renews with the limits it started under: a renewal does not bring them back.
    await take(name, { parallelism: 3, rate: null }, { want: 0, held: 3, leaseId });
    expect(await stubOf(name).status()).toMatchObject({ parallelism: 1, inFlight: 3 });
    await take(name, one, { want: 0, give: 2, held: 3, leaseId });
    expect(await take(name, one)).toMatchObject({ ok: false, blocked: "parallelism" });
    await take(name, one, { want: 0, give: 1, held: 1, leaseId });
    expect(await take(name, one)).toMatchObject({ ok: true, permits: 1 });
  });

  it("answers a status without storing anything, and withdraws a waiter its holder cancels", async () => {
    const name = key();
    const stored = () =>
      runInDurableObject(
        stubOf(name),
        (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM meta").one().n,
      );
    expect(await stubOf(name).status()).toMatchObject({ inFlight: 0, parallelism: null, paused: false });
    expect(await stored()).toBe(0);
    await take(name, two, { want: 2 });
    const waiterId = crypto.randomUUID();
    const waiting = take(name, two, { waitMs: 10_000, waiterId });
    await until(async () => (await stubOf(name).status()).waiting === 1);
    expect(await stubOf(name).cancel(waiterId)).toBe(true);
    expect(await waiting).toMatchObject({ ok: false, blocked: "cancelled" });
    expect(await stubOf(name).status()).toMatchObject({ waiting: 0 });
  });

  it("forgets an idle key once its window has emptied, and a paused one after FLOW_PAUSE_RETENTION_HOURS", async () => {
    const name = key();
    const stub = stubOf(name);
    const rows = () =>
      runInDurableObject(stub, async (_, state) => ({
        meta: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM meta").one().n,
        lease: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM lease").one().n,
        alarm: await state.storage.getAlarm(),
      }));
    const leaseId = crypto.randomUUID();
    const granted = await take(name, { parallelism: 2, rate: { limit: 5, periodMs: 1_000 } }, { leaseId });
    expect(granted.ok).toBe(true);
    // While a lease is out, the alarm is its end.
    expect(await rows()).toMatchObject({ meta: 1, lease: 1, alarm: (granted as { expiresAt: number }).expiresAt });
    expect(await stub.release(leaseId)).toBe(1);
    // The alarm set for the lease's end finds the key idle, and moves on to a minute after its window has emptied
    // (the grant's record: its reserve of 250 ms and a slice of 32 ms, + 1 s).
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const idle = await rows();
    expect(idle).toMatchObject({ meta: 1, lease: 0 });
    expect(idle.alarm).toBeGreaterThan(Date.now() + 60_000);
    expect(idle.alarm).toBeLessThanOrEqual(Date.now() + 61_300);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET slices = '[]', touched_at = ?", Date.now() - 61_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rows()).toEqual({ meta: 0, lease: 0, alarm: null });

    // A paused key keeps its pause for FLOW_PAUSE_RETENTION_HOURS after the last call.
    await stub.pause();
    const hours = Number(env.FLOW_PAUSE_RETENTION_HOURS);
    const paused = await rows();
    expect(paused.alarm).toBeGreaterThan(Date.now() + hours * 3_600_000 - 5_000);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET touched_at = ?", Date.now() - hours * 3_600_000 - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rows()).toEqual({ meta: 0, lease: 0, alarm: null });
    expect(await stub.status()).toMatchObject({ paused: false });
  });
});
