/**
 * The rooms client (src/client/rooms.ts) in Node against the built worker on Miniflare, over real sockets: the
 * asyncio-like face (`ready`, `send()` resolving with the ack, `for await` over messages and presence, `await using`
 * and `close()`), refusals of a join and of a message as errors with the problem's type, typed events, resuming with
 * `since` after a reconnection, buffering while connecting, a real job's progress told apart from a member's
 * look-alike; in a room of the poll kind, the room's replies and its refusals with their status.
 */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import WS, { WebSocketServer } from "ws";
import { createClient } from "../../src/client/client.ts";
import { EdgeloopError, RoomClosedError } from "../../src/client/errors.ts";
import {
  type JobProgress,
  type PollState,
  type PresenceChange,
  pollOf,
  RoomClient,
  type RoomClientOptions,
  type RoomMessage,
  type WelcomeFrame,
} from "../../src/client/rooms.ts";
import { startJobsUpstream } from "../setup/jobs-upstream.ts";
import { until } from "./support/until.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const upstream = useUpstream(startJobsUpstream);

const worker = useWorker({
  ROOM_TICKET_SECRET: "e2e-ticket-secret",
  FANOUT_ALLOW_HOSTS: "127.0.0.1",
  ROOM_MAX_SOCKETS_PER_USER: "2",
  ROOM_RATE_MESSAGES: "5",
  ROOM_MAX_MESSAGE_BYTES: "1024",
});

/**
 * A loopback server standing in for a room (`onConnection` says what it sends), and a RoomClient of it as "ada"
 * (`options` added); `close` closes both.
 */
async function standIn(
  onConnection: (ws: WS, req: IncomingMessage) => void,
  options: Partial<RoomClientOptions> = {},
): Promise<{ client: RoomClient; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  wss.on("connection", onConnection);
  const { port } = wss.address() as { port: number };
  const client = new RoomClient({
    baseUrl: `http://127.0.0.1:${port}`,
    room: "lobby",
    user: "ada",
    getTicket: async () => "ticket",
    WebSocket: WS,
    ...options,
  });
  const close = async () => {
    client.close();
    await new Promise((resolve) => wss.close(resolve));
  };
  return { client, close };
}

function member(room: string, user: string) {
  const tickets: string[] = [];
  // Counts the tickets the client asks for: one per connection, as each opens one socket only.
  const countingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).endsWith("/tickets")) tickets.push(((await res.clone().json()) as { ticket: string }).ticket);
    return res;
  };
  const client = new RoomClient({
    baseUrl: worker.url,
    room,
    user,
    token: worker.token,
    WebSocket: WS,
    fetch: countingFetch,
  });
  const messages: RoomMessage[] = [];
  const presence: PresenceChange[] = [];
  const welcomes: WelcomeFrame[] = [];
  client.on("message", (m) => messages.push(m));
  client.on("presence", (p) => presence.push(p));
  client.on("welcome", (w) => welcomes.push(w));
  return { client, messages, presence, tickets, welcomes: () => welcomes.length, welcomeFrames: welcomes };
}

