/**
 * Rooms under load: 200 `ws` clients in one room, 20 of them sending 10 messages each (200 messages, 40,000
 * deliveries). Measures delivery latency (send → receipt at each client, one clock: the bench process) p50/p99,
 * deliveries per second and the time 200 clients take to join, and counts the clients that received every message
 * once, in the room's order. Three servers in the same run, in alternating rounds (medians):
 *  - ours: the built bundle on Miniflare (tickets fetched before the join clock starts; their cost is its own row);
 *  - the platform's limit: a minimal hibernating broadcast Durable Object (bench/baselines/broadcast-room.js) on
 *    Miniflare, reached through a Worker as ours is;
 *  - a plain Node `ws` broadcast server (in its own thread).
 * Then the same load once through `wrangler dev` (port 8821) for the local-development figure.
 */
import { Worker } from "node:worker_threads";
import WebSocket from "ws";
import { type RunningWorker, startMiniflare, startWranglerDev } from "../scripts/lib/worker.ts";
import { startBaselineWorker } from "./lib/baseline-worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { withWorkerdCpu } from "./lib/workerd-cpu.ts";
import type { BenchContext } from "./run.ts";

const CLIENTS = 200;
const SENDERS = 20;
const PER_SENDER = 10;
const TOTAL = SENDERS * PER_SENDER;
const ROUNDS = Number(process.env.ROOMS_BENCH_ROUNDS ?? 3);

export interface Outcome {
  p50: number;
  p99: number;
  deliveriesPerSec: number;
  /** Clients that received every message exactly once, in strictly increasing seq, in the same order as the rest. */
  inOrder: number;
  deliveries: number;
  joinMs: number;
  /** CPU the server process spent joining the clients, and on the messages (NaN when not measured). */
  joinCpuMs: number;
  messagesCpuMs: number;
}

interface Frame {
  type: string;
  seq?: number;
  id?: string;
  data?: { t: number };
  count?: number;
}

/** A plain Node broadcast server: the seed's "set of clients + gather", numbering messages like a room does. */
const WS_SERVER = `
const { parentPort } = require("node:worker_threads");
const { WebSocketServer } = require(${JSON.stringify(new URL("../node_modules/ws/index.js", import.meta.url).pathname)});
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
let seq = 0;
wss.on("connection", (ws) => {
  ws.on("message", (raw) => {
    const frame = JSON.parse(raw.toString());
    const text = JSON.stringify({ type: "message", seq: ++seq, id: frame.id, from: "x", data: frame.data, ts: Date.now() });
    for (const client of wss.clients) if (client.readyState === 1) client.send(text);
    ws.send(JSON.stringify({ type: "ack", id: frame.id, seq }));
  });
});
wss.on("listening", () => parentPort.postMessage(wss.address().port));
`;

async function startWsServer(): Promise<{ url: string; stop: () => Promise<number> }> {
  const thread = new Worker(WS_SERVER, { eval: true });
  const port = await new Promise<number>((resolve) => thread.once("message", resolve));
  return { url: `ws://127.0.0.1:${port}/`, stop: () => thread.terminate() };
}

