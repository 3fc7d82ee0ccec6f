import { env, exports } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { signTicket } from "../src/http/tickets";
import type { AckFrame, PresenceFrame, RoomMessage, WelcomeFrame } from "../src/objects/room-protocol";
import { AUTH, BASE, closeAll, RoomSocket, ticketFor, upgrade } from "./helpers/room-socket";

const newRoom = () => `room-${crypto.randomUUID()}`;
const isMessage = (f: { type: string }) => f.type === "message";

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
    let ada: RoomSocket | undefined;
    try {
      ada = await RoomSocket.join(room, "ada");
      const welcome = await ada.next<WelcomeFrame>((f) => f.type === "welcome");
      expect(welcome).toMatchObject({ self: { user: "ada" }, members: ["ada"], count: 1, lastSeq: 0, history: [] });
      expect(await roomInfo(room)).toEqual({ room, members: ["ada"], count: 1, connections: 1, lastSeq: 0 });
    } finally {
      closeAll(ada);
    }
  });

  it("delivers every message to every member in seq order and acks the sender", async () => {
    const room = newRoom();
    let ada: RoomSocket | undefined;
    let bob: RoomSocket | undefined;
    try {
      ada = await RoomSocket.join(room, "ada");
      bob = await RoomSocket.join(room, "bob");
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
    } finally {
      closeAll(ada, bob);
    }
  });

  it("announces joins and departures with the member count", async () => {
    const room = newRoom();
    let ada: RoomSocket | undefined;
    let bob: RoomSocket | undefined;
    try {
      ada = await RoomSocket.join(room, "ada");
      bob = await RoomSocket.join(room, "bob");
      const joined = await ada.next<PresenceFrame>((f) => f.type === "presence" && f.event === "joined");
      expect(joined).toEqual({ type: "presence", event: "joined", user: "bob", count: 2, members: ["ada", "bob"] });
      bob.close();
      const left = await ada.next<PresenceFrame>((f) => f.type === "presence" && f.event === "left");
      expect(left).toEqual({ type: "presence", event: "left", user: "bob", count: 1, members: ["ada"] });
      expect(await roomInfo(room)).toMatchObject({ members: ["ada"], count: 1, connections: 1 });
    } finally {
      closeAll(ada, bob);
    }
  });
});
