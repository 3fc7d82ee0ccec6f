/**
 * A WebSocket flood: one client sending 10,000 frames of one kind is closed with 1008 once it is over
 * ROOM_RATE_MESSAGES, whatever the frames are (every frame a client sends counts), and the other members of the
 * room keep receiving. A binary frame closes at once with 1003. (The exact ping frame `{"type":"ping"}` is answered
 * by the runtime without waking the room, so it never reaches the rate count: it costs the room nothing.)
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ErrorFrame, RoomMessage } from "../../src/rooms/protocol";
import { settings } from "../../src/settings";
import { RoomSocket } from "../helpers/room-socket";

const FRAMES = 10_000;
const RATE = settings(env).ROOM_RATE_MESSAGES;
const PING_VARIANTS = ['{"type": "ping"}', '{ "type":"ping" }', '{"type":"ping","n":1}', '{"type":"ping"} '];
const MALFORMED = ["not json", '{"type":"shout"}', '{"type":"message"}', "[]", '{"type":"message","data":1,"id":7}'];

const kinds: Record<string, (i: number) => string | Uint8Array> = {
  valid: (i) => JSON.stringify({ type: "message", data: i }),
  malformed: (i) => MALFORMED[i % MALFORMED.length] as string,
  "ping variants": (i) => PING_VARIANTS[i % PING_VARIANTS.length] as string,
  "all of these mixed": (i) =>
    [kinds.valid, kinds.malformed, kinds["ping variants"]][i % 3]?.(Math.floor(i / 3)) as string,
};

/** Send `FRAMES` frames as fast as the socket takes them (sends after the server closed it are dropped). */
function flood(socket: RoomSocket, frame: (i: number) => string | Uint8Array): void {
  for (let i = 0; i < FRAMES; i++) {
    try {
      socket.ws.send(frame(i));
    } catch {
      return;
    }
  }
}

const isMessage = (f: { type: string }) => f.type === "message";

describe("a WebSocket flood", () => {
  it.each(Object.keys(kinds))(
    "of %s frames is closed with 1008 within ROOM_RATE_MESSAGES, and the others keep receiving",
    async (kind) => {
      const room = `flood-${crypto.randomUUID()}`;
      using ada = await RoomSocket.join(room, "ada");
      using bob = await RoomSocket.join(room, "bob");
      using flooder = await RoomSocket.join(room, "mallory");
      flood(flooder, kinds[kind] as (i: number) => string);
      expect(await flooder.closed(20_000)).toMatchObject({ code: 1008 });
      // At most ROOM_RATE_MESSAGES frames had an effect; the next was refused with a warning, the one after closed.
      const answered = flooder.frames.filter(
        (f) => f.type === "pong" || f.type === "ack" || (f.type === "error" && f.code === "bad-message"),
      );
      expect(answered.length).toBe(RATE);
      const warnings = flooder.frames.filter((f) => f.type === "error" && f.code === "rate-limited");
      expect(warnings).toHaveLength(1);
      expect((warnings[0] as ErrorFrame).message).toContain("ROOM_RATE_MESSAGES");
      const fromFlooder = ada.frames.filter((f) => isMessage(f) && (f as RoomMessage).from === "mallory");
      expect(fromFlooder.length).toBe(flooder.frames.filter((f) => f.type === "ack").length);
      // The room is still alive for everyone else.
      ada.send({ type: "message", data: "still here", id: "after" });
      const after = await bob.next<RoomMessage>((f) => isMessage(f) && (f as RoomMessage).id === "after");
      expect(after).toMatchObject({ from: "ada", data: "still here", seq: fromFlooder.length + 1 });
      expect(await ada.next((f) => f.type === "ack" && f.id === "after")).toMatchObject({ seq: after.seq });
    },
  );

  it("of binary frames is closed with 1003 at the first, and the others keep receiving", async () => {
    const room = `flood-${crypto.randomUUID()}`;
    using ada = await RoomSocket.join(room, "ada");
    using flooder = await RoomSocket.join(room, "mallory");
    flood(flooder, (i) => new Uint8Array([i & 0xff, 1, 2, 3]));
    expect(await flooder.closed(20_000)).toMatchObject({ code: 1003 });
    expect(flooder.frames.filter((f) => f.type !== "welcome")).toEqual([]);
    ada.send({ type: "message", data: "still here" });
    expect(await ada.next<RoomMessage>(isMessage)).toMatchObject({ seq: 1, from: "ada" });
  });
});
