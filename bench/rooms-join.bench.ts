/**
 * Where a room's join time goes: the 200-client join of rooms.bench.ts, ours with its pieces switched off one at a
 * time, beside the minimal hibernating broadcast Durable Object (bench/baselines/broadcast-room.js), in alternating
 * rounds (medians). Two clocks for ours: until every socket is open (what the minimal object's figure is), and until
 * every client has seen all 200 members in its welcome and presence frames (what rooms.bench.ts reports).
 */
import { startMiniflare } from "../scripts/lib/worker.ts";
import { startBaselineWorker } from "./lib/baseline-worker.ts";
import { median, round } from "./lib/stats.ts";
import { withWorkerdCpu } from "./lib/workerd-cpu.ts";
import { type Outcome, ROOM_VARS, runLoad, tickets } from "./rooms.bench.ts";
import type { BenchContext } from "./run.ts";

const ROUNDS = Number(process.env.ROOMS_BENCH_ROUNDS ?? 3);

type Started = Awaited<ReturnType<typeof startMiniflare>> & { cpuMs: () => number };

export default async function roomsJoin(ctx: BenchContext): Promise<string[]> {
  const variants: { label: string; worker: Started }[] = [
    { label: "as configured", worker: await withWorkerdCpu(() => startMiniflare(ctx.bundle, ROOM_VARS)) },
    {
      label: "without the local assets router hop",
      worker: await withWorkerdCpu(() => startMiniflare(ctx.bundle, ROOM_VARS, { assets: false })),
    },
    {
      label: "… and without the per-user join limit (API_RATE_LIMIT=0)",
      worker: await withWorkerdCpu(() =>
        startMiniflare(ctx.bundle, { ...ROOM_VARS, API_RATE_LIMIT: "0" }, { assets: false }),
      ),
    },
  ];
  const minimal = await withWorkerdCpu(() =>
    startBaselineWorker(new URL("./baselines/broadcast-room.js", import.meta.url).pathname, { ROOM: "BroadcastRoom" }),
  );
  const minimalLoad = (room: string) =>
    runLoad(Array(200).fill(`${minimal.url.replace(/^http/, "ws")}/${room}`), false, minimal.cpuMs);
  const opened: Outcome[][] = variants.map(() => []);
  const settled: Outcome[][] = variants.map(() => []);
  const bare: Outcome[] = [];
  try {
    for (const { worker } of variants) await runLoad((await tickets(worker)).urls, true, worker.cpuMs);
    await minimalLoad("warm-up");
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, { worker }] of variants.entries()) {
        opened[i]?.push(await runLoad((await tickets(worker)).urls, false, worker.cpuMs));
        settled[i]?.push(await runLoad((await tickets(worker)).urls, true, worker.cpuMs));
      }
      bare.push(await minimalLoad(`round-${r}`));
    }
  } finally {
    for (const { worker } of variants) await worker.stop();
    await minimal.stop();
  }
  const bareMs = median(bare.map((o) => o.joinMs));
  const bareCpu = median(bare.map((o) => o.joinCpuMs));
  const row = (label: string, open: Outcome[], seen: Outcome[] | undefined) => {
    const ms = median(open.map((o) => o.joinMs));
    const cpu = median(open.map((o) => o.joinCpuMs));
    const all = seen ? median(seen.map((o) => o.joinMs)) : Number.NaN;
    const allCpu = seen ? median(seen.map((o) => o.joinCpuMs)) : Number.NaN;
    const cells = [round(ms, 0), round(ms / bareMs), round(cpu, 0), round(cpu / bareCpu)];
    const presence = seen ? [round(all, 0), round(all / bareMs), round(allCpu, 0)] : ["", "", ""];
    return `| ${label} | ${cells.join(" | ")} | ${presence.join(" | ")} |`;
  };
  return [
    `200 clients join one room (20 sockets at a time), tickets fetched before the clock; ${ROUNDS} alternating rounds after a warm-up, medians. Ours with its pieces switched off one at a time, each row adding to the one above; the minimal broadcast Durable Object has no tickets, limits or presence.`,
    "",
    "| server | all sockets open, ms | / minimal | workerd CPU ms | / minimal | every client has seen all 200 (welcome + presence), ms | / minimal (open) | workerd CPU ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...variants.map(({ label }, i) => row(`edgeloop ${label}`, opened[i] ?? [], settled[i])),
    row("minimal hibernating broadcast Durable Object", bare, undefined),
  ];
}
