/**
 * The poll room kind through real sockets: the tallies are the service's messages (`server: true`) and only votes
 * move them; a forged count is refused with an error frame and reaches nobody; one vote per user, kept across
 * hibernation and across an eviction that closed every socket; a join the kind refuses is a 403 problem (or a 4403
 * close); the hooks see who is present (the owner's departure lets anyone close the poll); a poll room is never sharded; its state goes with the room's storage after ROOM_RETENTION_HOURS.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AckFrame, ErrorFrame, PollState, PollWelcome, RoomMessage, WelcomeFrame } from "../../src/rooms/protocol";
import { settings } from "../../src/settings";
import { call, until } from "../helpers/api";
import { closeAll, RoomSocket, ticketFor, upgrade } from "../helpers/room-socket";

const newPoll = () => `poll:${crypto.randomUUID()}`;
const LUNCH = { open: { question: "Lunch?", options: ["pizza", "soup", "salad"] } };

const isMessage = (f: { type: string }) => f.type === "message";
const ackOf = (id: string) => (f: { type: string; id?: string }) => f.type === "ack" && f.id === id;
const errorOf = (id: string) => (f: { type: string; id?: string }) => f.type === "error" && f.id === id;
const tallyAt = (seq: number) => (f: { type: string; seq?: number }) => f.type === "message" && f.seq === seq;

/** What the room keeps of its kind's state, by key (JSON values). */
const kindState = (room: string) =>
  runInDurableObject(env.ROOM.getByName(room), (_, state) =>
    Object.fromEntries(
      state.storage.sql
        .exec<{ key: string; value: string }>("SELECT key, value FROM kind_state ORDER BY key")
        .toArray()
        .map((r) => [r.key, JSON.parse(r.value)]),
    ),
  );

const lastSeq = async (room: string) => (await call<{ lastSeq: number }>("GET", `/v1/rooms/${room}`)).body.lastSeq;

