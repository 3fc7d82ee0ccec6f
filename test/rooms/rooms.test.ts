import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../functions/index";
import type { AckFrame, PresenceFrame, RoomMessage, ServerFrame, WelcomeFrame } from "../../src/rooms/protocol";
import { signTicket } from "../../src/rooms/tickets";
import { settings } from "../../src/settings";
import { until } from "../helpers/api";
import { AUTH, BASE, closeAll, RoomSocket, ticketFor, upgrade } from "../helpers/room-socket";

const newRoom = () => `room-${crypto.randomUUID()}`;
const isMessage = (f: { type: string }) => f.type === "message";
const isPresence = (f: { type: string }) => f.type === "presence";
const joinedFrame = (user: string) => (f: ServerFrame) => f.type === "presence" && f.joined.includes(user);
const leftFrame = (user: string) => (f: ServerFrame) => f.type === "presence" && f.left.includes(user);

async function roomInfo(room: string) {
  const res = await exports.default.fetch(`${BASE}/v1/rooms/${room}`, { headers: AUTH });
  expect(res.status).toBe(200);
  return res.json<{ room: string; members: string[]; count: number; connections: number; lastSeq: number }>();
}

async function publish(room: string, body: unknown) {
  return exports.default.fetch(`${BASE}/v1/rooms/${room}/messages`, {
    method: "POST",
    headers: AUTH,
    body: JSON.stringify(body),
  });
}

describe("joining and chatting", () => {
  it("welcomes a member with itself in the members list and an empty history", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    const welcome = await ada.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(welcome).toMatchObject({ self: { user: "ada" }, members: ["ada"], count: 1, lastSeq: 0, history: [] });
    expect(await roomInfo(room)).toEqual({ room, members: ["ada"], count: 1, connections: 1, lastSeq: 0 });
  });

  it("delivers every message to every member in seq order and acks the sender", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    for (let i = 0; i < 5; i++) {
      ada.send({ type: "message", data: { n: i, by: "ada" }, id: `a${i}` });
      bob.send({ type: "message", data: { n: i, by: "bob" }, id: `b${i}` });
    }
    const atAda = await ada.all<RoomMessage>(isMessage, 10);
    const atBob = await bob.all<RoomMessage>(isMessage, 10);
    expect(atAda.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(atBob).toEqual(atAda);
    // Each sender's own messages keep the order it sent them in.
    expect(atAda.filter((m) => m.from === "ada").map((m) => m.id)).toEqual(["a0", "a1", "a2", "a3", "a4"]);
    expect(atAda.filter((m) => m.from === "bob").map((m) => (m.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    const acks = await ada.all<AckFrame>((f) => f.type === "ack", 5);
    expect(acks.map((a) => a.id)).toEqual(["a0", "a1", "a2", "a3", "a4"]);
    expect(acks.map((a) => a.seq)).toEqual(atAda.filter((m) => m.from === "ada").map((m) => m.seq));
    expect((await roomInfo(room)).lastSeq).toBe(10);
  });

  it("announces joins and departures with the member count", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    const joined = await ada.next<PresenceFrame>(joinedFrame("bob"));
    expect(joined).toEqual({ type: "presence", joined: ["bob"], left: [], count: 2 });
    bob.close();
    const left = await ada.next<PresenceFrame>(leftFrame("bob"));
    expect(left).toEqual({ type: "presence", joined: [], left: ["bob"], count: 1 });
    expect(ada.frames.filter(isPresence)).toEqual([joined, left]);
    // A member learns who is there from its welcome, not from its own join.
    expect(bob.frames.filter(isPresence)).toEqual([]);
    expect(await roomInfo(room)).toMatchObject({ members: ["ada"], count: 1, connections: 1 });
  });

  it("announces a member's join before anything it sends", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    bob.send({ type: "message", data: "hi", id: "b1" });
    await ada.next((f) => f.type === "message" && f.id === "b1");
    expect(ada.frames.map((f) => f.type)).toEqual(["welcome", "presence", "message"]);
    expect(ada.frames[1]).toEqual({ type: "presence", joined: ["bob"], left: [], count: 2 });
  });
});

