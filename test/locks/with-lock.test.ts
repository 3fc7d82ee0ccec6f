import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LeaseLostError, LockBusyError, withLock } from "../../src/locks/with-lock";
import { unique } from "../helpers/api";
import { rewindLease } from "../helpers/leases";

describe("withLock (async with lock, in the Worker)", () => {
  it("runs fn holding the lock with a fencing token, then releases it", async () => {
    const name = unique("wl");
    const result = await withLock(
      env,
      name,
      async ({ token, signal }) => {
        expect(await env.LOCK.getByName(name).status()).toMatchObject({ token, waiters: 0 });
        expect(signal.aborted).toBe(false);
        return token * 10;
      },
      { ttlMs: 10_000 },
    );
    expect(result).toBe(10);
    expect(await env.LOCK.getByName(name).status()).toMatchObject({ holder: null, lastToken: 1 });
  });

  it("serializes concurrent callers: they wait in line and never run fn at the same time", async () => {
    const name = unique("wl");
    let inside = 0;
    let peak = 0;
    const tokens = await Promise.all(
      Array.from({ length: 5 }, () =>
        withLock(
          env,
          name,
          async ({ token }) => {
            inside++;
            peak = Math.max(peak, inside);
            await scheduler.wait(2);
            inside--;
            return token;
          },
          { ttlMs: 10_000, waitMs: 10_000 },
        ),
      ),
    );
    expect(peak).toBe(1);
    expect([...tokens].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  it("throws LockBusyError when the lock stays held past waitMs, and releases even when fn throws", async () => {
    const name = unique("wl");
    await expect(
      withLock(
        env,
        name,
        async () => {
          await expect(withLock(env, name, async () => 1, { ttlMs: 1_000 })).rejects.toBeInstanceOf(LockBusyError);
          throw new Error("boom");
        },
        { ttlMs: 10_000 },
      ),
    ).rejects.toThrow("boom");
    expect(await env.LOCK.getByName(name).status()).toMatchObject({ holder: null });
  });

  it("renews while fn runs past its TTL, keeping the same token", async () => {
    const name = unique("wl");
    const seen = await withLock(
      env,
      name,
      async ({ token }) => {
        const first = await env.LOCK.getByName(name).status();
        await scheduler.wait(350);
        const later = await env.LOCK.getByName(name).status();
        return { token, first, later };
      },
      { ttlMs: 300, renewEveryMs: 10 },
    );
    expect(seen.later).toMatchObject({ holder: seen.first.holder, token: seen.token });
    expect(seen.later.expiresAt).toBeGreaterThan(seen.first.expiresAt as number);
  });

  it("aborts fn's signal with LeaseLostError when the lease is lost", async () => {
    const name = unique("wl");
    const reason = await withLock(
      env,
      name,
      async ({ signal }) => {
        await rewindLease(name);
        await runDurableObjectAlarm(env.LOCK.getByName(name));
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        return signal.reason as unknown;
      },
      { ttlMs: 10_000, renewEveryMs: 5 },
    );
    expect(reason).toBeInstanceOf(LeaseLostError);
  });
});
