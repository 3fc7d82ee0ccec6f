/**
 * Sharded rooms in workerd, real objects and sockets: the layout route (set once, 409 after members), tickets that
 * name the user's shard, every member of every shard getting every message once in seq order with its ack, presence
 * aggregated room-wide, a shard playing batches that arrive out of order, twice or after a gap exactly once in order,
 * and a shard evicted mid-stream (sockets closed, or hibernated) whose members resume with `since`.
 * (400 clients over 4 shards: test/e2e/rooms-sharded.test.ts.)
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AckFrame, PresenceFrame, RoomMessage, ServerFrame, WelcomeFrame } from "../../src/rooms/protocol";
import { Room, type RoomInfo } from "../../src/rooms/room";
import { shardName, shardOf } from "../../src/rooms/room-stream";
import { call } from "../helpers/api";
import { closeAll, RoomSocket, ticketFor, upgrade } from "../helpers/room-socket";

const isMessage = (f: { type: string }): f is RoomMessage => f.type === "message";
const seqsOf = (s: RoomSocket) => s.frames.filter(isMessage).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function shardedRoom(shards: number): Promise<string> {
  const room = `sharded-${crypto.randomUUID()}`;
  const res = await call("PUT", `/v1/rooms/${room}/shards`, { shards });
  expect(res).toMatchObject({ status: 200, body: { room, shards } });
  return room;
}

/** `perShard` user names for each of `shards` shards: users hash to shards, so pick names by where they land. */
function usersByShard(shards: number, perShard: number): string[][] {
  const byShard: string[][] = Array.from({ length: shards }, () => []);
  for (let n = 0; byShard.some((users) => users.length < perShard); n++) {
    const user = `u${n}`;
    const users = byShard[shardOf(user, shards)] as string[];
    if (users.length < perShard) users.push(user);
  }
  return byShard;
}