describe("history", () => {
  it("gives a joining member the kept history and a reconnecting one only what it missed after since", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    for (let i = 1; i <= 6; i++) ada.send({ type: "message", data: `m${i}` });
    await ada.all(isMessage, 6);
    using late = await RoomSocket.join(room, "cy");
    const welcome = await late.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(welcome.lastSeq).toBe(6);
    expect(welcome.history.map((m) => [m.seq, m.from, m.data])).toEqual([
      [1, "ada", "m1"],
      [2, "ada", "m2"],
      [3, "ada", "m3"],
      [4, "ada", "m4"],
      [5, "ada", "m5"],
      [6, "ada", "m6"],
    ]);
    using back = await RoomSocket.join(room, "dee", "&since=4");
    const resumed = await back.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(resumed.history.map((m) => m.seq)).toEqual([5, 6]);
  });

  it("keeps only the last ROOM_HISTORY messages while seq keeps counting", async () => {
    const room = newRoom();
    const stub = env.ROOM.getByName(room);
    for (let i = 1; i <= 105; i++) await stub.publish("server", i);
    using ada = await RoomSocket.join(room, "ada");
    const welcome = await ada.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(welcome.lastSeq).toBe(105);
    expect(welcome.history).toHaveLength(100);
    expect(welcome.history[0]?.seq).toBe(6);
    expect(welcome.history.at(-1)).toMatchObject({ seq: 105, from: "server", data: 105 });
  });

  it("refuses a since that is not a non-negative integer with 400 before the upgrade", async () => {
    const room = newRoom();
    const ticket = await ticketFor(room, "ada");
    const res = await upgrade(room, `ticket=${ticket}&since=-1`);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.webSocket).toBeNull();
  });
});

describe("hibernation", () => {
  it("rebuilds presence from the sockets after the room hibernates, and keeps ordering", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    ada.send({ type: "message", data: "before" });
    await bob.next(isMessage);

    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });

    // The woken room still knows who is there, from the sockets' attachments.
    expect(await roomInfo(room)).toMatchObject({ members: ["ada", "bob"], count: 2, connections: 2, lastSeq: 1 });
    using cy = await RoomSocket.join(room, "cy");
    expect(await cy.next<WelcomeFrame>((f) => f.type === "welcome")).toMatchObject({
      members: ["ada", "bob", "cy"],
      count: 3,
    });
    expect(await ada.next(joinedFrame("cy"))).toEqual({ type: "presence", joined: ["cy"], left: [], count: 3 });
    bob.close();
    const left = await ada.next<PresenceFrame>(leftFrame("bob"));
    expect(left).toEqual({ type: "presence", joined: [], left: ["bob"], count: 2 });
    ada.send({ type: "message", data: "after", id: "after-1" });
    const after = await cy.next<RoomMessage>((f) => f.type === "message" && f.id === "after-1");
    expect(after).toMatchObject({ seq: 2, from: "ada", data: "after" });
    expect(await ada.next<AckFrame>((f) => f.type === "ack" && f.id === "after-1")).toEqual({
      type: "ack",
      id: "after-1",
      seq: 2,
    });
  });

  it("answers a ping with a pong", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });
    ada.send({ type: "ping" });
    expect(await ada.next((f) => f.type === "pong")).toEqual({ type: "pong" });
  });

  it("counts one user with two connections once, until the last connection leaves", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob1 = await RoomSocket.join(room, "bob");
    using bob2 = await RoomSocket.join(room, "bob");
    expect(await roomInfo(room)).toMatchObject({ members: ["ada", "bob"], count: 2, connections: 3 });
    await ada.next(joinedFrame("bob"));
    bob1.close();
    bob2.close();
    await ada.next(leftFrame("bob"));
    expect(ada.frames.filter(isPresence)).toEqual([
      { type: "presence", joined: ["bob"], left: [], count: 2 },
      { type: "presence", joined: [], left: ["bob"], count: 1 },
    ]);
  });
});

