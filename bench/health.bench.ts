/**
 * Baseline figures every other scenario compares against: GET /healthz req/s on Miniflare (the built bundle) and
 * through `wrangler dev` (which adds a proxy hop), in the same run; and what Miniflare's local static-assets router
 * (an extra worker hop in front of every request, from the [assets] block) costs.
 */
import autocannon from "autocannon";
import { freePort, startMiniflare, startWranglerDev } from "../scripts/lib/worker.ts";
import { round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

export async function reqPerSec(url: string, opts: Partial<autocannon.Options> = {}): Promise<number> {
  const result = await autocannon({ url, connections: 10, duration: 5, ...opts });
  return result.requests.average;
}

export default async function health(ctx: BenchContext): Promise<string[]> {
  const mf = await startMiniflare(ctx.bundle);
  const onMiniflare = await reqPerSec(`${mf.url}/healthz`);
  await mf.stop();
  const bare = await startMiniflare(ctx.bundle, {}, { assets: false });
  const withoutAssets = await reqPerSec(`${bare.url}/healthz`);
  await bare.stop();
  const dev = await startWranglerDev(await freePort());
  const onWrangler = await reqPerSec(`${dev.url}/healthz`);
  await dev.stop();
  return [
    "| figure | value |",
    "| --- | --- |",
    `| GET /healthz req/s, Miniflare (built bundle) | ${round(onMiniflare, 0)} |`,
    `| GET /healthz req/s, wrangler dev | ${round(onWrangler, 0)} |`,
    `| wrangler dev / Miniflare | ${round(onWrangler / onMiniflare)} |`,
    `| GET /healthz req/s, Miniflare without the [assets] router hop | ${round(withoutAssets, 0)} |`,
    `| with the assets router / without | ${round(onMiniflare / withoutAssets)} |`,
  ];
}