async function publish(room: string, data: unknown): Promise<number> {
  const res = await worker.api(`/v1/rooms/${room}/messages`, { method: "POST", json: { data } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { seq: number }).seq;
}

/** The room as the API reports it: who is there, how many sockets. */
async function roomInfo(room: string): Promise<{ members: string[]; connections: number; lastSeq: number }> {
  const res = await worker.api(`/v1/rooms/${room}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { members: string[]; connections: number; lastSeq: number };
}

const client = () => createClient({ baseUrl: worker.url, token: worker.token, WebSocket: WS });

describe("RoomClient, the way asyncio's websockets reads", () => {
  it("await ready (the welcome), await send (the ack), for await over messages, ended by close()", async () => {
    const room = `client-${crypto.randomUUID()}`;
    await publish(room, "before ada");
    const ada = client().room(room, "ada");
    const bob = client().room(room, "bob");
    try {
      const welcome = await ada.ready;
      expect(welcome).toMatchObject({ type: "welcome", self: { user: "ada" }, lastSeq: 1 });
      expect(welcome.history.map((m) => m.data)).toEqual(["before ada"]);
      await bob.ready;
      const sent = await bob.send({ text: "hi ada" });
      expect(sent).toEqual({ type: "ack", id: expect.any(String), seq: 2 });
      const second = await ada.send("hi bob", "ada-1");
      expect(second).toEqual({ type: "ack", id: "ada-1", seq: 3 });

      // The loop starts after ready resolved and still gets the history that came with the welcome.
      const read: unknown[] = [];
      for await (const message of ada) {
        read.push([message.seq, message.from, message.data]);
        if (message.seq === 3) break;
      }
      expect(read).toEqual([
        [1, "server", "before ada"],
        [2, "bob", { text: "hi ada" }],
        [3, "ada", "hi bob"],
      ]);

      // A loop running when the room is closed ends (no error), and sends after it reject.
      const ended = (async () => {
        const seqs: number[] = [];
        for await (const message of bob) seqs.push(message.seq);
        return seqs;
      })();
      await until(async () => (await roomInfo(room)).lastSeq === 3, "the room at seq 3");
      await bob.close();
      // bob's first loop: the history of his welcome, then what came after.
      expect(await ended).toEqual([1, 2, 3]);
      await expect(bob.send("too late")).rejects.toBeInstanceOf(RoomClosedError);
      await until(async () => (await roomInfo(room)).members.join() === "ada", "bob gone from the room");
    } finally {
      await ada.close();
      await bob.close();
    }
  });

  it("await using closes the socket at the end of the block", async () => {
    const room = `client-${crypto.randomUUID()}`;
    {
      await using ada = client().room(room, "ada");
      await ada.ready;
      expect((await roomInfo(room)).connections).toBe(1);
    }
    await until(async () => (await roomInfo(room)).connections === 0, "the socket closed by dispose");
  });

  it("presence as its own async iterable: who joined and left, with the members after", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const ada = client().room(room, "ada");
    try {
      await ada.ready;
      const changes = ada.presence()[Symbol.asyncIterator]();
      const bob = client().room(room, "bob");
      await bob.ready;
      expect((await changes.next()).value).toEqual({ joined: ["bob"], left: [], count: 2, members: ["ada", "bob"] });
      await bob.close();
      expect((await changes.next()).value).toEqual({ joined: [], left: ["bob"], count: 1, members: ["ada"] });
      await ada.close();
      expect(await changes.next()).toEqual({ done: true, value: undefined });
    } finally {
      await ada.close();
    }
  });

  it("ready rejects with the refusal's problem type: ticket-used, too-many-sockets, origin-not-allowed, a refused ticket", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const res = await worker.api(`/v1/rooms/${room}/tickets`, { method: "POST", json: { user: "ada" } });
    const { ticket } = (await res.json()) as { ticket: string };
    // A getTicket that hands out the same ticket twice: the second join is refused.
    const reuse = () =>
      new RoomClient({ baseUrl: worker.url, room, user: "ada", getTicket: async () => ticket, WebSocket: WS });
    const first = reuse();
    const second = reuse();
    const holders = [first];
    try {
      await first.ready;
      const used = await second.ready.catch((e: unknown) => e);
      expect(used).toBeInstanceOf(EdgeloopError);
      expect(used).toMatchObject({
        type: "urn:edgeloop:problem:ticket-used",
        status: 401,
        detail: expect.stringContaining("a ticket opens one socket"),
      });
      // A refused join closes the client: its loops end with the refusal, its sends reject.
      await expect(second[Symbol.asyncIterator]().next()).rejects.toBe(used);
      await expect(second.send("x")).rejects.toBe(used);

      // ROOM_MAX_SOCKETS_PER_USER is 2 here: ada's third socket is refused.
      holders.push(client().room(room, "ada"));
      await holders[1]?.ready;
      await expect(client().room(room, "ada").ready).rejects.toMatchObject({
        type: "urn:edgeloop:problem:too-many-sockets",
        status: 429,
      });

      // A browser on an origin the service does not allow (its WebSocket sends that Origin).
      class FromElsewhere extends WS {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { origin: "https://elsewhere.example" });
        }
      }
      const foreign = client().room(room, "eve", { WebSocket: FromElsewhere });
      await expect(foreign.ready).rejects.toMatchObject({
        type: "urn:edgeloop:problem:origin-not-allowed",
        status: 403,
        detail: expect.stringContaining("ROOM_ALLOWED_ORIGINS"),
      });

      // A ticket the service will not issue (a reserved name) rejects with its problem as well.
      await expect(client().room(room, "server").ready).rejects.toMatchObject({
        type: "urn:edgeloop:problem:invalid-request",
        status: 400,
      });
      expect((await roomInfo(room)).members).toEqual(["ada"]);
    } finally {
      for (const holder of holders) await holder.close();
    }
  });

  it("send rejects when the room refuses the message: rate-limited (by id), then closed for a frame too large", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const ada = client().room(room, "ada");
    try {
      await ada.ready;
      // ROOM_RATE_MESSAGES is 5 here: the 6th frame of the window is refused, the others acknowledged.
      const sends = Array.from({ length: 6 }, (_, i) => ada.send(i, `m${i + 1}`));
      const settled = await Promise.allSettled(sends);
      expect(settled.slice(0, 5).map((s) => s.status === "fulfilled" && s.value.seq)).toEqual([1, 2, 3, 4, 5]);
      const refused = settled[5];
      expect(refused?.status).toBe("rejected");
      expect(refused?.status === "rejected" && refused.reason).toMatchObject({
        type: "urn:edgeloop:problem:rate-limited",
        status: 429,
        detail: expect.stringContaining("ROOM_RATE_MESSAGES"),
      });
    } finally {
      await ada.close();
    }
    const bob = client().room(room, "bob");
    try {
      await bob.ready;
      // ROOM_MAX_MESSAGE_BYTES is 1024: the room closes the socket with 1009, and the client does not reconnect.
      const tooBig = await bob.send("x".repeat(2_000)).catch((e: unknown) => e);
      expect(tooBig).toBeInstanceOf(RoomClosedError);
      expect(tooBig).toMatchObject({ code: 1009, reason: expect.stringContaining("ROOM_MAX_MESSAGE_BYTES") });
    } finally {
      await bob.close();
    }
  });

  it("in a poll room: ready carries the room's reply, send resolves with the answer to the sender and rejects with the kind's refusal", async () => {
    const room = `poll:${crypto.randomUUID()}`;
    const ada = client().room(room, "ada");
    const polls: (PollState | undefined)[] = [];
    ada.on("message", (m) => polls.push(pollOf(m)));
    try {
      expect((await ada.ready).reply).toEqual({ poll: null });
      expect(await ada.send({ open: { question: "Q?", options: ["a", "b"], voters: ["ada"] } }, "o")).toEqual({
        type: "ack",
        id: "o",
        seq: 1,
      });
      expect(await ada.send({ vote: 1 }, "v")).toEqual({ type: "ack", id: "v", seq: 2, reply: { voted: 1 } });
      const again = await ada.send({ vote: 0 }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(EdgeloopError);
      expect(again).toMatchObject({
        type: "urn:edgeloop:problem:already-voted",
        status: 409,
        detail: "ada has voted in this poll already: one vote each.",
      });
      await until(async () => polls.length === 2, "both tallies");
      expect(polls.map((p) => p?.tallies)).toEqual([
        [0, 0],
        [0, 1],
      ]);
      // The poll is for ada only: bob's join is refused with the kind's problem.
      await expect(client().room(room, "bob").ready).rejects.toMatchObject({
        type: "urn:edgeloop:problem:not-a-voter",
        status: 403,
        detail: "This poll is for ada only.",
      });
    } finally {
      await ada.close();
    }
  });
});

describe("RoomClient", () => {
  it("joins with a ticket it asks for, sees presence, and receives what others send", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const ada = member(room, "ada");
    const members = [ada];
    try {
      // Ada is in before Bob connects, so she sees him join (rather than finding him in her welcome).
      await until(() => ada.welcomes() === 1, "ada's welcome");
      const bob = member(room, "bob");
      members.push(bob);
      await until(() => bob.welcomes() === 1, "bob's welcome");
      await until(() => ada.client.members.length === 2, "ada to see bob");
      expect(ada.presence).toEqual([{ joined: ["bob"], left: [], count: 2, members: ["ada", "bob"] }]);
      const acks: string[] = [];
      bob.client.on("ack", (a) => acks.push(a.id));
      const ack = await bob.client.send({ text: "hi ada" });
      await until(() => ada.messages.length === 1 && acks.length === 1, "the message, and the ack frame");
      expect(ada.messages[0]).toMatchObject({ seq: 1, id: ack.id, from: "bob", data: { text: "hi ada" } });
      expect(ack).toEqual({ type: "ack", id: ack.id, seq: 1 });
      expect(acks).toEqual([ack.id]);
    } finally {
      for (const m of members) m.client.close();
    }
  });

  it("keeps its members from presence frames of both shapes: coalesced ones, and the one-change kind of older rooms", async () => {
    // A loopback server that speaks as an older room did, then as a newer one.
    const { client, close } = await standIn((ws) => {
      for (const frame of [
        { type: "welcome", self: { user: "ada", id: "c1" }, members: ["ada"], count: 1, lastSeq: 0, history: [] },
        { type: "presence", event: "joined", user: "bob", count: 2, members: ["ada", "bob"] },
        { type: "presence", joined: ["cy", "dee"], left: ["bob"], count: 3 },
        { type: "presence", event: "left", user: "cy", count: 2, members: ["ada", "dee"] },
      ]) {
        ws.send(JSON.stringify(frame));
      }
    });
    const seen: PresenceChange[] = [];
    client.on("presence", (p) => seen.push(p));
    try {
      await until(() => seen.length === 3, "three presence events");
      expect(seen).toEqual([
        { joined: ["bob"], left: [], count: 2, members: ["ada", "bob"] },
        { joined: ["cy", "dee"], left: ["bob"], count: 3, members: ["ada", "cy", "dee"] },
        { joined: [], left: ["cy"], count: 2, members: ["ada", "dee"] },
      ]);
      expect(client.members).toEqual(["ada", "dee"]);
    } finally {
      await close();
    }
  });

  it("counts seqs again in a room that was forgotten after its retention, so its new messages are not dropped", async () => {
    // A loopback server that speaks as a room does: seqs 1-3, then (reconnected) a room that started over.
    const message = (seq: number) => ({
      type: "message",
      seq,
      id: `m${seq}`,
      from: "ci",
      server: true,
      data: seq,
      ts: 0,
    });
    const welcome = (lastSeq: number, history: unknown[]) => ({
      type: "welcome",
      self: { user: "ada", id: "c" },
      members: ["ada"],
      count: 1,
      lastSeq,
      history,
    });
    const urls: string[] = [];
    const { client, close } = await standIn(
      (ws, req) => {
        urls.push(req.url ?? "");
        if (urls.length === 1) {
          ws.send(JSON.stringify(welcome(3, [message(1), message(2), message(3)])));
          ws.close(1001, "going away");
        } else {
          ws.send(JSON.stringify(welcome(0, [])));
          ws.send(JSON.stringify(message(1)));
        }
      },
      { minReconnectionDelay: 1, maxReconnectionDelay: 10 },
    );
    const seen: number[] = [];
    client.on("message", (m) => seen.push(m.seq));
    try {
      await until(() => seen.length === 4, "the new room's first message");
      expect(seen).toEqual([1, 2, 3, 1]);
      expect(urls[1]).toContain("since=3");
      expect(client.lastSeq).toBe(1);
    } finally {
      await close();
    }
  });

  it("resumes after a reconnection with since: what it missed arrives once, in order", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const ada = member(room, "ada");
    try {
      await until(() => ada.welcomes() === 1, "welcome");
      await publish(room, "m1");
      await until(() => ada.messages.length === 1, "m1");
      ada.client.close();
      await publish(room, "m2");
      await publish(room, "m3");
      ada.client.reconnect();
      await until(() => ada.messages.length === 3, "m2 and m3");
      await until(() => ada.welcomes() === 2, "second welcome");
      expect(ada.messages.map((m) => [m.seq, m.data])).toEqual([
        [1, "m1"],
        [2, "m2"],
        [3, "m3"],
      ]);
      expect(ada.client.lastSeq).toBe(3);
      // The second connection asked for what came after seq 1 only.
      expect(ada.welcomeFrames[1]?.history.map((m) => m.seq)).toEqual([2, 3]);
      // Each connection with a ticket of its own (tickets are single-use).
      expect(ada.tickets).toHaveLength(2);
      expect(new Set(ada.tickets).size).toBe(2);
    } finally {
      ada.client.close();
    }
  });

  it("buffers what is sent while it connects and sends it once the socket opens", async () => {
    const room = `client-${crypto.randomUUID()}`;
    const ada = member(room, "ada");
    try {
      ada.client.send("early 1");
      ada.client.send("early 2");
      await until(() => ada.messages.length === 2, "the buffered messages");
      expect(ada.messages.map((m) => m.data)).toEqual(["early 1", "early 2"]);
    } finally {
      ada.client.close();
    }
  });

  it("delivers a real job's progress as jobProgress, and a member's look-alike only as a message with server: false", async () => {
    const run = crypto.randomUUID();
    const res = await worker.api("/v1/jobs", {
      method: "POST",
      headers: { "idempotency-key": run },
      json: {
        type: "fanout",
        requests: [0, 1, 2].map((i) => ({ url: `${upstream.url}/${run}/${i}` })),
      },
    });
    expect(res.status).toBe(202);
    const { id, room } = (await res.json()) as { id: string; room: string };
    const watcher = member(room, "watcher");
    const progress: JobProgress[] = [];
    watcher.client.on("jobProgress", (p) => progress.push(p));
    const mallory = member(room, "mallory");
    try {
      await until(() => mallory.welcomes() === 1, "mallory's welcome");
      mallory.client.send({ kind: "job-progress", id, state: "failed", total: 999, done: 0, failed: 999 });
      await until(() => watcher.messages.some((m) => m.from === "mallory"), "mallory's look-alike");
      await until(() => progress.some((p) => p.state === "succeeded"), "the job's final progress", {
        timeoutMs: 20_000,
      });
      expect(watcher.messages.find((m) => m.from === "mallory")).toMatchObject({ server: false });
      expect(progress.every((p) => p.id === id && p.total === 3)).toBe(true);
      expect(progress.at(-1)).toEqual({ kind: "job-progress", id, state: "succeeded", total: 3, done: 3, failed: 0 });
      const fromJobs = watcher.messages.filter((m) => m.from === "jobs");
      expect(fromJobs.length).toBe(progress.length);
      expect(fromJobs.every((m) => m.server)).toBe(true);
    } finally {
      watcher.client.close();
      mallory.client.close();
    }
  });
});
