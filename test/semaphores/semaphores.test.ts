import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, unique, until } from "../helpers/api";
import { rewindSemaphoreLeases } from "../helpers/leases";

type Lease = { name: string; leaseId: string; holder: string; permits: number; grantedAt: number; expiresAt: number };
type Status = { name: string; inUse: number; limit: number | null; leases: number; waiters: number };

const acquire = (name: string, holder: string, body: Record<string, unknown> = {}, init?: RequestInit) =>
  call<Lease & { inUse?: number; waiters?: number; detail?: string }>(
    "POST",
    `/v1/semaphores/${name}/acquire`,
    { holder, limit: 3, ttlMs: 10_000, ...body },
    init,
  );
const release = (name: string, leaseId: string, holder: string) =>
  call("POST", `/v1/semaphores/${name}/release`, { leaseId, holder });
const status = async (name: string) => (await call<Status>("GET", `/v1/semaphores/${name}`)).body;

describe("semaphores", () => {
  it("grants weighted permits up to the limit and refuses more with 409 {inUse, waiters}", async () => {
    const name = unique("sem");
    const a = await acquire(name, "a", { permits: 2 });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ name, holder: "a", permits: 2 });
    expect((await acquire(name, "b")).status).toBe(200);
    const full = await acquire(name, "c");
    expect(full.status).toBe(409);
    expect(full.body).toMatchObject({ inUse: 3, waiters: 0 });
    expect(await status(name)).toEqual({ name, inUse: 3, limit: 3, leases: 2, waiters: 0 });
  });

  it("never has more than limit permits out under 50 concurrent acquirers", async () => {
    const name = unique("sem");
    const limit = 5;
    const acquirers = 50;
    let out = 0;
    let peak = 0;
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const worker = async (i: number) => {
      const res = await acquire(name, `h${i}`, { permits: 1, limit, waitMs: 20_000 });
      expect(res.status).toBe(200);
      out += 1;
      peak = Math.max(peak, out);
      // Holders keep their permit until every acquirer has reached the semaphore and the first grants came back.
      await gate;
      const seen = await status(name);
      expect(seen.inUse).toBeLessThanOrEqual(limit);
      out -= 1;
      expect((await release(name, res.body.leaseId, `h${i}`)).status).toBe(200);
    };
    const all = Promise.all(Array.from({ length: acquirers }, (_, i) => worker(i)));
    try {
      await until(async () => {
        const s = await status(name);
        return s.inUse + s.waiters === acquirers && out === s.inUse;
      }, 1_000);
      // Every permit is out and everyone else waits: the semaphore admitted exactly `limit`, not fewer, not more.
      expect(await status(name)).toMatchObject({ inUse: limit, leases: limit, waiters: acquirers - limit });
      expect(peak).toBe(limit);
    } finally {
      openGate();
      // Let every holder finish before the test ends; a holder's own failure is reported just below.
      await all.catch(() => {});
    }
    await all;
    expect(peak).toBe(limit);
    expect(await status(name)).toMatchObject({ inUse: 0, leases: 0, waiters: 0 });
  });

  it("serves waiters in FIFO order: a large request is not overtaken by smaller ones behind it", async () => {
    const name = unique("sem");
    const first = await acquire(name, "first", { permits: 2 });
    const order: string[] = [];
    const big = acquire(name, "big", { permits: 3, waitMs: 10_000 }).then((r) => {
      order.push("big");
      return r;
    });
    await until(async () => (await status(name)).waiters === 1);
    // One permit is free, but "small" must wait behind "big".
    const small = acquire(name, "small", { permits: 1, waitMs: 10_000 }).then((r) => {
      order.push("small");
      return r;
    });
    await until(async () => (await status(name)).waiters === 2);
    expect(await status(name)).toMatchObject({ inUse: 2 });
    await release(name, first.body.leaseId, "first");
    const bigLease = await big;
    expect(bigLease.status).toBe(200);
    expect(await status(name)).toMatchObject({ inUse: 3, waiters: 1 });
    await release(name, bigLease.body.leaseId, "big");
    expect((await small).status).toBe(200);
    expect(order).toEqual(["big", "small"]);
  });

  it("grants a waiter that now fits as soon as a larger waiter ahead of it times out", async () => {
    const name = unique("sem");
    const a = await acquire(name, "a", { permits: 8, limit: 10, ttlMs: 60_000 });
    expect(a.status).toBe(200);
    const w1 = acquire(name, "w1", { permits: 5, limit: 10, waitMs: 1_000 });
    await until(async () => (await status(name)).waiters === 1);
    // W2 fits (8 + 2 <= 10) but waits behind W1 (strict FIFO), with a wait far longer than this test may run.
    const w2 = acquire(name, "w2", { permits: 2, limit: 10, waitMs: 30_000 });
    await until(async () => (await status(name)).waiters === 2);
    // A keeps its lease alive, so no release or expiry will wake the line: only W1 giving up can.
    const renewed = await call("POST", `/v1/semaphores/${name}/renew`, {
      leaseId: a.body.leaseId,
      holder: "a",
      ttlMs: 60_000,
    });
    expect(renewed.status).toBe(200);
    const gaveUp = await w1;
    expect(gaveUp.status).toBe(409);
    const granted = await w2;
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ holder: "w2", permits: 2 });
    expect(await status(name)).toEqual({ name, inUse: 10, limit: 10, leases: 2, waiters: 0 });
  }, 10_000); // Below W2's own waitMs (30 s): without the hand-over on timeout, W2 would only be answered (409) after it.

  it("grants a waiter that now fits as soon as a larger waiter ahead of it is cancelled by its client", async () => {
    const name = unique("sem");
    const a = await acquire(name, "a", { permits: 8, limit: 10, ttlMs: 60_000 });
    expect(a.status).toBe(200);
    const controller = new AbortController();
    const w1 = acquire(name, "w1", { permits: 5, limit: 10, waitMs: 30_000 }, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    await until(async () => (await status(name)).waiters === 1);
    // W2 fits (8 + 2 <= 10) but waits behind W1 (strict FIFO), with a wait far longer than this test may run.
    const w2 = acquire(name, "w2", { permits: 2, limit: 10, waitMs: 30_000 });
    await until(async () => (await status(name)).waiters === 2);
    controller.abort();
    await w1;
    // Nothing else wakes the line: A holds its lease for a minute, W2 waits for 30 s.
    await until(async () => (await status(name)).waiters === 0);
    const granted = await w2;
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ holder: "w2", permits: 2 });
    expect(await status(name)).toEqual({ name, inUse: 10, limit: 10, leases: 2, waiters: 0 });
  }, 10_000);

  it("frees a crashed holder's permits when its lease expires by alarm, granting the next waiter", async () => {
    const name = unique("sem");
    await acquire(name, "crashed", { permits: 3 });
    const waiter = acquire(name, "next", { permits: 2, waitMs: 10_000 });
    await until(async () => (await status(name)).waiters === 1);
    await rewindSemaphoreLeases(name, "crashed");
    expect(await runDurableObjectAlarm(env.SEMAPHORE.getByName(name))).toBe(true);
    const granted = await waiter;
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ holder: "next", permits: 2 });
    expect(await status(name)).toMatchObject({ inUse: 2, leases: 1, waiters: 0 });
  });

  it("renews and releases a lease; releasing it again is harmless; a foreign or expired lease is refused with 409", async () => {
    const name = unique("sem");
    const { body } = await acquire(name, "a");
    const renewed = await call<{ expiresAt: number }>("POST", `/v1/semaphores/${name}/renew`, {
      leaseId: body.leaseId,
      holder: "a",
      ttlMs: 60_000,
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body.expiresAt).toBeGreaterThanOrEqual(body.grantedAt + 60_000);
    expect((await release(name, body.leaseId, "b")).status).toBe(409);
    expect(await status(name)).toMatchObject({ inUse: 1 });
    const first = await release(name, body.leaseId, "a");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ leaseId: body.leaseId, released: true });
    const again = await release(name, body.leaseId, "a");
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      released: false,
      releasedAt: (first.body as { releasedAt: number }).releasedAt,
    });
    expect((await release(name, body.leaseId, "b")).status).toBe(409);
    const late = await call("POST", `/v1/semaphores/${name}/renew`, {
      leaseId: body.leaseId,
      holder: "a",
      ttlMs: 1_000,
    });
    expect(late.status).toBe(409);
    expect(await status(name)).toMatchObject({ inUse: 0, leases: 0 });
  });

  it("refuses another limit while permits are out, and accepts it once the semaphore is idle", async () => {
    const name = unique("sem");
    const { body } = await acquire(name, "a", { limit: 3 });
    const other = await acquire(name, "b", { limit: 10 });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ limit: 3 });
    await release(name, body.leaseId, "a");
    expect((await acquire(name, "b", { limit: 10 })).status).toBe(200);
    expect(await status(name)).toMatchObject({ limit: 10, inUse: 1 });
  });

  it("clears its storage once idle: no lease, nobody waiting, released leases past the hour they are remembered", async () => {
    const name = unique("sem");
    const stub = env.SEMAPHORE.getByName(name);
    const stored = () =>
      runInDurableObject(stub, async (_, state) => ({
        rows: Object.fromEntries(
          ["lease", "meta", "released"].map((t) => [
            t,
            state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`).one().n,
          ]),
        ),
        alarm: await state.storage.getAlarm(),
      }));
    const a = await acquire(name, "a", { permits: 2 });
    const released = await release(name, a.body.leaseId, "a");
    const releasedAt = (released.body as { releasedAt: number }).releasedAt;
    expect(await stored()).toMatchObject({ rows: { lease: 0, meta: 1, released: 1 } });
    // Within the hour a released lease is remembered (a retried release is harmless), nothing is cleared.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored()).toEqual({ rows: { lease: 0, meta: 1, released: 1 }, alarm: releasedAt + 3_600_000 });
    expect((await release(name, a.body.leaseId, "a")).body).toMatchObject({ released: false });
    // As if the hour had passed.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE released SET released_at = released_at - 3600000");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored()).toEqual({ rows: { lease: 0, meta: 0, released: 0 }, alarm: null });
    expect(await status(name)).toEqual({ name, inUse: 0, limit: null, leases: 0, waiters: 0 });
    // A fresh start: any limit is taken.
    expect((await acquire(name, "b", { limit: 7 })).status).toBe(200);
    expect(await status(name)).toMatchObject({ limit: 7, inUse: 1 });
  });

  it("keeps leases across eviction", async () => {
    const name = unique("sem");
    await acquire(name, "a", { permits: 2 });
    await evictDurableObject(env.SEMAPHORE.getByName(name));
    expect(await status(name)).toMatchObject({ inUse: 2, limit: 3, leases: 1 });
    expect((await acquire(name, "b", { permits: 2 })).status).toBe(409);
  });

  it("takes a waiter whose client disconnects out of the queue", async () => {
    const name = unique("sem");
    const { body } = await acquire(name, "a", { permits: 3 });
    const controller = new AbortController();
    const gone = acquire(name, "gone", { waitMs: 10_000 }, { signal: controller.signal }).catch((e: unknown) => e);
    await until(async () => (await status(name)).waiters === 1);
    controller.abort();
    await gone;
    await until(async () => (await status(name)).waiters === 0);
    await release(name, body.leaseId, "a");
    expect(await status(name)).toMatchObject({ inUse: 0, leases: 0, waiters: 0 });
  });

  it("answers bad input with 4xx problem+json and changes nothing", async () => {
    const name = unique("sem");
    const { body } = await acquire(name, "a");
    const before = await status(name);
    const bad: Array<[string, unknown]> = [
      ["acquire", { holder: "b", limit: 3, ttlMs: 10_000, permits: 4 }],
      ["acquire", { holder: "b", limit: 3, ttlMs: 10_000, permits: 0 }],
      ["acquire", { holder: "b", limit: 0, ttlMs: 10_000 }],
      ["acquire", { holder: "b", limit: 10_001, ttlMs: 10_000 }],
      ["acquire", { holder: "b", limit: 3, ttlMs: 10 }],
      ["acquire", { holder: "b", limit: 3, ttlMs: 10_000, waitMs: 40_000 }],
      ["acquire", { holder: "b", ttlMs: 10_000 }],
      ["acquire", { holder: "b", limit: 3, ttlMs: 10_000, extra: 1 }],
      ["renew", { leaseId: "not-a-uuid", holder: "a", ttlMs: 10_000 }],
      ["renew", { leaseId: body.leaseId, holder: "a", ttlMs: 1 }],
      ["release", { leaseId: body.leaseId }],
    ];
    for (const [action, payload] of bad) {
      const res = await call("POST", `/v1/semaphores/${name}/${action}`, payload);
      expect(res.status, `${action} ${JSON.stringify(payload)}`).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await call("GET", "/v1/semaphores/bad%20name")).status).toBe(400);
    expect(await status(name)).toEqual(before);
  });
});
