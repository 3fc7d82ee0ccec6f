/**
 * The tokens' decisions on plain records with a chosen clock: whether a found token opens /v1 (revoked, expired,
 * rotated out after its grace, each with its own words), how long a lookup is kept, which records go before a new one
 * (past their retention, then the dead that died first) and when, how a token is shown.
 */
import { describe, expect, it } from "vitest";
import {
  deleteAt,
  diedAt,
  type Found,
  isFresh,
  makeRoom,
  principalFor,
  stateOf,
  type TokenRecord,
  verdictOf,
  viewOf,
} from "../../src/tokens/tokens-state";

const T = 1_800_000_000_000;
const DAY = 86_400_000;

const record = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  id: "tok_000000000000000000000001",
  name: "t",
  scopes: ["counters:read"],
  names: null,
  namespace: null,
  rate: null,
  createdAt: T,
  expiresAt: null,
  lastUsedAt: null,
  revokedAt: null,
  rotatedAt: null,
  previousUntil: null,
  ...over,
});
const found = (over: Partial<Found> = {}): Found => ({ ...record(over), matched: "current", ...over });

describe("verdictOf", () => {
  it("accepts a live token's current secret, and refuses what found nothing", () => {
    expect(verdictOf(found(), T)).toEqual({ ok: true });
    expect(verdictOf(null, T)).toEqual({ ok: false, detail: "The bearer token is not valid." });
  });

  it("refuses a revoked token, whatever else holds", () => {
    expect(verdictOf(found({ revokedAt: T + 5 }), T)).toEqual({ ok: false, detail: "The bearer token was revoked." });
  });

  it("refuses an expired token from its expiry on, to the millisecond", () => {
    const t = found({ expiresAt: T + 1_000 });
    expect(verdictOf(t, T + 999)).toEqual({ ok: true });
    expect(verdictOf(t, T + 1_000)).toEqual({
      ok: false,
      detail: `The bearer token expired at ${new Date(T + 1_000).toISOString()}.`,
    });
    // Later on, it still names the time it expired, not the time it was used.
    expect(verdictOf(t, T + DAY)).toEqual({
      ok: false,
      detail: `The bearer token expired at ${new Date(T + 1_000).toISOString()}.`,
    });
  });

  it("accepts a rotated token's previous secret until its grace ends, then refuses it; the current one goes on", () => {
    const previous = found({ matched: "previous", rotatedAt: T, previousUntil: T + 600_000 });
    expect(verdictOf(previous, T + 599_999)).toEqual({ ok: true });
    expect(verdictOf(previous, T + 600_000)).toMatchObject({ ok: false, detail: expect.stringContaining("rotated") });
    expect(verdictOf(previous, T + DAY)).toEqual({
      ok: false,
      detail: `The bearer token was rotated; its grace period ended at ${new Date(T + 600_000).toISOString()}.`,
    });
    expect(verdictOf({ ...previous, matched: "current" }, T + 600_000)).toEqual({ ok: true });
    // An expiry inside the grace ends the previous secret too.
    expect(verdictOf({ ...previous, expiresAt: T + 1 }, T + 2)).toMatchObject({ ok: false });
  });
});

describe("the rest of the decisions", () => {
  it("states: active, expired, revoked", () => {
    expect(stateOf(record(), T)).toBe("active");
    expect(stateOf(record({ expiresAt: T }), T)).toBe("expired");
    expect(stateOf(record({ expiresAt: T, revokedAt: T - 1 }), T)).toBe("revoked");
  });

  it("keeps a lookup for the cache time, and not at all with 0", () => {
    expect(isFresh(T, T + 29_999, 30_000)).toBe(true);
    expect(isFresh(T, T + 30_000, 30_000)).toBe(false);
    expect(isFresh(T, T, 0)).toBe(false);
  });

  it("deletes a record the retention after its revocation or expiry, a live one never", () => {
    expect(deleteAt(record(), 30 * DAY)).toBeNull();
    expect(deleteAt(record({ revokedAt: T }), 30 * DAY)).toBe(T + 30 * DAY);
    expect(deleteAt(record({ expiresAt: T + DAY }), 30 * DAY)).toBe(T + 31 * DAY);
    expect(diedAt(record({ expiresAt: T + DAY }), T)).toBeNull();
    expect(diedAt(record({ expiresAt: T + DAY }), T + DAY)).toBe(T + DAY);
  });

  it("makes room for a new token: past-retention records first, then the dead that died first; never a live one", () => {
    const live = (i: number) => record({ id: `live-${i}` });
    const revoked = (i: number, at: number) => record({ id: `revoked-${i}`, revokedAt: at });
    const all = [live(1), revoked(1, T - 5), live(2), revoked(2, T - 9), record({ id: "expired", expiresAt: T - 7 })];
    expect(makeRoom(all, 10, 30 * DAY, T)).toEqual({ remove: [], fits: true });
    expect(makeRoom(all, 4, 30 * DAY, T)).toEqual({ remove: ["revoked-2", "expired"], fits: true });
    expect(makeRoom(all, 2, 30 * DAY, T)).toEqual({ remove: ["revoked-2", "expired", "revoked-1"], fits: false });
    expect(makeRoom(all, 3, 30 * DAY, T)).toEqual({ remove: ["revoked-2", "expired", "revoked-1"], fits: true });
    expect(makeRoom(all, 10, 5, T)).toEqual({ remove: ["revoked-1", "revoked-2", "expired"], fits: true });
    // What goes for its retention makes room too: two live ones left, under a maximum of 3.
    expect(makeRoom(all, 3, 5, T)).toEqual({ remove: ["revoked-1", "revoked-2", "expired"], fits: true });
  });

  it("acts as the token's scopes, names, namespace and rate", () => {
    const names = { counters: ["a-*"] };
    expect(principalFor(record({ names, namespace: "acme", rate: { limit: 5, periodMs: 1_000 } }))).toEqual({
      root: false,
      id: "tok_000000000000000000000001",
      scopes: ["counters:read"],
      names,
      namespace: "acme",
      rate: { limit: 5, periodMs: 1_000 },
    });
    expect(principalFor(record())).toEqual({
      root: false,
      id: "tok_000000000000000000000001",
      scopes: ["counters:read"],
    });
  });

  it("shows a token with ISO times and its state, without what it does not have", () => {
    expect(viewOf(record({ revokedAt: T + 1, lastUsedAt: T }), T + 2)).toEqual({
      id: "tok_000000000000000000000001",
      name: "t",
      state: "revoked",
      scopes: ["counters:read"],
      createdAt: new Date(T).toISOString(),
      lastUsedAt: new Date(T).toISOString(),
      revokedAt: new Date(T + 1).toISOString(),
    });
    const names = { counters: ["a-*"] };
    const rate = { limit: 5, periodMs: 1_000 };
    const rotated = record({
      names,
      namespace: "acme",
      rate,
      expiresAt: T + DAY,
      rotatedAt: T + 10,
      previousUntil: T + 600_010,
    });
    expect(viewOf(rotated, T + 20)).toEqual({
      id: "tok_000000000000000000000001",
      name: "t",
      state: "active",
      scopes: ["counters:read"],
      names,
      namespace: "acme",
      rate,
      createdAt: new Date(T).toISOString(),
      expiresAt: new Date(T + DAY).toISOString(),
      lastUsedAt: null,
      rotatedAt: new Date(T + 10).toISOString(),
      previousValidUntil: new Date(T + 600_010).toISOString(),
    });
  });
});
