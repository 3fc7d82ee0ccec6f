/**
 * What a caller without credentials can cost: the rooms upgrade (authorised by a ticket, not a bearer token) is
 * limited by its verified ticket only, so unverified headers never name a RateLimiter object.
 */
import { createExecutionContext, listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../functions/index";
import { BASE, ticketFor } from "./helpers/room-socket";

const limiterCount = async () => (await listDurableObjectIds(env.RATE_LIMITER)).length;

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
    const before = await limiterCount();
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
    const created = (await limiterCount()) - before;

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
});