async function info(room: string) {
  const res = await call<RoomInfo>("GET", `/v1/rooms/${room}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function publish(room: string, data: unknown): Promise<number> {
  const res = await call<{ seq: number }>("POST", `/v1/rooms/${room}/messages`, { data });
  expect(res.status).toBe(201);
  return res.body.seq;
}

describe("PUT /v1/rooms/{room}/shards", () => {
  it("sets the shards before the room has members, answers the same value again, and refuses another with 409 after", async () => {
    const room = `sharded-${crypto.randomUUID()}`;
    expect(await call("PUT", `/v1/rooms/${room}/shards`, { shards: 4 })).toMatchObject({ status: 200 });
    // Not fixed yet: it may still change.
    expect(await call("PUT", `/v1/rooms/${room}/shards`, { shards: 2 })).toMatchObject({
      status: 200,
      body: { room, shards: 2 },
    });
    const ada = await RoomSocket.join(room, "ada");
    try {
      expect(await call("PUT", `/v1/rooms/${room}/shards`, { shards: 2 })).toMatchObject({ status: 200 });
      const refused = await call("PUT", `/v1/rooms/${room}/shards`, { shards: 3 });
      expect(refused.status).toBe(409);
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
      expect(refused.body).toMatchObject({ type: "urn:edgeloop:problem:shards-fixed", shards: 2 });
      expect(await info(room)).toMatchObject({ shards: 2, count: 1 });
    } finally {
      closeAll(ada);
    }
  });

  it("refuses a change once an unsharded room had a message, even with nobody connected", async () => {
    const room = `sharded-${crypto.randomUUID()}`;
    await publish(room, "first");
    const refused = await call("PUT", `/v1/rooms/${room}/shards`, { shards: 4 });
    expect(refused).toMatchObject({ status: 409, body: { type: "urn:edgeloop:problem:shards-fixed", shards: 1 } });
    expect(await call("PUT", `/v1/rooms/${room}/shards`, { shards: 1 })).toMatchObject({ status: 200 });
    expect(await info(room)).toEqual({ room, members: [], count: 0, connections: 0, lastSeq: 1 });
  });

  it("joins with a ticket issued before the room was split: a ticket names no layout, the upgrade finds it", async () => {
    const room = `sharded-${crypto.randomUUID()}`;
    const unsharded = await ticketFor(room, "ada");
    await call("PUT", `/v1/rooms/${room}/shards`, { shards: 4 });
    const forFour = await ticketFor(room, "bob");
    await call("PUT", `/v1/rooms/${room}/shards`, { shards: 2 });
    const sockets: WebSocket[] = [];
    try {
      for (const ticket of [unsharded, forFour]) {
        const res = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
        expect(res.status).toBe(101);
        res.webSocket?.accept();
        sockets.push(res.webSocket as WebSocket);
      }
      expect(await info(room)).toMatchObject({
        members: ["ada", "bob"],
        connections: 2,
        shards: 2,
        sockets: [0, 1].map((i) => ["ada", "bob"].filter((u) => shardOf(u, 2) === i).length),
      });
    } finally {
      for (const ws of sockets) ws.close();
    }
  });
});

describe("a room over 4 shards", () => {
  it("puts each user on its shard, and delivers every message to every member once in seq order, acked with its seq", async () => {
    const room = await shardedRoom(4);
    const users = usersByShard(4, 3);
    const sockets: RoomSocket[] = [];
    try {
      for (const user of users.flat()) sockets.push(await RoomSocket.join(room, user));
      expect(await info(room)).toMatchObject({ count: 12, connections: 12, shards: 4, sockets: [3, 3, 3, 3] });
      // One sender on each shard and the server side, all at once.
      const senders = [0, 3, 6, 9].map((i) => sockets[i] as RoomSocket);
      for (let n = 0; n < 5; n++) {
        senders.forEach((s, k) => {
          s.send({ type: "message", data: { n, k }, id: `s${k}-${n}` });
        });
      }
      const published = await Promise.all(range(1, 5).map((n) => publish(room, { server: n })));
      const total = 25;
      for (const s of sockets) await s.all(isMessage, total, 10_000);
      const reference = (sockets[0] as RoomSocket).frames.filter(isMessage);
      expect(reference.map((m) => m.seq)).toEqual(range(1, total));
      for (const s of sockets) expect(s.frames.filter(isMessage)).toEqual(reference);
      // Each sender's messages keep its order; its acks carry their seqs and come after the message itself.
      for (const [k, s] of senders.entries()) {
        const mine = reference.filter((m) => m.id.startsWith(`s${k}-`));
        expect(mine.map((m) => m.id)).toEqual(range(0, 4).map((n) => `s${k}-${n}`));
        const acks = await s.all<AckFrame>((f) => f.type === "ack", 5);
        expect(acks.map((a) => [a.id, a.seq])).toEqual(mine.map((m) => [m.id, m.seq]));
        for (const ack of acks) {
          const at = s.frames.indexOf(ack);
          expect(s.frames.findIndex((f) => isMessage(f) && f.seq === ack.seq)).toBeLessThan(at);
        }
      }
      expect(new Set(published).size).toBe(5);
      expect((await info(room)).lastSeq).toBe(total);
    } finally {
      closeAll(...sockets);
    }
  });

  it("welcomes with the room-wide members and counts presence across shards after joins and leaves", async () => {
    const room = await shardedRoom(4);
    const users = usersByShard(4, 2);
    const [first, ...rest] = users.flat() as [string, ...string[]];
    const sockets: RoomSocket[] = [];
    try {
      const watcher = await RoomSocket.join(room, first);
      sockets.push(watcher);
      for (const user of rest) sockets.push(await RoomSocket.join(room, user));
      const last = sockets.at(-1) as RoomSocket;
      expect(await last.next<WelcomeFrame>((f) => f.type === "welcome")).toMatchObject({
        members: users.flat().sort(),
        count: 8,
      });
      // The watcher, on one shard, sees all seven others join, whatever their shard.
      const joined = () => new Set(watcher.frames.flatMap((f) => (f.type === "presence" ? f.joined : [])));
      await watcher.next((f) => f.type === "presence" && f.count === 8);
      expect([...joined()].sort()).toEqual(rest.sort());
      // Every member's view ends at 8.
      for (const s of sockets.slice(1, -1)) await s.next((f) => f.type === "presence" && f.count === 8);
      // Two leave, on two other shards.
      const leaving = [sockets[2] as RoomSocket, sockets[5] as RoomSocket];
      const names = leaving.map((s) => (s.frames[0] as WelcomeFrame).self.user);
      for (const s of leaving) s.close();
      const left = await watcher.all<PresenceFrame>((f) => f.type === "presence" && f.left.length > 0, 1);
      await watcher.next((f) => f.type === "presence" && f.count === 6);
      const gone = new Set(watcher.frames.flatMap((f) => (f.type === "presence" ? f.left : [])));
      expect([...gone].sort()).toEqual(names.sort());
      expect(left.length).toBeGreaterThan(0);
      expect(await info(room)).toMatchObject({
        count: 6,
        connections: 6,
        members: users
          .flat()
          .filter((u) => !names.includes(u))
          .sort(),
      });
    } finally {
      closeAll(...sockets);
    }
  });

  it("acks a message in a quiet room without waiting for other traffic, after the message itself", async () => {
    const room = await shardedRoom(2);
    using a = await RoomSocket.join(room, "ada");
    // Quiet: the welcome was played and no presence waits for a tick (the first join is announced at once).
    a.send({ type: "message", data: "alone", id: "a1" });
    // Nothing else will happen in this room: the ack must not wait for the next batch of the stream.
    const ack = await a.next<AckFrame>((f) => f.type === "ack");
    expect(ack).toEqual({ type: "ack", id: "a1", seq: 1 });
    expect(a.frames.map((f) => f.type)).toEqual(["welcome", "message", "ack"]);
  });

  it("shows a member's join before a message it sends at once, within the presence tick of the join before", async () => {
    const room = await shardedRoom(2);
    const [[ada], [bob]] = usersByShard(2, 1) as [[string], [string]];
    // Both tickets first and no wait for ada's welcome, so that bob's join follows hers as closely as it can: within
    // ROOM_PRESENCE_TICK_MS his presence waits for the tick, and only the message he sends as soon as his socket
    // opens can bring it out before the tick ends.
    const tickets = [await ticketFor(room, ada), await ticketFor(room, bob)] as const;
    using a = await RoomSocket.open(room, tickets[0]);
    using b = await RoomSocket.open(room, tickets[1]);
    b.send({ type: "message", data: "hi", id: "b1" });
    await a.next((f) => isMessage(f) && f.id === "b1");
    expect(a.frames.map((f) => f.type)).toEqual(["welcome", "presence", "message"]);
    expect(a.frames[1]).toEqual({ type: "presence", joined: [bob], left: [], count: 2 });
  });

  it("opens one socket per ticket on the shard it names: the same ticket again is 401 ticket-used", async () => {
    const room = await shardedRoom(4);
    const ticket = await ticketFor(room, "ada");
    const first = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
    expect(first.status).toBe(101);
    first.webSocket?.accept();
    try {
      const again = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
      expect(again.status).toBe(401);
      expect(await again.json()).toMatchObject({ type: "urn:edgeloop:problem:ticket-used" });
      expect(await info(room)).toMatchObject({
        connections: 1,
        sockets: [0, 1, 2, 3].map((i) => (i === shardOf("ada", 4) ? 1 : 0)),
      });
    } finally {
      first.webSocket?.close();
    }
  });
});

describe("a join the room refuses for its own reasons", () => {
  it("leaves the ticket usable: after the sequencer did not answer (503), the same ticket joins", async () => {
    const room = await shardedRoom(2);
    const ticket = await ticketFor(room, "ada");
    // The sequencer fails (its RPC throws) for this one upgrade: the shard cannot confirm the join.
    const apply = Room.prototype.apply;
    Room.prototype.apply = () => Promise.reject(new Error("the sequencer is down"));
    let refused: Response;
    try {
      refused = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
    } finally {
      Room.prototype.apply = apply;
    }
    expect(refused.status).toBe(503);
    expect(refused.webSocket).toBeNull();
    expect(refused.headers.get("retry-after")).toBe("1");
    const again = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
    expect(again.status).toBe(101);
    again.webSocket?.accept();
    try {
      expect(await info(room)).toMatchObject({ members: ["ada"], connections: 1 });
    } finally {
      again.webSocket?.close();
    }
  });
});

describe("a shard's stream", () => {
  it("plays batches that arrive out of order, twice, or after a gap once each, in seq order, filling the gap from history", async () => {
    const room = await shardedRoom(2);
    const [[ada], [bob]] = usersByShard(2, 1) as [[string], [string]];
    using a = await RoomSocket.join(room, ada);
    using b = await RoomSocket.join(room, bob);
    await publish(room, "m1");
    await b.next((f) => isMessage(f) && f.seq === 1);
    // The sequencer is told bob's shard is empty (as a lost report would leave it): it stops feeding that shard…
    const bobShard = shardOf(bob, 2);
    const conn = (b.frames[0] as WelcomeFrame).self.id;
    const answer = await env.ROOM.getByName(room).apply(bobShard, [{ op: "leave", conn, user: bob }]);
    expect(answer).toEqual([{ ok: true }]);
    // …so messages 2-5 reach history and ada, not bob.
    for (const n of [2, 3, 4, 5]) await publish(room, `m${n}`);
    const texts = (await a.all<RoomMessage>(isMessage, 5)).map((m) => JSON.stringify(m));
    const shard = env.ROOM_SHARD.getByName(shardName(room, bobShard));
    const item = (seq: number) => ({ seq, text: texts[seq - 1] as string });
    // The later batch first: a gap (1, 3], filled from history while the earlier batch arrives too.
    const later = { epoch: "test", n: 2, after: 3, items: [item(4), item(5)] };
    const earlier = { epoch: "test", n: 1, after: 1, items: [item(2), item(3)] };
    await Promise.all([shard.deliver(later), shard.deliver(earlier)]);
    await b.all(isMessage, 5);
    await shard.deliver(later);
    await shard.deliver(earlier);
    await publish(room, "m6");
    await a.next((f) => isMessage(f) && f.seq === 6);
    // bob's shard is not fed any more: a batch after a gap it can only partly fill (history has 6) ends the test.
    await shard.deliver({ epoch: "test", n: 3, after: 6, items: [] });
    await b.next((f) => isMessage(f) && f.seq === 6);
    expect(seqsOf(b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.frames.filter(isMessage)).toEqual(a.frames.filter(isMessage));
  });

  it("acks at once a message whose seq the shard played before the sequencer's answer came back", async () => {
    const room = await shardedRoom(2);
    const [[ada], [bob]] = usersByShard(2, 1) as [[string], [string]];
    using a = await RoomSocket.join(room, ada);
    using b = await RoomSocket.join(room, bob);
    // The shard's call and the stream race: the stream may play a message before its sender's answer arrives. In
    // workerd the answer always wins, so the test takes the stream's place: the sequencer stops feeding bob's shard
    // (told it is empty), and the test plays seq 1 to it before bob sends what will be seq 1.
    const bobShard = shardOf(bob, 2);
    const conn = (b.frames[0] as WelcomeFrame).self.id;
    await env.ROOM.getByName(room).apply(bobShard, [{ op: "leave", conn, user: bob }]);
    const text = JSON.stringify({ type: "message", seq: 1, id: "b1", from: bob, server: false, data: "hi", ts: 0 });
    await env.ROOM_SHARD.getByName(shardName(room, bobShard)).deliver({
      epoch: "test",
      n: 1,
      after: 0,
      items: [{ seq: 1, text }],
    });
    await b.next((f) => isMessage(f) && f.seq === 1);
    b.send({ type: "message", data: "hi", id: "b1" });
    expect(await a.next((f) => isMessage(f) && f.id === "b1")).toMatchObject({ seq: 1, from: bob, data: "hi" });
    // No other traffic will reach bob's shard: the ack cannot wait for the next batch.
    expect(await b.next<AckFrame>((f) => f.type === "ack")).toEqual({ type: "ack", id: "b1", seq: 1 });
  });

  it("keeps playing after its shard hibernates, from the seq it stored", async () => {
    const room = await shardedRoom(2);
    const [[ada], [bob]] = usersByShard(2, 1) as [[string], [string]];
    using a = await RoomSocket.join(room, ada);
    using b = await RoomSocket.join(room, bob);
    a.send({ type: "message", data: "before", id: "before" });
    await b.next((f) => isMessage(f) && f.id === "before");
    await evictDurableObject(env.ROOM_SHARD.getByName(shardName(room, shardOf(bob, 2))), { webSockets: "hibernate" });
    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });
    expect(await info(room)).toMatchObject({ members: [ada, bob].sort(), count: 2, connections: 2 });
    b.send({ type: "message", data: "after", id: "after" });
    const after = await a.next<RoomMessage>((f) => isMessage(f) && f.id === "after");
    expect(after).toMatchObject({ seq: 2, from: bob });
    expect(await b.next<AckFrame>((f) => f.type === "ack" && f.id === "after")).toMatchObject({ seq: 2 });
    using _cy = await RoomSocket.join(room, "cy");
    expect(await a.next((f) => f.type === "presence" && f.joined.includes("cy"))).toMatchObject({ count: 3 });
    expect(await b.next((f) => f.type === "presence" && f.joined.includes("cy"))).toMatchObject({ count: 3 });
    expect(seqsOf(b)).toEqual([1, 2]);
  });
});

describe("a shard evicted mid-stream", () => {
  it("closes its sockets; its members resume with since and end with every message once, in order", async () => {
    const room = await shardedRoom(4);
    const users = usersByShard(4, 2);
    const sockets = new Map<string, RoomSocket>();
    const TOTAL = 30;
    try {
      for (const user of users.flat()) sockets.set(user, await RoomSocket.join(room, user));
      const victim = shardOf(users[1]?.[0] as string, 4);
      const victims = users[victim] as string[];
      // What each member saw, across its connections.
      const seen = new Map<string, RoomMessage[]>();
      const publishing = (async () => {
        for (let n = 1; n <= TOTAL; n++) {
          await publish(room, { n });
          if (n === 10) {
            await evictDurableObject(env.ROOM_SHARD.getByName(shardName(room, victim)), { webSockets: "close" });
          }
        }
      })();
      for (const user of victims) {
        const old = sockets.get(user) as RoomSocket;
        await old.closed(10_000);
        const had = old.frames.filter(isMessage);
        const since = had.at(-1)?.seq ?? 0;
        seen.set(user, had);
        sockets.set(user, await RoomSocket.join(room, user, `&since=${since}`));
      }
      await publishing;
      for (const [user, s] of sockets) {
        const welcome = s.frames[0] as WelcomeFrame;
        // A member back late may have had the last messages in its welcome's history.
        if (welcome.lastSeq < TOTAL) await s.next((f: ServerFrame) => isMessage(f) && f.seq === TOTAL, 10_000);
        const got = [...(seen.get(user) ?? []), ...welcome.history, ...s.frames.filter(isMessage)];
        expect(
          got.map((m) => m.seq),
          user,
        ).toEqual(range(1, TOTAL));
      }
      expect(await info(room)).toMatchObject({ count: 8, connections: 8 });
    } finally {
      closeAll(...sockets.values());
    }
  });
});
