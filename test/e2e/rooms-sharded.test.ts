/**
 * A room over 4 shards with 400 members, against the built worker on Miniflare over real sockets (too many sockets
 * for the workers pool): the members spread over the shards by user, 8 senders' 40 messages reach every member once,
 * in seq order and in the same order everywhere (counted), and presence counts are room-wide after the joins and
 * after 100 leave.
 */
import { describe, expect, it } from "vitest";
import WS from "ws";
import { until } from "./support/until.ts";
import { useWorker } from "./support/worker.ts";

const CLIENTS = 400;
const SHARDS = 4;
const SENDERS = 8;
const PER_SENDER = 5;
const TOTAL = SENDERS * PER_SENDER;

const worker = useWorker({ ROOM_TICKET_SECRET: "e2e-ticket-secret", ROOM_MAX_CONNECTIONS: String(CLIENTS) });

interface Frame {
  type: string;
  seq?: number;
  id?: string;
  count?: number;
  joined?: string[];
  left?: string[];
}

interface Client {
  user: string;
  ws: WS;
  frames: Frame[];
  /** The member count of its latest welcome or presence frame. */
  count: () => number;
  messages: () => Frame[];
}

async function connect(room: string, user: string): Promise<Client> {
  const res = await worker.api(`/v1/rooms/${room}/tickets`, { method: "POST", json: { user } });
  expect(res.status).toBe(201);
  const { url } = (await res.json()) as { url: string };
  const frames: Frame[] = [];
  const ws = new WS(url);
  ws.on("message", (raw) => frames.push(JSON.parse(raw.toString()) as Frame));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const client: Client = {
    user,
    ws,
    frames,
    count: () => frames.findLast((f) => f.type === "welcome" || f.type === "presence")?.count ?? 0,
    messages: () => frames.filter((f) => f.type === "message"),
  };
  await until(() => frames.some((f) => f.type === "welcome"), `${user}'s welcome`, { timeoutMs: 30_000 });
  return client;
}

describe("a room over 4 shards with 400 members", () => {
  it("delivers every message to every member once in seq order, and counts presence room-wide", async () => {
    const room = `sharded-${crypto.randomUUID()}`;
    const put = await worker.api(`/v1/rooms/${room}/shards`, { method: "PUT", json: { shards: SHARDS } });
    expect(put.status).toBe(200);
    const clients: Client[] = [];
    try {
      for (let batch = 0; batch < CLIENTS; batch += 20) {
        const users = Array.from({ length: 20 }, (_, k) => `member-${batch + k}`);
        clients.push(...(await Promise.all(users.map((user) => connect(room, user)))));
      }
      const info = async () =>
        (await (await worker.api(`/v1/rooms/${room}`)).json()) as {
          count: number;
          connections: number;
          sockets: number[];
        };
      const joined = await info();
      expect(joined).toMatchObject({ count: CLIENTS, connections: CLIENTS });
      expect(joined.sockets).toHaveLength(SHARDS);
      expect(joined.sockets.reduce((a, b) => a + b, 0)).toBe(CLIENTS);
      // Spread by user: every shard holds a share (none empty, none with more than half).
      for (const n of joined.sockets) expect(n).toBeGreaterThan(CLIENTS / SHARDS / 2);
      await until(() => clients.every((c) => c.count() === CLIENTS), "every member to count 400", {
        timeoutMs: 30_000,
      });

      const senders = Array.from({ length: SENDERS }, (_, s) => clients[s * (CLIENTS / SENDERS)] as Client);
      for (let n = 0; n < PER_SENDER; n++) {
        senders.forEach((c, s) => {
          c.ws.send(JSON.stringify({ type: "message", id: `s${s}-${n}`, data: { s, n } }));
        });
      }
      await until(() => clients.every((c) => c.messages().length >= TOTAL), "every delivery", { timeoutMs: 60_000 });
      const reference = (clients[0] as Client).messages().map((m) => m.id);
      const inOrder = clients.filter((c) => {
        const got = c.messages();
        return (
          got.length === TOTAL &&
          got.every((m, k) => m.seq === k + 1) &&
          got.map((m) => m.id).join() === reference.join()
        );
      });
      expect(inOrder.length).toBe(CLIENTS);
      const acks = senders.flatMap((c) => c.frames.filter((f) => f.type === "ack"));
      expect(acks.map((a) => a.seq).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
        Array.from({ length: TOTAL }, (_, k) => k + 1),
      );

      // 100 leave, from every shard.
      const leaving = clients.splice(CLIENTS - 100, 100);
      for (const c of leaving) c.ws.close();
      await until(() => clients.every((c) => c.count() === CLIENTS - 100), "every member to count 300", {
        timeoutMs: 30_000,
      });
      const gone = new Set((clients[0] as Client).frames.flatMap((f) => f.left ?? []));
      expect([...gone].sort()).toEqual(leaving.map((c) => c.user).sort());
      expect(await info()).toMatchObject({ count: CLIENTS - 100, connections: CLIENTS - 100 });
    } finally {
      for (const c of clients) c.ws.terminate();
    }
  }, 180_000);
});
