/**
 * Fan-out figures (issue 2 §4), all measured in one run against the built worker on Miniflare and a loopback
 * upstream (bench/lib/upstream.ts):
 *
 * 1. schedule efficiency: 200 calls of 50 ms at concurrency 20; ideal = 10 waves × 50 ms = 500 ms; wall/ideal,
 *    median of 7 runs (target ≤ 1.10);
 * 2. against a plain Node baseline: the same 200 calls from this Node process with undici `fetch` + `p-limit(20)`,
 *    interleaved with ours; ours/baseline of the medians (target ≤ 1.15);
 * 3. timeout precision: 20 calls to a hanging upstream with timeoutMs 200; time until the response (target ≤ 250 ms);
 * 4. overhead: /v1/fanout with one 0 ms upstream call vs GET /healthz, req/s with autocannon.
 */
import autocannon from "autocannon";
import pLimit from "p-limit";
import { startMiniflare } from "../scripts/lib/worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { startUpstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const RUNS = 7;
const CALLS = 200;
const LATENCY_MS = 50;
const CONCURRENCY = 20;
const IDEAL_MS = Math.ceil(CALLS / CONCURRENCY) * LATENCY_MS;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export default async function fanoutBench(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, {
    FANOUT_ALLOW_HOSTS: "127.0.0.1",
    FANOUT_MAX_REQUESTS: "1000",
  });
  const auth = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  const callFanout = async (body: unknown): Promise<{ summary: { fulfilled: number; rejected: number } }> => {
    const res = await fetch(`${worker.url}/v1/fanout`, { method: "POST", headers: auth, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`fanout answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { summary: { fulfilled: number; rejected: number } };
  };
  const url = `${upstream.url}/r?latency=${LATENCY_MS}`;
  const schedule = {
    concurrency: CONCURRENCY,
    deadlineMs: 60_000,
    requests: Array.from({ length: CALLS }, () => ({ url })),
  };
  const limit = pLimit(CONCURRENCY);
  const baseline = () =>
    Promise.all(Array.from({ length: CALLS }, () => limit(async () => (await fetch(url)).arrayBuffer())));

  try {
    // Warm-up: connections, JIT, Miniflare's first request.
    await callFanout(schedule);
    await baseline();

    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(
        await timed(async () => {
          const { summary } = await callFanout(schedule);
          if (summary.fulfilled !== CALLS) throw new Error(`only ${summary.fulfilled} of ${CALLS} calls succeeded`);
        }),
      );
      theirs.push(await timed(baseline));
    }

    const precision: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      precision.push(
        await timed(() =>
          callFanout({
            timeoutMs: 200,
            concurrency: 20,
            requests: Array.from({ length: 20 }, () => ({ url: `${upstream.url}/r?hang=1` })),
          }),
        ),
      );
    }

    const one = JSON.stringify({ requests: [{ url: `${upstream.url}/r` }] });
    const fanoutRps = (
      await autocannon({
        url: `${worker.url}/v1/fanout`,
        method: "POST",
        headers: auth,
        body: one,
        connections: 10,
        duration: 5,
      })
    ).requests.average;
    const healthRps = (await autocannon({ url: `${worker.url}/healthz`, connections: 10, duration: 5 })).requests
      .average;

    const efficiency = median(ours) / IDEAL_MS;
    const ratio = median(ours) / median(theirs);
    return [
      `${CALLS} calls of ${LATENCY_MS} ms at concurrency ${CONCURRENCY}, ${RUNS} runs each, built worker on Miniflare.`,
      "",
      "| figure | value | target |",
      "| --- | --- | --- |",
      `| schedule efficiency: wall / ideal (${IDEAL_MS} ms), median | ${round(efficiency)} (median ${round(median(ours), 0)} ms, min ${round(Math.min(...ours), 0)}, max ${round(Math.max(...ours), 0)}) | ≤ 1.10 |`,
      `| Node undici fetch + p-limit baseline, median | ${round(median(theirs), 0)} ms (wall / ideal ${round(median(theirs) / IDEAL_MS)}) | |`,
      `| ours / baseline (medians) | ${round(ratio)} | ≤ 1.15 |`,
      `| timeout precision: 20 hanging calls, timeoutMs 200: response after, median / max | ${round(median(precision), 0)} / ${round(Math.max(...precision), 0)} ms (p90 ${round(percentile(precision, 90), 0)}) | ≤ 250 ms |`,
      `| POST /v1/fanout with one 0 ms call, req/s | ${round(fanoutRps, 0)} | |`,
      `| GET /healthz, req/s | ${round(healthRps, 0)} | |`,
      `| fan-out of one / healthz (req/s ratio) | ${round(fanoutRps / healthRps)} | |`,
    ];
  } finally {
    await worker.stop();
    await upstream.close();
  }
}
