import {
  createExecutionContext,
  evictDurableObject,
  runDurableObjectAlarm,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../functions/index";
import { BASE, call, unique, until } from "../helpers/api";
import { rewindLease } from "../helpers/leases";

type Grant = { name: string; token: number; owner: string; grantedAt: number; expiresAt: number };
type Status = {
  holder: string | null;
  token: number | null;
  expiresAt: number | null;
  waiters: number;
  lastToken: number;
};

const acquire = (name: string, owner: string, ttlMs = 10_000, waitMs = 0, init?: RequestInit) =>
  call<Grant & { waiters?: number; detail?: string }>(
    "POST",
    `/v1/locks/${name}/acquire`,
    { owner, ttlMs, waitMs },
    init,
  );
const release = (name: string, owner: string, token: number) =>
  call("POST", `/v1/locks/${name}/release`, { owner, token });
const status = async (name: string) => (await call<Status>("GET", `/v1/locks/${name}`)).body;

describe("locks", () => {
  it("grants a free lock with token 1 and shows the holder", async () => {
    const name = unique("lock");
    const res = await acquire(name, "alice", 5_000);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name, token: 1, owner: "alice" });
    expect(res.body.expiresAt - res.body.grantedAt).toBe(5_000);
    expect(await status(name)).toEqual({
      name,
      holder: "alice",
      token: 1,
      expiresAt: res.body.expiresAt,
      waiters: 0,
      lastToken: 1,
    });
  });

  it("refuses a held lock at once with 409 and the number of waiters when waitMs is 0", async () => {
    const name = unique("lock");
    await acquire(name, "alice");
    const res = await acquire(name, "bob");
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ status: 409, waiters: 0, type: expect.stringMatching(/[:/]lock-held$/) });
    expect(await status(name)).toMatchObject({ holder: "alice", token: 1 });
  });

  it("gives up with 409 {waiters} once waitMs has passed and leaves the queue", async () => {
    const name = unique("lock");
    await acquire(name, "alice");
    const waitMs = 1_000;
    const started = Date.now();
    let answered = false;
    const waiting = acquire(name, "bob", 10_000, waitMs).finally(() => {
      answered = true;
    });
    // Bob waits in the queue first, unanswered.
    await until(async () => (await status(name)).waiters === 1);
    expect(answered).toBe(false);
    const res = await waiting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(waitMs);
    expect(res.status).toBe(409);
    expect(res.body.waiters).toBe(0);
    expect(await status(name)).toMatchObject({ holder: "alice", waiters: 0 });
  });

  it("hands the lock to waiters in FIFO order, each the moment the previous holder releases", async () => {
    const name = unique("lock");
    const first = await acquire(name, "holder");
    const order: string[] = [];
    const waiters: Promise<Grant>[] = [];
    for (const owner of ["w1", "w2", "w3"]) {
      waiters.push(
        acquire(name, owner, 10_000, 10_000).then((r) => {
          order.push(owner);
          return r.body;
        }),
      );
      // Each waiter is queued before the next one arrives.
      await until(async () => (await status(name)).waiters === waiters.length);
    }
    let token = first.body.token;
    let owner = "holder";
    for (let i = 0; i < 3; i++) {
      expect((await release(name, owner, token)).status).toBe(200);
      const next = await waiters[i];
      expect(next?.owner).toBe(`w${i + 1}`);
      expect(next?.token).toBe(token + 1);
      token = next?.token as number;
      owner = next?.owner as string;
    }
    expect(order).toEqual(["w1", "w2", "w3"]);
    expect(await status(name)).toMatchObject({ holder: "w3", token: 4, waiters: 0 });
  });

  it("renews the holder's lease and refuses to renew a stale token", async () => {
    const name = unique("lock");
    const { body } = await acquire(name, "alice", 1_000);
    const renewed = await call<{ expiresAt: number }>("POST", `/v1/locks/${name}/renew`, {
      owner: "alice",
      token: body.token,
      ttlMs: 60_000,
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body.expiresAt).toBeGreaterThanOrEqual(body.grantedAt + 60_000);
    expect((await status(name)).expiresAt).toBe(renewed.body.expiresAt);
    const stale = await call("POST", `/v1/locks/${name}/renew`, { owner: "alice", token: 7, ttlMs: 1_000 });
    expect(stale.status).toBe(409);
    const other = await call("POST", `/v1/locks/${name}/renew`, { owner: "mallory", token: 1, ttlMs: 1_000 });
    expect(other.status).toBe(409);
    expect((await status(name)).expiresAt).toBe(renewed.body.expiresAt);
  });

  it("refuses a release by another owner or with a stale token, and the holder keeps the lock", async () => {
    const name = unique("lock");
    await acquire(name, "alice");
    expect((await release(name, "alice", 1)).status).toBe(200);
    await acquire(name, "bob");
    const stale = await release(name, "alice", 1);
    // alice released token 1 already: a second release of it is harmless.
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ released: false });
    const wrongOwner = await release(name, "mallory", 2);
    expect(wrongOwner.status).toBe(409);
    expect(wrongOwner.body.detail).toContain("another owner");
    const neverGranted = await release(name, "bob", 99);
    expect(neverGranted.status).toBe(409);
    expect(await status(name)).toMatchObject({ holder: "bob", token: 2 });
  });

  it("refuses the release of a lease that expired, and hands out the next token", async () => {
    const name = unique("lock");
    await acquire(name, "alice", 10_000);
    await rewindLease(name);
    const late = await release(name, "alice", 1);
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain("no longer holds the lock");
    const next = await acquire(name, "bob");
    expect(next.body.token).toBe(2);
  });

  it("grants the oldest waiter when the expiry alarm fires for a silent holder", async () => {
    const name = unique("lock");
    await acquire(name, "silent", 10_000);
    const waiter = acquire(name, "patient", 10_000, 10_000);
    await until(async () => (await status(name)).waiters === 1);
    await rewindLease(name);
    expect(await runDurableObjectAlarm(env.LOCK.getByName(name))).toBe(true);
    const granted = await waiter;
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ owner: "patient", token: 2 });
    // The new lease has its own alarm; running an extra (at-least-once) alarm changes nothing.
    expect(await runDurableObjectAlarm(env.LOCK.getByName(name))).toBe(true);
    expect(await status(name)).toMatchObject({ holder: "patient", token: 2, waiters: 0 });
  });

  it("keeps the holder and the token sequence across eviction, mid-lease and after expiry", async () => {
    const name = unique("lock");
    const stub = env.LOCK.getByName(name);
    await acquire(name, "alice", 60_000);
    await evictDurableObject(stub);
    expect(await status(name)).toMatchObject({ holder: "alice", token: 1, lastToken: 1 });
    expect((await acquire(name, "bob")).status).toBe(409);
    await rewindLease(name);
    await runDurableObjectAlarm(stub);
    await evictDurableObject(stub);
    expect(await status(name)).toMatchObject({ holder: null, token: null, lastToken: 1 });
    expect((await acquire(name, "bob")).body.token).toBe(2);
  });

  it("takes a waiter whose client disconnects out of the queue, and never grants it", async () => {
    const name = unique("lock");
    await acquire(name, "holder");
    const controller = new AbortController();
    const gone = acquire(name, "gone", 10_000, 10_000, { signal: controller.signal }).catch((e: unknown) => e);
    await until(async () => (await status(name)).waiters === 1);
    controller.abort();
    await gone;
    await until(async () => (await status(name)).waiters === 0);
    expect((await release(name, "holder", 1)).status).toBe(200);
    expect(await status(name)).toMatchObject({ holder: null, waiters: 0, lastToken: 1 });
  });

  it("frees a grant whose caller went away before hearing of it (cancel after grant)", async () => {
    const name = unique("lock");
    const stub = env.LOCK.getByName(name);
    const granted = await stub.acquire({ owner: "ghost", ttlMs: 10_000, waitMs: 0, waiterId: "w-ghost" });
    expect(granted.ok).toBe(true);
    expect(await stub.cancel("w-ghost")).toBe(true);
    expect(await stub.cancel("w-ghost")).toBe(false);
    expect(await status(name)).toMatchObject({ holder: null, lastToken: 1 });
  });

  it("answers bad input on every lock endpoint with 4xx problem+json and changes nothing", async () => {
    const name = unique("lock");
    await acquire(name, "alice", 60_000);
    const before = await status(name);
    const bad: Array<[string, unknown, number]> = [
      ["acquire", { owner: "bob", ttlMs: 99 }, 400],
      ["acquire", { owner: "bob", ttlMs: 300_001 }, 400],
      ["acquire", { owner: "bob", ttlMs: 1_000, waitMs: 30_001 }, 400],
      ["acquire", { owner: "bob", ttlMs: 1_000, waitMs: -1 }, 400],
      ["acquire", { owner: "", ttlMs: 1_000 }, 400],
      ["acquire", { ttlMs: 1_000 }, 400],
      ["acquire", { owner: "bob", ttlMs: 1_000, extra: 1 }, 400],
      ["acquire", "[]", 400],
      ["renew", { owner: "alice", token: 1, ttlMs: 50 }, 400],
      ["renew", { owner: "alice", token: "1", ttlMs: 1_000 }, 400],
      ["release", { owner: "alice" }, 400],
      ["release", { owner: "alice", token: 0 }, 400],
      ["release", { owner: "alice", token: 1.5 }, 400],
    ];
    for (const [action, body, expected] of bad) {
      const res = await call("POST", `/v1/locks/${name}/${action}`, body);
      expect(res.status, `${action} ${JSON.stringify(body)}`).toBe(expected);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    const ttl = await call("POST", `/v1/locks/${name}/acquire`, { owner: "bob", ttlMs: 99 });
    expect(ttl.body).toMatchObject({ limit: "LEASE_MIN_TTL_MS" });
    expect((await call("GET", "/v1/locks/no spaces")).status).toBe(400);
    expect((await call("POST", `/v1/locks/${"x".repeat(129)}/acquire`, { owner: "a", ttlMs: 1_000 })).status).toBe(400);
    expect(await status(name)).toEqual(before);
  });

  it("answers 503 naming LEASE_MAX_WAITERS when the line is full", async () => {
    const name = unique("lock");
    const small = { ...env, LEASE_MAX_WAITERS: "1" };
    const send = async (owner: string, signal?: AbortSignal) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE}/v1/locks/${name}/acquire`, {
          method: "POST",
          headers: { authorization: "Bearer test-token", "content-type": "application/json" },
          body: JSON.stringify({ owner, ttlMs: 10_000, waitMs: 10_000 }),
          signal,
        }),
        small,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await send("holder")).status).toBe(200);
    const first = send("first");
    await until(async () => (await status(name)).waiters === 1);
    const refused = await send("second");
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ limit: "LEASE_MAX_WAITERS", waiters: 1 });
    expect(await status(name)).toMatchObject({ holder: "holder", waiters: 1 });
    await release(name, "holder", 1);
    expect((await first).status).toBe(200);
  });
});
