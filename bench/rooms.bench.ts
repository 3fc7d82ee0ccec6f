/**
 * Rooms under load: 200 `ws` clients in one room, 20 of them sending 10 messages each (200 messages, 40,000
 * deliveries). Measures delivery latency (send → receipt at each client, one clock: the bench process) p50/p99 and
 * deliveries per second, and counts the clients that received every message in the room's order. The same load
 * runs against a plain Node `ws` broadcast server (in its own thread) in the same run, as the baseline, and
 * through `wrangler dev` (port 8821) for the local-development figure.
 */
import { Worker } from "node:worker_threads";
import WebSocket from "ws";
import { type RunningWorker, startMiniflare, startWranglerDev } from "../scripts/lib/worker.ts";
import { percentile, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const CLIENTS = 200;
const SENDERS = 20;
const PER_SENDER = 10;
const TOTAL = SENDERS * PER_SENDER;

interface Outcome {
  latencies: number[];
  deliveriesPerSec: number;
  inOrder: number;
  joinMs: number;
}

interface Frame {
  type: string;
  seq?: number;
  id?: string;
  data?: { t: number };
  count?: number;
}

/** A plain Node broadcast server: the seed's "set of clients + gather", numbering messages like a room does. */
const BASELINE_SERVER = `
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

async function startBaseline(): Promise<{ url: string; stop: () => Promise<number> }> {
  const thread = new Worker(BASELINE_SERVER, { eval: true });
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
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Connect CLIENTS sockets to the URLs `urlFor` gives, run the send load, and measure. */
async function runLoad(urlFor: (i: number) => Promise<string>, presence: boolean): Promise<Outcome> {
  const received: { seq: number; id: string; at: number; t: number }[][] = Array.from({ length: CLIENTS }, () => []);
  const seen = new Array<number>(CLIENTS).fill(0);
  const sockets: WebSocket[] = [];
  const joinStart = performance.now();
  try {
    for (let batch = 0; batch < CLIENTS; batch += 20) {
      const opened = await Promise.all(
        Array.from({ length: Math.min(20, CLIENTS - batch) }, async (_, k) => {
          const i = batch + k;
          return open(await urlFor(i), (f) => {
            if (f.type === "message" && f.data && typeof f.seq === "number") {
              received[i]?.push({ seq: f.seq, id: f.id ?? "", at: performance.now(), t: f.data.t });
            } else if ((f.type === "welcome" || f.type === "presence") && typeof f.count === "number") {
              seen[i] = Math.max(seen[i] ?? 0, f.count);
            }
          });
        }),
      );
      sockets.push(...opened);
    }
    // Every client has seen the whole room (the presence storm of 200 joins is over) before the clock starts.
    if (presence) await until(() => seen.every((n) => n === CLIENTS), "presence to settle");
    const joinMs = performance.now() - joinStart;

    const start = performance.now();
    for (let s = 0; s < SENDERS; s++) {
      const ws = sockets[s * Math.floor(CLIENTS / SENDERS)] as WebSocket;
      for (let n = 0; n < PER_SENDER; n++) {
        ws.send(JSON.stringify({ type: "message", id: `s${s}-${n}`, data: { t: performance.now() } }));
      }
    }
    await until(() => received.every((r) => r.length >= TOTAL), "every delivery");
    const end = Math.max(...received.flatMap((r) => r.map((m) => m.at)));

    // Every client got every message once, in strictly increasing seq, in the same order as everyone else.
    const reference = received[0]?.map((m) => m.id).join(",");
    const inOrder = received.filter(
      (r) =>
        r.length === TOTAL &&
        r.every((m, k) => k === 0 || m.seq > (r[k - 1] as { seq: number }).seq) &&
        r.map((m) => m.id).join(",") === reference,
    ).length;
    return {
      latencies: received.flatMap((r) => r.map((m) => m.at - m.t)),
      deliveriesPerSec: (CLIENTS * TOTAL) / ((end - start) / 1000),
      inOrder,
      joinMs,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

const ROOM_VARS = { ROOM_TICKET_SECRET: "bench-ticket-secret", ROOM_MAX_CONNECTIONS: String(CLIENTS) };

/** The load against one running worker, each client with its own ticket. */
async function roomLoad(worker: RunningWorker): Promise<Outcome> {
  const room = `bench-${Date.now()}`;
  try {
    return await runLoad(async (i) => {
      const res = await fetch(`${worker.url}/v1/rooms/${room}/tickets`, {
        method: "POST",
        headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
        body: JSON.stringify({ user: `user${i}` }),
      });
      return ((await res.json()) as { url: string }).url;
    }, true);
  } finally {
    await worker.stop();
  }
}

export default async function rooms(ctx: BenchContext): Promise<string[]> {
  const ours = await roomLoad(await startMiniflare(ctx.bundle, ROOM_VARS));
  const throughWrangler = await roomLoad(await startWranglerDev(8821, ROOM_VARS));
  const baselineServer = await startBaseline();
  let baseline: Outcome;
  try {
    baseline = await runLoad(async () => baselineServer.url, false);
  } finally {
    await baselineServer.stop();
  }

  const ms = (n: number) => round(n, 1);
  const row = (label: string, a: number, b: number, fmt: (n: number) => number) =>
    `| ${label} | ${fmt(a)} | ${fmt(b)} | ${round(a / b)} |`;
  return [
    `${CLIENTS} clients in one room, ${SENDERS} of them sending ${PER_SENDER} messages each (${TOTAL} messages, ${CLIENTS * TOTAL} deliveries); \`ws\` clients in the bench process.`,
    "",
    "| figure | edgeloop room (Miniflare, built bundle) | Node `ws` broadcast server | ours / baseline |",
    "| --- | --- | --- | --- |",
    row("delivery latency p50 (ms)", percentile(ours.latencies, 50), percentile(baseline.latencies, 50), ms),
    row("delivery latency p99 (ms)", percentile(ours.latencies, 99), percentile(baseline.latencies, 99), ms),
    row("messages delivered / s", ours.deliveriesPerSec, baseline.deliveriesPerSec, (n) => round(n, 0)),
    `| clients that received all ${TOTAL} messages, in the room's order | ${ours.inOrder} / ${CLIENTS} | ${baseline.inOrder} / ${CLIENTS} | |`,
    `| deliveries counted | ${ours.latencies.length} | ${baseline.latencies.length} | |`,
    row(`time for ${CLIENTS} clients to join (ms)`, ours.joinMs, baseline.joinMs, (n) => round(n, 0)),
    "",
    "The same load through `wrangler dev` (which adds a proxy hop):",
    "",
    "| figure | edgeloop room (wrangler dev) | wrangler dev / Miniflare |",
    "| --- | --- | --- |",
    `| delivery latency p50 (ms) | ${ms(percentile(throughWrangler.latencies, 50))} | ${round(percentile(throughWrangler.latencies, 50) / percentile(ours.latencies, 50))} |`,
    `| delivery latency p99 (ms) | ${ms(percentile(throughWrangler.latencies, 99))} | ${round(percentile(throughWrangler.latencies, 99) / percentile(ours.latencies, 99))} |`,
    `| messages delivered / s | ${round(throughWrangler.deliveriesPerSec, 0)} | ${round(throughWrangler.deliveriesPerSec / ours.deliveriesPerSec)} |`,
    `| clients that received all ${TOTAL} messages, in the room's order | ${throughWrangler.inOrder} / ${CLIENTS} | |`,
  ];
}
