/**
 * The bundle and the cold start. Sizes as wrangler uploads them (raw and gzip, by package: scripts/check-bundle.ts),
 * then the time from starting the built worker to its first GET /healthz answer, against a minimal worker
 * (bench/baselines/minimal-worker.js, a constant answer) started the same way, runs alternating, in the same run:
 *  - minimal: Miniflare with the one script and nothing else;
 *  - ours, script only: the same Miniflare options with our bundle: what the script itself costs to load;
 *  - ours as configured: with wrangler.toml's bindings, Durable Objects, queues and assets router (startMiniflare).
 * Locally most of a start is workerd's own (a process, sockets); the script's share is what the bundle controls.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { breakdownTable, MAX_GZIP_KIB, MAX_UPLOAD_KIB, sizeByPackage, uploadSize } from "../scripts/check-bundle.ts";
import { startMiniflare } from "../scripts/lib/worker.ts";
import { startBaselineWorker } from "./lib/baseline-worker.ts";
import { median, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const RUNS = 15;
const root = new URL("../", import.meta.url).pathname;
const minimalWorker = join(root, "bench/baselines/minimal-worker.js");

interface Start {
  /** Until Miniflare is ready (workerd started, scripts loaded), ms. */
  ready: number;
  /** From the start until the first /healthz answer was read, ms. */
  firstAnswer: number;
}

async function timeStart(start: () => Promise<{ url: string; stop(): Promise<void> }>): Promise<Start> {
  const t0 = performance.now();
  const worker = await start();
  const ready = performance.now() - t0;
  const res = await fetch(`${worker.url}/healthz`);
  await res.text();
  const firstAnswer = performance.now() - t0;
  await worker.stop();
  if (!res.ok) throw new Error(`/healthz answered ${res.status}`);
  return { ready, firstAnswer };
}

/** A second build with wrangler's esbuild metafile, for the size by package. */
function metafileOf(): Parameters<typeof sizeByPackage>[0] {
  const outdir = join(root, ".wrangler/bundles", `meta-${process.pid}-${Date.now()}`);
  const metafile = join(outdir, "meta.json");
  execFileSync(
    join(root, "node_modules/.bin/wrangler"),
    ["deploy", "--dry-run", "--outdir", outdir, "--metafile", metafile],
    {
      cwd: root,
      stdio: "ignore",
    },
  );
  return JSON.parse(readFileSync(metafile, "utf8"));
}

export default async function startup(ctx: BenchContext): Promise<string[]> {
  const { bytes, gzipBytes } = uploadSize(dirname(ctx.bundle));
  const variants: [string, () => Promise<{ url: string; stop(): Promise<void> }>][] = [
    ["minimal worker (constant answer)", () => startBaselineWorker(minimalWorker)],
    ["ours, script only", () => startBaselineWorker(ctx.bundle)],
    ["ours as configured (bindings, Durable Objects, queues, assets)", () => startMiniflare(ctx.bundle)],
  ];
  const runs = new Map<string, Start[]>(variants.map(([name]) => [name, []]));
  await timeStart(() => startBaselineWorker(minimalWorker)); // warm the disk cache and workerd's binary
  for (let i = 0; i < RUNS; i++) {
    for (const [name, start] of variants) runs.get(name)?.push(await timeStart(start));
  }
  const med = (name: string, key: keyof Start) => median(runs.get(name)?.map((r) => r[key]) ?? []);
  const [minimal, script, configured] = variants.map(([name]) => name) as [string, string, string];
  return [
    `Bundle: ${round(bytes / 1024)} KiB upload, ${round(gzipBytes / 1024)} KiB gzip (limits ${MAX_UPLOAD_KIB} / ${MAX_GZIP_KIB} KiB, checked by npm test).`,
    "",
    ...breakdownTable(sizeByPackage(metafileOf())),
    "",
    `Cold start: ${RUNS} runs of each, alternating; medians.`,
    "",
    "| worker | start → ready, ms | start → first /healthz answer, ms |",
    "| --- | ---: | ---: |",
    ...variants.map(
      ([name]) => `| ${name} | ${round(med(name, "ready"), 0)} | ${round(med(name, "firstAnswer"), 0)} |`,
    ),
    `| ours script only − minimal (first answer) | | ${round(med(script, "firstAnswer") - med(minimal, "firstAnswer"), 0)} |`,
    `| ours script only / minimal (first answer) | | ${round(med(script, "firstAnswer") / med(minimal, "firstAnswer"))} |`,
    `| ours as configured / minimal (first answer) | | ${round(med(configured, "firstAnswer") / med(minimal, "firstAnswer"))} |`,
  ];
}
