/** The lock's decisions (grant, renew, release, expiry, fencing tokens), called directly with a chosen clock. */
import { describe, expect, it } from "vitest";
import { emptyLock, expire, grant, isFree, release, renew } from "../../src/locks/lock-state";

describe("lock decisions", () => {
  it("hands out strictly increasing tokens across grants, releases and expiries", () => {
    let lock = grant(emptyLock(), "a", 100, 0, null);
    expect(lock.holder).toMatchObject({ owner: "a", token: 1, expiresAt: 100 });
    const released = release(lock, "a", 1, 50);
    if (released.kind !== "ok") throw new Error(released.kind);
    lock = grant(released.lock, "b", 100, 60, null);
    expect(lock.holder?.token).toBe(2);
    lock = expire(lock, 160);
    expect(lock.holder).toBeNull();
    expect(grant(lock, "c", 100, 170, null).holder?.token).toBe(3);
  });

  it("treats a lease as over exactly at its expiry, and refuses to grant a held lock", () => {
    const lock = grant(emptyLock(), "a", 100, 0, null);
    expect(isFree(lock, 99)).toBe(false);
    expect(isFree(lock, 100)).toBe(true);
    expect(expire(lock, 99)).toBe(lock);
    expect(() => grant(lock, "b", 100, 50, null)).toThrow(new Error("grant on a held lock"));
  });

  it("renews only the live holder's token", () => {
    const lock = grant(emptyLock(), "a", 100, 0, null);
    expect(renew(lock, "a", 1, 500, 50)).toMatchObject({ kind: "ok", lock: { holder: { expiresAt: 550 } } });
    expect(renew(lock, "b", 1, 500, 50)).toMatchObject({ kind: "conflict" });
    expect(renew(lock, "a", 2, 500, 50)).toMatchObject({ kind: "conflict", detail: "token 2 was never granted" });
    expect(renew(lock, "a", 1, 500, 100)).toMatchObject({ kind: "conflict", detail: "the lease of token 1 expired" });
  });

  it("makes a second release of the same token harmless but refuses a stale one", () => {
    const first = release(grant(emptyLock(), "a", 100, 0, null), "a", 1, 10);
    if (first.kind !== "ok") throw new Error(first.kind);
    expect(release(first.lock, "a", 1, 20)).toEqual({ kind: "already-released" });
    const next = grant(first.lock, "b", 100, 30, null);
    expect(release(next, "a", 1, 40)).toEqual({ kind: "already-released" });
    expect(release(next, "c", 1, 40)).toMatchObject({ kind: "conflict" });
    expect(release(next, "b", 2, 40).kind).toBe("ok");
  });

  it("says why a token does not hold the lock: another owner's, never granted, expired, or replaced", () => {
    const first = grant(emptyLock(), "a", 100, 0, null);
    expect(release(emptyLock(), "a", 1, 0)).toEqual({ kind: "conflict", detail: "token 1 was never granted" });
    expect(release(first, "b", 1, 50)).toEqual({ kind: "conflict", detail: "token 1 belongs to another owner" });
    const second = grant(expire(first, 100), "b", 100, 100, null);
    expect(renew(second, "a", 1, 100, 150)).toEqual({
      kind: "conflict",
      detail: "token 1 no longer holds the lock (the current token is 2)",
    });
    // Once token 2's lease is over too, there is no current token.
    expect(renew(second, "a", 1, 100, 200)).toEqual({
      kind: "conflict",
      detail: "token 1 no longer holds the lock (the current token is none)",
    });
    expect(renew(expire(second, 200), "a", 1, 100, 200)).toEqual({
      kind: "conflict",
      detail: "token 1 no longer holds the lock (the current token is none)",
    });
  });

  it("takes a second release as harmless only for the same owner and the same token", () => {
    const released = release(grant(emptyLock(), "a", 100, 0, null), "a", 1, 10);
    if (released.kind !== "ok") throw new Error(released.kind);
    // a holds the lock again (token 2), its lease runs out, and a releases it late: that token was not released.
    const again = grant(released.lock, "a", 100, 20, null);
    expect(release(again, "a", 2, 200)).toEqual({ kind: "conflict", detail: "the lease of token 2 expired" });
    expect(release(again, "a", 1, 200)).toEqual({ kind: "already-released" });
  });
});
