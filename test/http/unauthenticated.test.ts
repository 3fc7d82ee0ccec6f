/**
 * What a caller without credentials can cost: the rooms upgrade (authorised by a ticket, not a bearer token) is
 * limited by its verified ticket only, so unverified headers never name a RateLimiter object.
 */
import { createExecutionContext, listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { clientAddress } from "../../src/http/client-address";
import { BASE, ticketFor } from "../helpers/room-socket";

const limiterIds = async () => new Set((await listDurableObjectIds(env.RATE_LIMITER)).map((id) => id.toString()));

/** RateLimiter objects that exist now and did not before (objects that cleared their storage meanwhile do not count). */
const newLimiters = async (before: Set<string>) => [...(await limiterIds())].filter((id) => !before.has(id)).length;

/** The worker with these settings over the test bindings. */
const withVars = (vars: Record<string, string>) => {
  const e = { ...env, ...vars };
  return (request: Request) => worker.fetch(request, e, createExecutionContext());
};

describe("the rooms upgrade without a bearer token", () => {
  it("creates no RateLimiter object for 50 upgrades with random bearer values, and a flood of anonymous upgrades does not stop a ticket from joining", async () => {
    // A small /v1 limit: 50 anonymous upgrades would empty any bucket they shared.
    const fetch = withVars({ API_RATE_LIMIT: "10" });
    const room = `flood-${crypto.randomUUID()}`;
    const before = await limiterIds();
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) {
      const authorization = `Bearer ${crypto.randomUUID()}`;
      const res = await fetch(
        new Request(`${BASE}/v1/rooms/${room}/ws`, { headers: { upgrade: "websocket", authorization } }),
      );
      statuses.push(res.status);
    }
    for (let i = 0; i < 50; i++) {
      const res = await fetch(
        new Request(`${BASE}/v1/rooms/${room}/ws?ticket=forged.x`, { headers: { upgrade: "websocket" } }),
      );
      statuses.push(res.status);
    }
    const created = await newLimiters(before);

    const ticket = await ticketFor(room, "ada");
    const joined = await fetch(
      new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${encodeURIComponent(ticket)}`, {
        headers: { upgrade: "websocket" },
      }),
    );
    joined.webSocket?.accept();
    joined.webSocket?.close(1000, "done");
    expect({ statuses: [...new Set(statuses)], created, joined: joined.status }).toEqual({
      statuses: [401],
      created: 0,
      joined: 101,
    });
  });

  it("counts joins against API_RATE_LIMIT under the ticket's room and user: one user over it gets 429, another joins", async () => {
    const fetch = withVars({ API_RATE_LIMIT: "2" });
    const room = `joins-${crypto.randomUUID()}`;
    const join = async (user: string) => {
      const ticket = await ticketFor(room, user);
      const res = await fetch(
        new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${encodeURIComponent(ticket)}`, {
          headers: { upgrade: "websocket" },
        }),
      );
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
      return res;
    };
    expect((await join("ada")).status).toBe(101);
    expect((await join("ada")).status).toBe(101);
    const refused = await join("ada");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    expect(await refused.json()).toMatchObject({ type: "urn:edgeloop:problem:rate-limited", limit: "API_RATE_LIMIT" });
    expect((await join("bob")).status).toBe(101);
  });

  it("counts joins under the API_RATE_LIMIT in force: a user who used up a mistaken hourly limit joins once it is raised", async () => {
    const room = `joins-${crypto.randomUUID()}`;
    const join = async (vars: Record<string, string>) => {
      const ticket = await ticketFor(room, "ada");
      const res = await withVars(vars)(
        new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${encodeURIComponent(ticket)}`, {
          headers: { upgrade: "websocket" },
        }),
      );
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
      return res.status;
    };
    const hourly = { API_RATE_LIMIT: "2", API_RATE_PERIOD_MS: "3600000" };
    expect([await join(hourly), await join(hourly), await join(hourly)]).toEqual([101, 101, 429]);
    expect(await join({ API_RATE_LIMIT: "100000", API_RATE_PERIOD_MS: "60000" })).toBe(101);
  });
});

// --- Failed authentication ------------------------------------------------------------------------------------------

/** A fresh /64 of the IPv6 documentation range: its addresses count as one client. */
const fresh64 = () => {
  const [a, b] = crypto.getRandomValues(new Uint16Array(2));
  return `2001:db8:${a?.toString(16)}:${b?.toString(16)}`;
};

/** The test bindings turn AUTH_FAIL_LIMIT off (the sweep sends hundreds of wrong tokens); these tests turn it on. */
const throttled = withVars({ AUTH_FAIL_LIMIT: "3", AUTH_FAIL_PERIOD_MS: "600000" });

const callFrom = (address: string | undefined, token: string) =>
  throttled(
    new Request(`${BASE}/v1/counters/auth-probe`, {
      headers: { authorization: `Bearer ${token}`, ...(address ? { "cf-connecting-ip": address } : {}) },
    }),
  );

describe("failed authentication", () => {
  it("answers 429 with Retry-After naming AUTH_FAIL_LIMIT once one address failed AUTH_FAIL_LIMIT times; other addresses are untouched", async () => {
    const net = fresh64();
    // Three addresses of one /64, one spelled out in full: one client.
    const statuses = [];
    for (const address of [`${net}::1`, `${net}::2`, `${net}:0:0:0:3`]) {
      statuses.push((await callFrom(address, "wrong-token")).status);
    }
    expect(statuses).toEqual([401, 401, 401]);
    const over = await callFrom(`${net}::4`, "wrong-token");
    expect(over.status).toBe(429);
    expect(over.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await over.json()).toMatchObject({
      type: "urn:edgeloop:problem:auth-throttled",
      status: 429,
      limit: "AUTH_FAIL_LIMIT",
      max: 3,
    });
    // While it is over, its wrong tokens keep getting 429.
    expect((await callFrom(`${net}::5`, "wrong-token")).status).toBe(429);
    // Another client is not affected, and a valid token there carries the per-token limit's headers as before.
    const other = fresh64();
    expect((await callFrom(`${other}::1`, "wrong-token")).status).toBe(401);
    const ok = await callFrom(`${other}::1`, "test-token");
    expect(ok.status).toBe(200);
    expect(ok.headers.get("ratelimit-limit")).toBe(String(100_000));
  });

  it("slows a guesser while a valid token from the same address, or the same /64, is let through and not counted", async () => {
    // 198.18.0.0/15 (benchmarking): a fresh IPv4 client; and a fresh /64, whose addresses are one client.
    const [a = 0, b = 0] = crypto.getRandomValues(new Uint8Array(2));
    const v4 = `198.${18 + (a % 2)}.${b}.${a}`;
    const net = fresh64();
    for (const [guesser, neighbour] of [
      [v4, v4],
      [`${net}::bad`, `${net}::600d`],
    ] as const) {
      const guesses = [];
      for (let i = 0; i < 5; i++) guesses.push((await callFrom(guesser, `guess-${i}`)).status);
      // The guesser is slowed: past AUTH_FAIL_LIMIT (3) its failures get 429 with a Retry-After.
      expect(guesses, guesser).toEqual([401, 401, 401, 429, 429]);
      // The right token from the same address (or the same /64) is compared and served, however often.
      const served = [];
      for (let i = 0; i < 5; i++) served.push((await callFrom(neighbour, "test-token")).status);
      expect(served, neighbour).toEqual([200, 200, 200, 200, 200]);
      // Serving it neither counted against the address nor lifted its limit: the next guess still gets 429.
      const after = await callFrom(guesser, "guess-5");
      expect(after.status, guesser).toBe(429);
      expect(Number(after.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
  });

  it("does the same where many clients share one key (no address, as in local tests, or loopback)", async () => {
    for (const address of [undefined, "127.0.0.1"]) {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await callFrom(address, "wrong-token")).status);
      expect(statuses, String(address)).toEqual([401, 401, 401, 429]);
      expect((await callFrom(address, "test-token")).status, String(address)).toBe(200);
      expect((await callFrom(address, "wrong-token")).status, String(address)).toBe(429);
    }
  });

  it("makes no object call when a token is accepted: successes from many addresses create no object", async () => {
    expect((await callFrom(`${fresh64()}::1`, "test-token")).status).toBe(200);
    const before = await limiterIds();
    for (let i = 0; i < 20; i++) expect((await callFrom(`${fresh64()}::1`, "test-token")).status).toBe(200);
    expect(await newLimiters(before)).toBe(0);
  });
});

describe("clientAddress", () => {
  it.each([
    [undefined, "unknown"],
    ["203.0.113.9", "ip:203.0.113.9"],
    ["127.0.0.1", "ip:127.0.0.1"],
    ["127.9.9.9", "ip:127.9.9.9"],
    ["::ffff:203.0.113.9", "ip:203.0.113.9"],
    ["::1", "ip:::1"],
    ["2001:db8:a:b:1:2:3:4", "ip:2001:db8:a:b::/64"],
    ["2001:0DB8:000A:000B::99", "ip:2001:db8:a:b::/64"],
    ["not an address", "unknown"],
    ["0x7f.1", "unknown"],
  ])("takes CF-Connecting-IP %s as %s", (header, key) => {
    const request = new Request(BASE, { headers: header ? { "cf-connecting-ip": header } : {} });
    expect(clientAddress(request)).toEqual({ key });
  });
});