describe("limits", () => {
  it("closes a socket that sends more than ROOM_MAX_MESSAGE_BYTES with 1009 and leaves the room unaffected", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    await ada.next(joinedFrame("bob"));
    bob.send({ type: "message", data: "x".repeat(16_384) });
    expect(await bob.closed()).toMatchObject({ code: 1009 });
    expect((await bob.closed()).reason).toContain("ROOM_MAX_MESSAGE_BYTES");
    expect(await ada.next<PresenceFrame>(leftFrame("bob"))).toEqual({
      type: "presence",
      joined: [],
      left: ["bob"],
      count: 1,
    });
    ada.send({ type: "message", data: "still here" });
    expect(await ada.next<RoomMessage>(isMessage)).toMatchObject({ seq: 1, data: "still here" });
  });

  it("warns a sender over ROOM_RATE_MESSAGES with an error, then closes it with 1008 if it goes on", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    for (let i = 1; i <= 21; i++) bob.send({ type: "message", data: i, id: `m${i}` });
    const error = await bob.next((f) => f.type === "error");
    // It names the frame it refuses, so a client knows which of its sends failed.
    expect(error).toMatchObject({ type: "error", code: "rate-limited", id: "m21" });
    expect(JSON.stringify(error)).toContain("ROOM_RATE_MESSAGES");
    // The first 20 went through, the 21st did not.
    const delivered = await ada.all<RoomMessage>(isMessage, 20);
    expect(delivered.map((m) => m.data)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    bob.send({ type: "message", data: 22 });
    expect(await bob.closed()).toMatchObject({ code: 1008 });
    // Others can still talk.
    ada.send({ type: "message", data: "ada", id: "ada-1" });
    expect(await ada.next<RoomMessage>((f) => f.type === "message" && f.id === "ada-1")).toMatchObject({ seq: 21 });
    expect(ada.frames.filter(isMessage)).toHaveLength(21);
  });

  it("answers malformed frames with a bad-message error and keeps the connection", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    ada.send("not json");
    ada.send({ type: "shout", data: 1 });
    ada.send({ type: "message" });
    ada.send({ type: "message", data: 1, id: 7 });
    const errors = await ada.all((f) => f.type === "error", 4);
    expect(errors.every((e) => e.type === "error" && e.code === "bad-message")).toBe(true);
    ada.send({ type: "message", data: "fine" });
    expect(await ada.next<RoomMessage>(isMessage)).toMatchObject({ seq: 1, data: "fine" });
  });

  it("closes a socket that sends binary frames with 1003", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    ada.ws.send(new Uint8Array([1, 2, 3]));
    expect(await ada.closed()).toMatchObject({ code: 1003 });
  });

  it("refuses a connection beyond ROOM_MAX_CONNECTIONS with 429 before the upgrade", async () => {
    const room = newRoom();
    const sockets: RoomSocket[] = [];
    try {
      for (let i = 0; i < 4; i++) sockets.push(await RoomSocket.join(room, `user${i}`));
      const res = await upgrade(room, `ticket=${await ticketFor(room, "one-too-many")}`);
      expect(res.status).toBe(429);
      expect(res.webSocket).toBeNull();
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.headers.get("retry-after")).toBe("5");
      expect(await res.json()).toMatchObject({ status: 429, limit: "ROOM_MAX_CONNECTIONS", max: 4 });
      expect(await roomInfo(room)).toMatchObject({ count: 4, connections: 4 });
    } finally {
      closeAll(...sockets);
    }
  });
});