describe("a poll room", () => {
  it("publishes the tallies as the service's messages; a forged count or a second vote is refused and reaches nobody", async () => {
    const room = newPoll();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    expect((await ada.next<WelcomeFrame>((f) => f.type === "welcome")).reply).toEqual({ poll: null });

    ada.send({ type: "message", data: LUNCH, id: "open" });
    expect(await ada.next(ackOf("open"))).toEqual({ type: "ack", id: "open", seq: 1 });
    bob.send({ type: "message", data: { vote: 1 }, id: "v1" });
    expect(await bob.next(ackOf("v1"))).toEqual({ type: "ack", id: "v1", seq: 2, reply: { voted: 1 } });
    const tally = await ada.next<RoomMessage>(tallyAt(2));
    expect(tally).toMatchObject({ from: "server", server: true });
    expect(tally.data).toEqual({
      kind: "poll",
      round: 1,
      question: "Lunch?",
      options: ["pizza", "soup", "salad"],
      tallies: [0, 1, 0],
      owner: "ada",
      closed: false,
    } satisfies PollState);

    // bob claims 99 votes for salad: refused, as is his second vote.
    const forged = { ...(tally.data as PollState), tallies: [0, 1, 99] };
    bob.send({ type: "message", data: forged, id: "forged" });
    expect(await bob.next<ErrorFrame>(errorOf("forged"))).toEqual({
      type: "error",
      code: "not-a-poll-action",
      status: 400,
      message:
        "A poll room takes {text}, {open: {question, options, voters?}}, {vote: <option index>} or {close: true}.",
      id: "forged",
    });
    bob.send({ type: "message", data: { vote: 2 }, id: "v2" });
    expect(await bob.next<ErrorFrame>(errorOf("v2"))).toMatchObject({ code: "already-voted", status: 409 });

    // What ada sees next is her own line: nothing of bob's went out.
    ada.send({ type: "message", data: { text: "after" }, id: "t1" });
    await ada.next(ackOf("t1"));
    const seen = ada.frames.filter(isMessage) as RoomMessage[];
    expect(seen.map((m) => [m.seq, m.from, m.server])).toEqual([
      [1, "server", true],
      [2, "server", true],
      [3, "ada", false],
    ]);
    expect(seen[2]?.data).toEqual({ text: "after" });
    expect(await lastSeq(room)).toBe(3);
    expect(await kindState(room)).toEqual({ poll: tally.data, "vote:bob": 1 });
  });

  it("keeps the poll and who voted across hibernation", async () => {
    const room = newPoll();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    ada.send({ type: "message", data: LUNCH, id: "open" });
    bob.send({ type: "message", data: { vote: 0 }, id: "v1" });
    await bob.next(ackOf("v1"));

    await evictDurableObject(env.ROOM.getByName(room), { webSockets: "hibernate" });

    bob.send({ type: "message", data: { vote: 1 }, id: "v2" });
    expect(await bob.next<ErrorFrame>(errorOf("v2"))).toMatchObject({ code: "already-voted" });
    using cy = await RoomSocket.join(room, "cy");
    const welcome = await cy.next<WelcomeFrame>((f) => f.type === "welcome");
    expect((welcome.reply as PollWelcome).poll?.tallies).toEqual([1, 0, 0]);
    cy.send({ type: "message", data: { vote: 2 }, id: "v3" });
    expect(await cy.next<AckFrame>(ackOf("v3"))).toEqual({ type: "ack", id: "v3", seq: 3, reply: { voted: 2 } });
    const tally = await ada.next<RoomMessage>(tallyAt(3));
    expect((tally.data as PollState).tallies).toEqual([1, 0, 1]);
  });

  it("keeps the poll and each member's vote across an eviction that closed every socket", async () => {
    const room = newPoll();
    let ada: RoomSocket | undefined = await RoomSocket.join(room, "ada");
    let bob: RoomSocket | undefined;
    try {
      ada.send({ type: "message", data: LUNCH, id: "open" });
      ada.send({ type: "message", data: { vote: 2 }, id: "v1" });
      await ada.next(ackOf("v1"));
      await evictDurableObject(env.ROOM.getByName(room), { webSockets: "close" });
      await ada.closed();

      ada = await RoomSocket.join(room, "ada");
      const welcome = await ada.next<WelcomeFrame>((f) => f.type === "welcome");
      expect(welcome.reply).toEqual({ poll: expect.objectContaining({ tallies: [0, 0, 1], owner: "ada" }), voted: 2 });
      bob = await RoomSocket.join(room, "bob");
      expect((await bob.next<WelcomeFrame>((f) => f.type === "welcome")).reply).toEqual({
        poll: expect.objectContaining({ tallies: [0, 0, 1] }),
      });
      ada.send({ type: "message", data: { vote: 0 }, id: "v2" });
      expect(await ada.next<ErrorFrame>(errorOf("v2"))).toMatchObject({ code: "already-voted" });
    } finally {
      closeAll(ada, bob);
    }
  });

  it("refuses a join the kind refuses with 403 and its type and detail, as problem+json or as a close", async () => {
    const room = newPoll();
    using ada = await RoomSocket.join(room, "ada");
    ada.send({ type: "message", data: { open: { question: "Q?", options: ["a", "b"], voters: ["bob"] } }, id: "o" });
    await ada.next(ackOf("o"));

    const ticket = await ticketFor(room, "cy");
    const res = await upgrade(room, `ticket=${encodeURIComponent(ticket)}`);
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({
      type: "urn:edgeloop:problem:not-a-voter",
      status: 403,
      detail: "This poll is for bob only.",
    });
    // The kind refused it: the ticket is spent.
    expect((await upgrade(room, `ticket=${encodeURIComponent(ticket)}`)).status).toBe(401);

    const closing = await upgrade(room, `ticket=${encodeURIComponent(await ticketFor(room, "cy"))}&refusal=close`);
    expect(closing.status).toBe(101);
    const ws = closing.webSocket as WebSocket;
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
    );
    ws.accept();
    expect(await closed).toEqual({ code: 4403, reason: "not-a-voter This poll is for bob only." });
    expect((await call<{ members: string[] }>("GET", `/v1/rooms/${room}`)).body.members).toEqual(["ada"]);
  });

  it("lets only the owner close the poll while she is in the room, and anyone once she has left", async () => {
    const room = newPoll();
    using ada = await RoomSocket.join(room, "ada");
    using bob = await RoomSocket.join(room, "bob");
    ada.send({ type: "message", data: LUNCH, id: "open" });
    await bob.next(tallyAt(1));
    bob.send({ type: "message", data: { close: true }, id: "c1" });
    expect(await bob.next<ErrorFrame>(errorOf("c1"))).toMatchObject({ code: "not-the-owner", status: 403 });
    ada.close();
    await bob.next((f) => f.type === "presence" && f.left.includes("ada"));
    bob.send({ type: "message", data: { close: true }, id: "c2" });
    expect(await bob.next(ackOf("c2"))).toEqual({ type: "ack", id: "c2", seq: 2 });
    expect((await bob.next<RoomMessage>(tallyAt(2))).data).toMatchObject({ owner: "ada", closed: true });
  });

  it("is never sharded: PUT …/shards answers 409 kind-not-shardable (1 stays 200)", async () => {
    const room = newPoll();
    const res = await call("PUT", `/v1/rooms/${room}/shards`, { shards: 2 });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      type: "urn:edgeloop:problem:kind-not-shardable",
      detail: "A poll room runs its hooks in one object: it cannot be sharded.",
    });
    expect((await call("PUT", `/v1/rooms/${room}/shards`, { shards: 1 })).status).toBe(200);
    expect((await call("GET", `/v1/rooms/${room}`)).body).not.toHaveProperty("shards");
  });

  it("loses its poll with the room's storage after ROOM_RETENTION_HOURS, and starts afresh", async () => {
    const room = newPoll();
    const stub = env.ROOM.getByName(room);
    let ada: RoomSocket | undefined = await RoomSocket.join(room, "ada");
    try {
      ada.send({ type: "message", data: LUNCH, id: "open" });
      await ada.next(ackOf("open"));
      closeAll(ada);
      await until(async () => (await call<{ connections: number }>("GET", `/v1/rooms/${room}`)).body.connections === 0);
      expect(Object.keys(await kindState(room))).toEqual(["poll"]);
      const ms = settings(env).ROOM_RETENTION_HOURS * 3_600_000;
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE idle SET since = since - ?", ms);
        state.storage.sql.exec("UPDATE used_tickets SET exp = exp - ?", ms);
        state.storage.sql.exec("UPDATE join_rates SET tat = tat - ?", ms);
      });
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await kindState(room)).toEqual({});

      ada = await RoomSocket.join(room, "ada");
      expect((await ada.next<WelcomeFrame>((f) => f.type === "welcome")).reply).toEqual({ poll: null });
      ada.send({ type: "message", data: LUNCH, id: "again" });
      expect(await ada.next(ackOf("again"))).toEqual({ type: "ack", id: "again", seq: 1 });
      expect((await ada.next<RoomMessage>(tallyAt(1))).data).toMatchObject({ round: 1 });
    } finally {
      closeAll(ada);
    }
  });
});
