/**
 * The rooms client (src/client/rooms.ts) in Node against the built worker on Miniflare, over real sockets:
 * typed events, resuming with `since` after a reconnection, buffering while connecting, a real job's progress told
 * apart from a member's look-alike.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WS, { WebSocketServer } from "ws";
import {
  type JobProgress,
  type PresenceChange,
  RoomClient,
  type RoomMessage,
  type WelcomeFrame,
} from "../../src/client/rooms.ts";
import { type JobsUpstream, startJobsUpstream } from "../setup/jobs-upstream.ts";
import { until } from "./support/until.ts";
import { useWorker } from "./support/worker.ts";

let upstream: JobsUpstream;
beforeAll(async () => {
  upstream = await startJobsUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

const worker = useWorker({ ROOM_TICKET_SECRET: "e2e-ticket-secret", FANOUT_ALLOW_HOSTS: "127.0.0.1" });

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
      const id = bob.client.send({ text: "hi ada" });
      await until(() => ada.messages.length === 1 && acks.length === 1, "the message and its ack");
      expect(ada.messages[0]).toMatchObject({ seq: 1, id, from: "bob", data: { text: "hi ada" } });
      expect(acks).toEqual([id]);
    } finally {
      for (const m of members) m.client.close();
    }
  });

  it("keeps its members from presence frames of both shapes: coalesced ones, and the one-change kind of older rooms", async () => {
    // A loopback server that speaks as an older room did, then as a newer one.
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    wss.on("connection", (ws) => {
      for (const frame of [
        { type: "welcome", self: { user: "ada", id: "c1" }, members: ["ada"], count: 1, lastSeq: 0, history: [] },
        { type: "presence", event: "joined", user: "bob", count: 2, members: ["ada", "bob"] },
        { type: "presence", joined: ["cy", "dee"], left: ["bob"], count: 3 },
        { type: "presence", event: "left", user: "cy", count: 2, members: ["ada", "dee"] },
      ]) {
        ws.send(JSON.stringify(frame));
      }
    });
    const { port } = wss.address() as { port: number };
    const client = new RoomClient({
      baseUrl: `http://127.0.0.1:${port}`,
      room: "lobby",
      user: "ada",
      getTicket: async () => "ticket",
      WebSocket: WS,
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
      client.close();
      await new Promise((resolve) => wss.close(resolve));
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
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    const urls: string[] = [];
    wss.on("connection", (ws, req) => {
      urls.push(req.url ?? "");
      if (urls.length === 1) {
        ws.send(JSON.stringify(welcome(3, [message(1), message(2), message(3)])));
        ws.close(1001, "going away");
      } else {
        ws.send(JSON.stringify(welcome(0, [])));
        ws.send(JSON.stringify(message(1)));
      }
    });
    const { port } = wss.address() as { port: number };
    const client = new RoomClient({
      baseUrl: `http://127.0.0.1:${port}`,
      room: "lobby",
      user: "ada",
      getTicket: async () => "ticket",
      WebSocket: WS,
      minReconnectionDelay: 1,
      maxReconnectionDelay: 10,
    });
    const seen: number[] = [];
    client.on("message", (m) => seen.push(m.seq));
    try {
      await until(() => seen.length === 4, "the new room's first message");
      expect(seen).toEqual([1, 2, 3, 1]);
      expect(urls[1]).toContain("since=3");
      expect(client.lastSeq).toBe(1);
    } finally {
      client.close();
      await new Promise((resolve) => wss.close(resolve));
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