describe("sockets per user and single-use tickets", () => {
  const usedTickets = (room: string) =>
    runInDurableObject(
      env.ROOM.getByName(room),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM used_tickets").one().n,
    );

  it("refuses a user's socket beyond ROOM_MAX_SOCKETS_PER_USER with 429 before the upgrade; other users still join", async () => {
    const room = newRoom();
    const max = settings(env).ROOM_MAX_SOCKETS_PER_USER;
    expect(max).toBeLessThan(settings(env).ROOM_MAX_CONNECTIONS);
    const sockets: RoomSocket[] = [];
    try {
      for (let i = 0; i < max; i++) sockets.push(await RoomSocket.join(room, "bob"));
      const ticket = await ticketFor(room, "bob");
      const refused = await upgrade(room, `ticket=${ticket}`);
      expect(refused.status).toBe(429);
      expect(refused.webSocket).toBeNull();
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
      expect(await refused.json()).toMatchObject({ status: 429, limit: "ROOM_MAX_SOCKETS_PER_USER", max });
      sockets.push(await RoomSocket.join(room, "ada"));
      expect(await roomInfo(room)).toMatchObject({ members: ["ada", "bob"], connections: max + 1 });
      // One of bob's sockets goes: the ticket refused above was not spent, and now opens one.
      sockets[0]?.close();
      await until(async () => (await roomInfo(room)).connections === max);
      const again = await upgrade(room, `ticket=${ticket}`);
      expect(again.status).toBe(101);
      again.webSocket?.accept();
      again.webSocket?.close(1000, "done");
    } finally {
      closeAll(...sockets);
    }
  });

  it("opens one socket per ticket: the same ticket again is refused with 401 ticket-used, even after it closed", async () => {
    const room = newRoom();
    const ticket = await ticketFor(room, "ada");
    const first = await upgrade(room, `ticket=${ticket}`);
    expect(first.status).toBe(101);
    first.webSocket?.accept();
    const second = await upgrade(room, `ticket=${ticket}`);
    expect(second.status).toBe(401);
    expect(second.webSocket).toBeNull();
    expect(second.headers.get("content-type")).toBe("application/problem+json");
    expect(await second.json()).toMatchObject({ status: 401, type: "urn:edgeloop:problem:ticket-used" });
    first.webSocket?.close(1000, "done");
    await until(async () => (await roomInfo(room)).connections === 0);
    expect((await upgrade(room, `ticket=${ticket}`)).status).toBe(401);
    // A fresh ticket joins.
    const fresh = await upgrade(room, `ticket=${await ticketFor(room, "ada")}`);
    expect(fresh.status).toBe(101);
    fresh.webSocket?.accept();
    fresh.webSocket?.close(1000, "done");
    expect(await usedTickets(room)).toBe(2);
  });

  it("tells a refused join as a close when the client asks (refusal=close): 4401 ticket-used, 4403 origin-not-allowed", async () => {
    const room = newRoom();
    /** The close a refused upgrade's socket reports, once it is accepted. */
    const closeOf = async (res: Response) => {
      expect(res.status).toBe(101);
      const ws = res.webSocket as WebSocket;
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
      );
      ws.accept();
      return closed;
    };
    const ticket = await ticketFor(room, "ada");
    const first = await upgrade(room, `ticket=${ticket}&refusal=close`);
    first.webSocket?.accept();
    expect(await closeOf(await upgrade(room, `ticket=${ticket}&refusal=close`))).toEqual({
      code: 4401,
      reason: expect.stringMatching(/^ticket-used This ticket has been used: a ticket opens one socket/),
    });
    const foreign = await upgrade(room, `ticket=${await ticketFor(room, "bob")}&refusal=close`, {
      origin: "https://evil.example",
    });
    const refused = await closeOf(foreign);
    expect(refused.code).toBe(4403);
    expect(refused.reason).toMatch(/^origin-not-allowed Origin https:\/\/evil\.example may not join rooms/);
    expect(new TextEncoder().encode(refused.reason).byteLength).toBeLessThanOrEqual(123);
    // Nobody joined through them, and without the parameter a refusal is still its problem+json answer.
    expect(await roomInfo(room)).toMatchObject({ members: ["ada"], connections: 1 });
    const plain = await upgrade(room, `ticket=${ticket}`);
    expect(plain.status).toBe(401);
    expect(await plain.json()).toMatchObject({ type: "urn:edgeloop:problem:ticket-used" });
    first.webSocket?.close(1000, "done");
  });

  it("remembers a used ticket only until it expires", async () => {
    const room = newRoom();
    for (let i = 0; i < 3; i++) {
      const res = await upgrade(room, `ticket=${await ticketFor(room, `u${i}`)}`);
      expect(res.status).toBe(101);
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
    }
    expect(await usedTickets(room)).toBe(3);
    // As if their lifetimes had passed: the next upgrade prunes them.
    await runInDurableObject(env.ROOM.getByName(room), (_, state) => {
      state.storage.sql.exec("UPDATE used_tickets SET exp = ?", Date.now() - 1);
    });
    const next = await upgrade(room, `ticket=${await ticketFor(room, "u3")}`);
    expect(next.status).toBe(101);
    next.webSocket?.accept();
    next.webSocket?.close(1000, "done");
    expect(await usedTickets(room)).toBe(1);
  });

  it("counts a user's joins (API_RATE_LIMIT) in a row kept only while it counts: an idle user's is gone at the next join", async () => {
    const room = newRoom();
    const stub = env.ROOM.getByName(room);
    const joinRates = () =>
      runInDurableObject(stub, (_, state) =>
        state.storage.sql
          .exec<{ user: string }>("SELECT user FROM join_rates ORDER BY user")
          .toArray()
          .map((r) => r.user),
      );
    // 10 joins a minute: a join keeps its row 6 s ahead of now.
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const join = async (user: string) => {
      const req = new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${await ticketFor(room, user)}`, {
        headers: { upgrade: "websocket" },
      });
      const res = await app.fetch(req, { ...env, API_RATE_LIMIT: "10", API_RATE_PERIOD_MS: "60000" }, ctx);
      expect(res.status).toBe(101);
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
    };
    await join("u0");
    await join("u1");
    await join("u1");
    // One row per user, under the limit it counts for.
    expect(await joinRates()).toEqual(["u0\n10/60000", "u1\n10/60000"]);
    // As if the period had passed for both: their buckets are full again, as if never seen.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE join_rates SET tat = ?", Date.now() - 1);
    });
    await join("u2");
    expect(await joinRates()).toEqual(["u2\n10/60000"]);
  });
});

describe("tickets and origins", () => {
  it("issues a ticket with the ws URL to connect to", async () => {
    const room = newRoom();
    const res = await exports.default.fetch(`${BASE}/v1/rooms/${room}/tickets`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ user: "Ada Lovelace", ttlSec: 30 }),
    });
    expect(res.status).toBe(201);
    const body = await res.json<{ ticket: string; url: string; room: string; user: string; expiresAt: string }>();
    expect(body).toMatchObject({ room, user: "Ada Lovelace" });
    expect(body.url).toBe(`ws://edgeloop.test/v1/rooms/${room}/ws?ticket=${encodeURIComponent(body.ticket)}`);
    const ttl = Date.parse(body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it.each([
    ["a ttlSec above ROOM_TICKET_MAX_TTL_SECONDS", { user: "ada", ttlSec: 301 }, "ROOM_TICKET_MAX_TTL_SECONDS"],
    ["a missing user", { ttlSec: 30 }, "user"],
    ["a user with control characters", { user: "a\u0007b" }, "user"],
    ["an unknown field", { user: "ada", admin: true }, "admin"],
  ])("refuses %s with 400 problem+json", async (_, body, mentioned) => {
    const res = await exports.default.fetch(`${BASE}/v1/rooms/${newRoom()}/tickets`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.stringify(await res.json())).toContain(mentioned);
  });

  it("refuses a room name outside the name pattern and a call without the bearer token", async () => {
    const bad = await exports.default.fetch(`${BASE}/v1/rooms/${"x".repeat(129)}/tickets`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ user: "ada" }),
    });
    expect(bad.status).toBe(400);
    const anonymous = await exports.default.fetch(`${BASE}/v1/rooms/lobby/tickets`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "ada" }),
    });
    expect(anonymous.status).toBe(401);
  });

  it("refuses a missing, forged, expired or other-room ticket before the upgrade, and nobody joins", async () => {
    const room = newRoom();
    const good = await ticketFor(room, "ada");
    const [payload, signature] = good.split(".") as [string, string];
    const forgedSig = `${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const otherSecret = (await signTicket("not-the-secret", { room, user: "ada", ttlSec: 60 })).ticket;
    const expired = (
      await signTicket(env.ROOM_TICKET_SECRET as string, { room, user: "ada", ttlSec: 60 }, Date.now() - 61_000)
    ).ticket;
    const otherRoom = await ticketFor(newRoom(), "ada");
    const cases: [string, number, string][] = [
      ["", 401, "required"],
      ["ticket=garbage", 401, "ticket-invalid"],
      [`ticket=${forgedSig}`, 401, "ticket-invalid"],
      [`ticket=${otherSecret}`, 401, "ticket-invalid"],
      [`ticket=${expired}`, 401, "ticket-expired"],
      [`ticket=${otherRoom}`, 403, "ticket-wrong-room"],
    ];
    for (const [query, status, mentioned] of cases) {
      const res = await upgrade(room, query);
      expect(res.status, query).toBe(status);
      expect(res.webSocket).toBeNull();
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(JSON.stringify(await res.json())).toContain(mentioned);
    }
    expect(await roomInfo(room)).toMatchObject({ count: 0, connections: 0 });
  });

  it("refuses an Origin outside ROOM_ALLOWED_ORIGINS with 403 and accepts the worker's own origin", async () => {
    const room = newRoom();
    const foreign = await upgrade(room, `ticket=${await ticketFor(room, "ada")}`, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.webSocket).toBeNull();
    expect(await foreign.json()).toMatchObject({ status: 403, limit: "ROOM_ALLOWED_ORIGINS" });
    const own = await upgrade(room, `ticket=${await ticketFor(room, "ada")}`, { origin: BASE });
    expect(own.status).toBe(101);
    own.webSocket?.accept();
    own.webSocket?.close(1000, "done");
  });

  it("accepts an Origin listed in ROOM_ALLOWED_ORIGINS, and any with *", async () => {
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const room = newRoom();
    const join = async (allowed: string, origin: string) => {
      const req = new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${await ticketFor(room, "ada")}`, {
        headers: { upgrade: "websocket", origin },
      });
      const res = await app.fetch(req, { ...env, ROOM_ALLOWED_ORIGINS: allowed }, ctx);
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
      return res.status;
    };
    expect(await join("https://app.example, https://other.example", "https://app.example")).toBe(101);
    expect(await join("https://app.example", "https://App.Example")).toBe(101);
    expect(await join("https://app.example", "https://app.example.evil")).toBe(403);
    expect(await join("*", "https://anything.example")).toBe(101);
  });

  it("refuses a plain GET on the socket route with 426", async () => {
    const room = newRoom();
    const res = await exports.default.fetch(`${BASE}/v1/rooms/${room}/ws?ticket=${await ticketFor(room, "ada")}`);
    expect(res.status).toBe(426);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("server-side publishing", () => {
  it("publishes into the room in order with the members and returns the seq", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    ada.send({ type: "message", data: "first" });
    await ada.next(isMessage);
    const res = await publish(room, { data: { text: "deploy finished" }, from: "ci" });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ seq: 2 });
    expect(await ada.next<RoomMessage>((f) => f.type === "message" && f.seq === 2)).toMatchObject({
      from: "ci",
      data: { text: "deploy finished" },
    });
    const plain = await publish(room, { data: 3 });
    expect(await plain.json()).toEqual({ seq: 3 });
    expect(await ada.next<RoomMessage>((f) => f.type === "message" && f.seq === 3)).toMatchObject({ from: "server" });
  });

  it("is what the jobs family calls over RPC to post progress into job:<id>", async () => {
    const room = `job:${crypto.randomUUID()}`;
    const progress = { kind: "job-progress", id: room.slice(4), state: "running", total: 10, done: 3, failed: 0 };
    expect(await env.ROOM.getByName(room).publish("jobs", progress)).toEqual({ seq: 1 });
    expect(await roomInfo(room)).toMatchObject({ lastSeq: 1, count: 0 });
  });

  it.each([
    ["data larger than ROOM_MAX_MESSAGE_BYTES", { data: "x".repeat(16_384) }, 413, "ROOM_MAX_MESSAGE_BYTES"],
    ["a missing data", { from: "ci" }, 400, "data"],
    ["an unknown field", { data: 1, to: "bob" }, 400, "to"],
    ["an empty from", { data: 1, from: "" }, 400, "from"],
  ])("refuses %s and stores nothing", async (_, body, status, mentioned) => {
    const room = newRoom();
    const res = await publish(room, body);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.stringify(await res.json())).toContain(mentioned);
    expect(await roomInfo(room)).toMatchObject({ lastSeq: 0 });
  });
});