function open(url: string, onFrame: (f: Frame) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error("connect timeout")), 30_000);
    ws.on("message", (raw) => onFrame(JSON.parse(raw.toString()) as Frame));
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** How many clients, and how many of them send how many messages each (default: this file's 200, 20 × 10). */
export interface LoadShape {
  clients: number;
  senders: number;
  perSender: number;
  /** Paced: one message every `gapMs` (the senders in turn) instead of all at once. */
  gapMs?: number;
  /** Called once every client has joined (before the first message), and once every message has arrived. */
  beforeSend?: () => Promise<void>;
  afterDelivered?: () => Promise<void>;
}

/**
 * Connect a client to each of `urls` (20 at a time), wait, if `presence`, until every client has seen the whole
 * room, then run the send load, and measure.
 */
export async function runLoad(
  urls: string[],
  presence: boolean,
  cpu: () => number = () => Number.NaN,
  shape: LoadShape = { clients: CLIENTS, senders: SENDERS, perSender: PER_SENDER },
): Promise<Outcome> {
  const { clients: CLIENTS, senders: SENDERS, perSender: PER_SENDER } = shape;
  const TOTAL = SENDERS * PER_SENDER;
  const received: { seq: number; id: string; at: number; t: number }[][] = Array.from({ length: CLIENTS }, () => []);
  const seen = new Array<number>(CLIENTS).fill(0);
  const sockets: WebSocket[] = [];
  const joinStart = performance.now();
  const joinCpu = cpu();
  try {
    for (let batch = 0; batch < CLIENTS; batch += 20) {
      const opened = await Promise.all(
        urls.slice(batch, batch + 20).map((url, k) => {
          const i = batch + k;
          return open(url, (f) => {
            if (f.type === "message" && f.data && typeof f.seq === "number") {
              received[i]?.push({ seq: f.seq, id: f.id ?? "", at: performance.now(), t: f.data.t });
            } else if ((f.type === "welcome" || f.type === "presence") && typeof f.count === "number") {
              seen[i] = f.count;
            }
          });
        }),
      );
      sockets.push(...opened);
    }
    // Every client has seen the whole room (the presence of 200 joins is over) before the clock stops.
    if (presence) await until(() => seen.every((n) => n === CLIENTS), "presence to settle");
    const joinMs = performance.now() - joinStart;
    await shape.beforeSend?.();
    const messagesCpu = cpu();

    const start = performance.now();
    const sendOne = (s: number, n: number) =>
      (sockets[s * Math.floor(CLIENTS / SENDERS)] as WebSocket).send(
        JSON.stringify({ type: "message", id: `s${s}-${n}`, data: { t: performance.now() } }),
      );
    if (shape.gapMs === undefined) {
      for (let s = 0; s < SENDERS; s++) for (let n = 0; n < PER_SENDER; n++) sendOne(s, n);
    } else {
      for (let n = 0; n < PER_SENDER; n++) {
        for (let s = 0; s < SENDERS; s++) {
          sendOne(s, n);
          await new Promise((r) => setTimeout(r, shape.gapMs));
        }
      }
    }
    await until(() => received.every((r) => r.length >= TOTAL), "every delivery");
    const end = Math.max(...received.flatMap((r) => r.map((m) => m.at)));
    const endCpu = cpu();
    // A duplicate would arrive right behind the last message: give it the time to, so that it is counted.
    await new Promise((r) => setTimeout(r, 50));
    await shape.afterDelivered?.();

    // Every client got every message once, in strictly increasing seq, in the same order as everyone else.
    const reference = received[0]?.map((m) => m.id).join(",");
    const inOrder = received.filter(
      (r) =>
        r.length === TOTAL &&
        r.every((m, k) => k === 0 || m.seq > (r[k - 1] as { seq: number }).seq) &&
        r.map((m) => m.id).join(",") === reference,
    ).length;
    const latencies = received.flatMap((r) => r.map((m) => m.at - m.t));
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      deliveriesPerSec: (CLIENTS * TOTAL) / ((end - start) / 1000),
      inOrder,
      deliveries: latencies.length,
      joinMs,
      joinCpuMs: messagesCpu - joinCpu,
      messagesCpuMs: endCpu - messagesCpu,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

export const ROOM_VARS = { ROOM_TICKET_SECRET: "bench-ticket-secret", ROOM_MAX_CONNECTIONS: String(CLIENTS) };

/** A fresh room on `worker` (or `room`) with one ticket per client; returns the URLs and how long the tickets took. */
export async function tickets(
  worker: RunningWorker,
  clients = CLIENTS,
  room = `bench-${crypto.randomUUID()}`,
): Promise<{ urls: string[]; ms: number }> {
  const CLIENTS = clients;
  const started = performance.now();
  const urls: string[] = [];
  for (let batch = 0; batch < CLIENTS; batch += 20) {
    const got = await Promise.all(
      Array.from({ length: Math.min(20, CLIENTS - batch) }, async (_, k) => {
        const res = await fetch(`${worker.url}/v1/rooms/${room}/tickets`, {
          method: "POST",
          headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
          body: JSON.stringify({ user: `user${batch + k}` }),
        });
        if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`);
        return ((await res.json()) as { url: string }).url;
      }),
    );
    urls.push(...got);
  }
  return { urls, ms: performance.now() - started };
}

/** The load against our room on `worker`: tickets first (timed apart), then the sockets. */
export async function roomLoad(
  worker: RunningWorker & { cpuMs?: () => number },
): Promise<Outcome & { ticketsMs: number }> {
  const { urls, ms } = await tickets(worker);
  return { ...(await runLoad(urls, true, worker.cpuMs)), ticketsMs: ms };
}

type Figure = "p50" | "p99" | "deliveriesPerSec" | "joinMs" | "joinCpuMs" | "messagesCpuMs";
const FIGURES: { key: Figure; label: string; digits: number; higherIsBetter?: true; vsWs: string; vsMin: string }[] = [
  { key: "p50", label: "delivery latency p50 (ms)", digits: 1, vsWs: "", vsMin: "≤ 1.2" },
  { key: "p99", label: "delivery latency p99 (ms)", digits: 1, vsWs: "≤ 1.5", vsMin: "≤ 1.2" },
  {
    key: "deliveriesPerSec",
    label: "messages delivered / s",
    digits: 0,
    higherIsBetter: true,
    vsWs: "≥ 0.7",
    vsMin: "≥ 0.83 (≤ 1.2 × its time)",
  },
  { key: "joinMs", label: `time for ${CLIENTS} clients to join (ms)`, digits: 0, vsWs: "≤ 3", vsMin: "≤ 1.2" },
];

export default async function rooms(ctx: BenchContext): Promise<string[]> {
  const ours = await withWorkerdCpu(() => startMiniflare(ctx.bundle, ROOM_VARS));
  const minimal = await withWorkerdCpu(() =>
    startBaselineWorker(new URL("./baselines/broadcast-room.js", import.meta.url).pathname, { ROOM: "BroadcastRoom" }),
  );
  const minimalLoad = (room: string) =>
    runLoad(Array(CLIENTS).fill(`${minimal.url.replace(/^http/, "ws")}/${room}`), false, minimal.cpuMs);
  const wsServer = await startWsServer();
  const runs: { ours: (Outcome & { ticketsMs: number })[]; minimal: Outcome[]; ws: Outcome[] } = {
    ours: [],
    minimal: [],
    ws: [],
  };
  try {
    // A warm-up round of each (JIT, first object instance), not counted.
    await roomLoad(ours);
    await minimalLoad("warm-up");
    await runLoad(Array(CLIENTS).fill(wsServer.url), false);
    for (let r = 0; r < ROUNDS; r++) {
      runs.ours.push(await roomLoad(ours));
      runs.minimal.push(await minimalLoad(`round-${r}`));
      runs.ws.push(await runLoad(Array(CLIENTS).fill(wsServer.url), false));
    }
  } finally {
    await ours.stop();
    await minimal.stop();
    await wsServer.stop();
  }
  const rows = table(runs);
  if (process.env.ROOMS_BENCH_WRANGLER === "0") return rows;
  const dev = await startWranglerDev(8821, ROOM_VARS);
  let throughWrangler: Outcome;
  try {
    throughWrangler = await roomLoad(dev);
  } finally {
    await dev.stop();
  }
  const oursMed = (key: Figure) => median(runs.ours.map((o) => o[key]));
  return [
    ...rows,
    "",
    "The same load through `wrangler dev` (which adds a proxy hop), one round:",
    "",
    "| figure | edgeloop room (wrangler dev) | wrangler dev / Miniflare |",
    "| --- | --- | --- |",
    ...FIGURES.map(
      ({ key, label, digits }) =>
        `| ${label} | ${round(throughWrangler[key], digits)} | ${round(throughWrangler[key] / oursMed(key))} |`,
    ),
    `| clients that received all ${TOTAL} messages once, in the room's order | ${throughWrangler.inOrder} / ${CLIENTS} | |`,
  ];
}

/** The three servers' medians side by side, with each ratio beside its target. */
function table(runs: { ours: (Outcome & { ticketsMs: number })[]; minimal: Outcome[]; ws: Outcome[] }): string[] {
  const med = (list: Outcome[], key: Figure) => median(list.map((o) => o[key]));
  const rows = FIGURES.map(({ key, label, digits, vsWs, vsMin }) => {
    const [o, m, w] = [med(runs.ours, key), med(runs.minimal, key), med(runs.ws, key)];
    const cell = (ratio: number, target: string) => `${round(ratio)}${target ? ` (target ${target})` : ""}`;
    return `| ${label} | ${round(o, digits)} | ${round(m, digits)} | ${round(w, digits)} | ${cell(o / w, vsWs)} | ${cell(o / m, vsMin)} |`;
  });
  const cpuCell = (list: Outcome[]) => `${round(med(list, "joinCpuMs"), 0)} / ${round(med(list, "messagesCpuMs"), 0)}`;
  const counted = (list: Outcome[]) =>
    `${list.map((o) => o.inOrder).join(", ")} of ${CLIENTS}; ${list.map((o) => o.deliveries).join(", ")}`;
  return [
    `${CLIENTS} clients in one room, ${SENDERS} of them sending ${PER_SENDER} messages each (${TOTAL} messages, ${CLIENTS * TOTAL} deliveries); \`ws\` clients in the bench process. ${ROUNDS} alternating rounds after a warm-up, medians. Joining is timed from the first connection until every client has seen all ${CLIENTS} (for ours: from its welcome and presence frames); our tickets are fetched before that clock starts.`,
    "",
    "| figure | edgeloop room (Miniflare, built bundle) | minimal hibernating broadcast Durable Object | Node `ws` broadcast server | ours / `ws` | ours / minimal DO |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    `| clients that received all ${TOTAL} messages once, in the room's order; deliveries counted (each round) | ${counted(runs.ours)} | ${counted(runs.minimal)} | ${counted(runs.ws)} | | |`,
    `| workerd CPU ms: joining / the ${TOTAL} messages | ${cpuCell(runs.ours)} | ${cpuCell(runs.minimal)} | | | ${round(med(runs.ours, "joinCpuMs") / med(runs.minimal, "joinCpuMs"))} / ${round(med(runs.ours, "messagesCpuMs") / med(runs.minimal, "messagesCpuMs"))} |`,
    `| ${CLIENTS} tickets (POST …/tickets, 20 at a time), ms | ${round(median(runs.ours.map((o) => o.ticketsMs)), 0)} | | | | |`,
  ];
}
