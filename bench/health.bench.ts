/**
 * Baseline figures every other scenario compares against, and what local serving costs (issue 10 §4): GET /healthz
 * and a Durable Object counter increment, req/s, on every way the worker is served locally, all running at once and
 * measured in alternating rounds (medians):
 *
 * - `wrangler dev` as `npm start` runs it: a proxy worker (in a Miniflare of its own, through a Durable Object) in
 *   front of the user worker, and workerd's inspector on (the CLI cannot turn it off);
 * - the same through wrangler's `unstable_startWorker` API (no request logs printed), with the inspector on and with
 *   `dev.inspector: false`: the inspector's share;
 * - `npm run serve` (scripts/serve.ts): the built bundle on Miniflare, state on disk;
 * - the built bundle on Miniflare with state in memory (how the other scenarios serve it), and without the [assets]
 *   router hop (a static-assets router worker in front of every request, from the [assets] block).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { unstable_startWorker } from "wrangler";
import {
  BENCH_TOKEN,
  freePort,
  type RunningWorker,
  startMiniflare,
  startServe,
  startWranglerDev,
} from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const ROUNDS = 3;

export async function reqPerSec(url: string, opts: Partial<autocannon.Options> = {}): Promise<number> {
  const result = await autocannon({ url, connections: 10, duration: 5, ...opts });
  return result.requests.average;
}

const root = new URL("../", import.meta.url).pathname;

/** wrangler dev through its API, which (unlike the CLI) can leave the inspector off. */
async function startWranglerApi(persistTo: string, inspector: boolean): Promise<RunningWorker> {
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    bindings: { API_TOKEN: { type: "plain_text", value: BENCH_TOKEN } },
    dev: {
      server: { hostname: "127.0.0.1", port: await freePort() },
      inspector: inspector ? {} : false,
      persist: persistTo,
      logLevel: "none",
      watch: false,
    },
  });
  await worker.ready;
  const url = (await worker.url).toString().replace(/\/$/, "");
  return { url, token: BENCH_TOKEN, stop: () => worker.dispose() };
}

interface Server {
  name: string;
  worker: RunningWorker;
}

export default async function health(ctx: BenchContext): Promise<string[]> {
  const state = mkdtempSync(join(tmpdir(), "edgeloop-bench-"));
  const servers: Server[] = [];
  try {
    servers.push(
      {
        name: "wrangler dev (`npm start`)",
        worker: await startWranglerDev(await freePort(), {}, ["--persist-to", join(state, "dev")]),
      },
      { name: "wrangler dev, inspector on (API)", worker: await startWranglerApi(join(state, "api-on"), true) },
      { name: "wrangler dev, inspector off (API)", worker: await startWranglerApi(join(state, "api-off"), false) },
      {
        name: "`npm run serve`",
        worker: await startServe(await freePort(), join(state, "serve"), { API_TOKEN: BENCH_TOKEN }),
      },
      { name: "Miniflare, state in memory", worker: await startMiniflare(ctx.bundle) },
      { name: "Miniflare, no [assets] router", worker: await startMiniflare(ctx.bundle, {}, { assets: false }) },
    );
    const health = servers.map((): number[] => []);
    const counter = servers.map((): number[] => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < servers.length; j++) {
        const i = (r + j) % servers.length;
        const { worker } = servers[i] as Server;
        health[i]?.push(await reqPerSec(`${worker.url}/healthz`));
        counter[i]?.push(
          await reqPerSec(`${worker.url}/v1/counters/bench/increment`, {
            method: "POST",
            headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
            body: JSON.stringify({ by: 1 }),
          }),
        );
      }
    }
    const h = health.map((x) => median(x));
    const c = counter.map((x) => median(x));
    const [dev, devApi, devNoInspector, serve, memory, noAssets] = h as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const [devCounter, , , serveCounter] = c as [number, number, number, number];
    return [
      `${ROUNDS} alternating rounds of 5 s each (10 connections), medians; every server running at once.`,
      "",
      "| server | GET /healthz req/s | POST /v1/counters/:name/increment req/s |",
      "| --- | --- | --- |",
      ...servers.map((s, i) => `| ${s.name} | ${round(h[i] as number, 0)} | ${round(c[i] as number, 0)} |`),
      "",
      "| ratio (medians) | value | target |",
      "| --- | --- | --- |",
      `| \`npm run serve\` / \`npm start\`, /healthz | ${round(serve / dev)} | ≥ 1.5 to offer it |`,
      `| \`npm run serve\` / \`npm start\`, counter increments | ${round(serveCounter / devCounter)} | |`,
      `| the inspector's cost: wrangler dev (API) with it / without it, /healthz | ${round(devApi / devNoInspector)} | |`,
      `| the CLI's request logs: \`npm start\` / wrangler dev (API) with the inspector, /healthz | ${round(dev / devApi)} | |`,
      `| the proxy's cost: wrangler dev without inspector / \`npm run serve\`, /healthz | ${round(devNoInspector / serve)} | |`,
      `| state on disk: \`npm run serve\` / Miniflare with state in memory, /healthz | ${round(serve / memory)} | |`,
      `| the [assets] router: Miniflare with it / without, /healthz | ${round(memory / noAssets)} | |`,
    ];
  } finally {
    for (const s of servers) await s.worker.stop();
    rmSync(state, { recursive: true, force: true });
  }
}
