/**
 * A big room, unsharded and over 4 shards: 400 `ws` clients in one room, 40 of them sending 5 messages each (200
 * messages, 80,000 deliveries), on the built bundle on Miniflare, K = 1 and K = 4 in alternating rounds of the same
 * run (medians). Measures delivery latency p50/p99 (send → receipt, one clock: the bench process), deliveries and
 * messages per second, the sockets each object holds, and, for K = 4, the calls between the sequencer and the shards
 * while the messages flow (from the room's GET, before and after), to work out the per-object load at production
 * scale (bench/RESULTS.md).
 */
import type { RunningWorker } from "../scripts/lib/worker.ts";
import { startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import { withWorkerdCpu } from "./lib/workerd-cpu.ts";
import { type Outcome, ROOM_VARS, runLoad, tickets } from "./rooms.bench.ts";
import type { BenchContext } from "./run.ts";

const CLIENTS = 400;
const SENDERS = 40;
const PER_SENDER = 5;
const TOTAL = SENDERS * PER_SENDER;
const ROUNDS = Number(process.env.ROOMS_BENCH_ROUNDS ?? 3);
/** The paced load: one message every this many ms (200 messages over 20 s): 4,000 deliveries/s, well below what this machine delivers, so that nothing queues. */
const PACED_GAP_MS = 100;

interface Calls {
  fromShards: number;
  toShards: number;
}

interface Run extends Outcome {
  sockets: number[];
  /** Calls between the sequencer and the shards while the messages flowed (K = 4). */
  calls?: Calls;
}

async function api(worker: RunningWorker, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${worker.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
  });
}

async function roomInfo(worker: RunningWorker, room: string) {
  const res = await api(worker, `/v1/rooms/${room}`);
  return (await res.json()) as { connections: number; sockets?: number[]; calls?: Calls };
}

/** One round of the load in a fresh room of `shards` shards. */
async function round1(worker: RunningWorker & { cpuMs: () => number }, shards: number, gapMs?: number): Promise<Run> {
  const room = `bench-${crypto.randomUUID()}`;
  if (shards > 1) {
    const res = await api(worker, `/v1/rooms/${room}/shards`, { method: "PUT", body: JSON.stringify({ shards }) });
    if (res.status !== 200) throw new Error(`shards: ${res.status} ${await res.text()}`);
  }
  const { urls } = await tickets(worker, CLIENTS, room);
  let before: Awaited<ReturnType<typeof roomInfo>> | undefined;
  let after: Awaited<ReturnType<typeof roomInfo>> | undefined;
  const outcome = await runLoad(urls, true, worker.cpuMs, {
    clients: CLIENTS,
    senders: SENDERS,
    perSender: PER_SENDER,
    ...(gapMs === undefined ? {} : { gapMs }),
    beforeSend: async () => {
      before = await roomInfo(worker, room);
    },
    afterDelivered: async () => {
      after = await roomInfo(worker, room);
    },
  });
  const calls =
    before?.calls && after?.calls
      ? {
          fromShards: after.calls.fromShards - before.calls.fromShards,
          toShards: after.calls.toShards - before.calls.toShards,
        }
      : undefined;
  return { ...outcome, sockets: before?.sockets ?? [before?.connections ?? 0], ...(calls ? { calls } : {}) };
}

export default async function roomsSharded(ctx: BenchContext): Promise<string[]> {
  const worker = await withWorkerdCpu(() =>
    startMiniflare(ctx.bundle, { ...ROOM_VARS, ROOM_MAX_CONNECTIONS: String(CLIENTS) }),
  );
  const runs: { one: Run[]; four: Run[] } = { one: [], four: [] };
  const paced: { one: Run[]; four: Run[] } = { one: [], four: [] };
  try {
    // A warm-up round of each, not counted.
    await round1(worker, 1);
    await round1(worker, 4);
    for (let r = 0; r < ROUNDS; r++) {
      runs.one.push(await round1(worker, 1));
      runs.four.push(await round1(worker, 4));
      paced.one.push(await round1(worker, 1, PACED_GAP_MS));
      paced.four.push(await round1(worker, 4, PACED_GAP_MS));
    }
  } finally {
    await worker.stop();
  }
  return [
    ...table(runs, "all at once (each sender sends its 5 without waiting)"),
    "",
    ...table(paced, `paced: one message every ${PACED_GAP_MS} ms, the senders in turn`),
  ];
}

function table(runs: { one: Run[]; four: Run[] }, load: string): string[] {
  const med = (list: Run[], f: (o: Run) => number) => median(list.map(f));
  const row = (label: string, f: (o: Run) => number, digits: number) =>
    `| ${label} | ${round(med(runs.one, f), digits)} | ${round(med(runs.four, f), digits)} | ${round(med(runs.four, f) / med(runs.one, f))} |`;
  const counted = (list: Run[]) => `${list.map((o) => o.inOrder).join(", ")} of ${CLIENTS}`;
  const from = med(runs.four, (o) => o.calls?.fromShards ?? Number.NaN);
  const to = med(runs.four, (o) => o.calls?.toShards ?? Number.NaN);
  return [
    `**Load: ${load}.**`,
    "",
    `${CLIENTS} clients in one room, ${SENDERS} of them sending ${PER_SENDER} messages each (${TOTAL} messages, ${CLIENTS * TOTAL} deliveries), on the built bundle on Miniflare; \`ws\` clients in the bench process. ${ROUNDS} alternating rounds after a warm-up of each, medians. Command: \`PATH=$PWD/node_modules/.bin:$PATH node bench/run.ts rooms-sharded\`.`,
    "",
    "| figure | K = 1 (one Room object) | K = 4 (sequencer + 4 RoomShards) | K = 4 / K = 1 |",
    "| --- | --- | --- | --- |",
    row("delivery latency p50 (ms)", (o) => o.p50, 1),
    row("delivery latency p99 (ms)", (o) => o.p99, 1),
    row("messages delivered / s", (o) => o.deliveriesPerSec, 0),
    row("messages ordered / s (delivered / s ÷ clients)", (o) => o.deliveriesPerSec / CLIENTS, 0),
    row(`time for ${CLIENTS} clients to join and see all ${CLIENTS} (ms)`, (o) => o.joinMs, 0),
    row(`workerd CPU ms, the ${TOTAL} messages`, (o) => o.messagesCpuMs, 0),
    `| clients that received all ${TOTAL} messages once, in the room's order (each round) | ${counted(runs.one)} | ${counted(runs.four)} | |`,
    `| sockets per object (last round) | ${runs.one.at(-1)?.sockets.join(", ")} | ${runs.four.at(-1)?.sockets.join(" / ")} (sequencer: 0) | |`,
    `| calls shard → sequencer for the ${TOTAL} messages (each carries the ops of its turns) | | ${round(from, 0)} (${round(from / TOTAL)} per message) | |`,
    `| calls sequencer → shards (deliver batches) | | ${round(to, 0)} (${round(to / TOTAL)} per message, ${round(to / TOTAL / 4)} per message per shard) | |`,
  ];
}