describe("who sent a message: members cannot pass for the server", () => {
  it("marks what the service publishes server: true and members' messages server: false, live and in history", async () => {
    const room = newRoom();
    using ada = await RoomSocket.join(room, "ada");
    // A member claiming the flag, the sender name and the kind of a job's progress gets none of it.
    ada.send({
      type: "message",
      server: true,
      from: "jobs",
      data: { kind: "job-progress", id: "x", state: "succeeded" },
    });
    await ada.next((f) => f.type === "ack");
    expect((await publish(room, { data: { text: "deploy finished" }, from: "ci" })).status).toBe(201);
    const live = await ada.all<RoomMessage>(isMessage, 2);
    expect(live.map((m) => [m.seq, m.from, m.server])).toEqual([
      [1, "ada", false],
      [2, "ci", true],
    ]);
    using bob = await RoomSocket.join(room, "bob");
    const welcome = await bob.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(welcome.history).toEqual(live);
  });

  it("adds the server column to a room stored before it, its kept messages reading as members'", async () => {
    const room = newRoom();
    expect((await publish(room, { data: "old" })).status).toBe(201);
    const stub = env.ROOM.getByName(room);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("ALTER TABLE messages DROP COLUMN server");
    });
    await evictDurableObject(stub);
    expect((await publish(room, { data: "new" })).status).toBe(201);
    using ada = await RoomSocket.join(room, "ada");
    const { history } = await ada.next<WelcomeFrame>((f) => f.type === "welcome");
    expect(history.map((m) => [m.data, m.server])).toEqual([
      ["old", false],
      ["new", true],
    ]);
  });

  it.each(["server", "jobs", "Jobs", " SERVER ", "\uff4a\uff4f\uff42\uff53"])(
    "refuses a ticket for the reserved name %j with 400",
    async (user) => {
      const res = await exports.default.fetch(`${BASE}/v1/rooms/${newRoom()}/tickets`, {
        method: "POST",
        headers: AUTH,
        body: JSON.stringify({ user }),
      });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(JSON.stringify(await res.json())).toContain("reserved");
    },
  );

  it('refuses POST …/messages from "jobs" (only a job\'s own progress carries it) and stores nothing', async () => {
    const room = newRoom();
    for (const from of ["jobs", "JOBS", "\uff4a\uff4f\uff42\uff53"]) {
      const res = await publish(room, { data: { kind: "job-progress" }, from });
      expect(res.status, from).toBe(400);
      expect(JSON.stringify(await res.json())).toContain("reserved");
    }
    expect(await roomInfo(room)).toMatchObject({ lastSeq: 0 });
  });
});

describe("the OpenAPI document", () => {
  it("describes the rooms routes, the socket route without bearer auth and the others with their scopes", async () => {
    const res = await exports.default.fetch(`${BASE}/openapi.json`);
    const doc = await res.json<{ paths: Record<string, Record<string, { security?: unknown[] }>> }>();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/rooms/{room}/tickets",
        "/v1/rooms/{room}/ws",
        "/v1/rooms/{room}/messages",
        "/v1/rooms/{room}",
      ]),
    );
    expect(doc.paths["/v1/rooms/{room}/ws"]?.get?.security).toEqual([]);
    expect(doc.paths["/v1/rooms/{room}/tickets"]?.post?.security).toEqual([{ bearer: ["rooms:ticket"] }]);
    expect(doc.paths["/v1/rooms/{room}/messages"]?.post?.security).toEqual([{ bearer: ["rooms:publish"] }]);
  });
});

describe("without ROOM_TICKET_SECRET", () => {
  const noSecret = () => ({ ...env, ROOM_TICKET_SECRET: undefined });
  const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

  it("issues no tickets and opens no sockets (503, fail closed)", async () => {
    const room = newRoom();
    const issue = await app.fetch(
      new Request(`${BASE}/v1/rooms/${room}/tickets`, {
        method: "POST",
        headers: AUTH,
        body: JSON.stringify({ user: "ada" }),
      }),
      noSecret(),
      ctx,
    );
    expect(issue.status).toBe(503);
    expect(JSON.stringify(await issue.json())).toContain("ROOM_TICKET_SECRET");
    const join = await app.fetch(
      new Request(`${BASE}/v1/rooms/${room}/ws?ticket=${await ticketFor(room, "ada")}`, {
        headers: { upgrade: "websocket" },
      }),
      noSecret(),
      ctx,
    );
    expect(join.status).toBe(503);
    expect(join.webSocket).toBeNull();
    expect(await roomInfo(room)).toMatchObject({ connections: 0 });
  });
});
