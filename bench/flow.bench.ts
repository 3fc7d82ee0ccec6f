/**
 * Flow control's cost per call (issue 21): the same fan-out — 200 calls of 50 ms at concurrency 20 (ideal 500 ms) to
 * the loopback upstream — through POST /v1/fanout without a flow key and with one whose limits do not bind
 * (`parallelism: 20`), in alternating order, RUNS times, in one run of the built worker on Miniflare. The ratio of the
 * medians is what a key costs (budget ≤ 1.10). Beside it, for information, a key with only a rate that does not bind
 * (its grants reserve starts for reuse), and the upstream's peak in flight. Each contestant uses one key for all its
 * runs, as an application uses one key for an upstream: the warm-up pays for creating its object.
 */
import { startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import { startUpstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const RUNS = 9;
const CALLS = 200;
const LATENCY_MS = 50;
const CONCURRENCY = 20;

interface Contestant {
  name: string;
  flow?: Record<string, unknown>;
}

export default async function flowBench(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, { FANOUT_ALLOW_HOSTS: "127.0.0.1", FANOUT_MAX_REQUESTS: "1000" });
  const headers = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  const contestants: Contestant[] = [
    { name: "no flow key" },
    { name: "flow key, parallelism 20", flow: { key: `bench-p-${crypto.randomUUID()}`, parallelism: CONCURRENCY } },
    {
      name: "flow key, rate 100,000/s only",
      flow: { key: `bench-r-${crypto.randomUUID()}`, rate: { limit: 100_000, periodMs: 1_000 } },
    },
  ];
  const once = async (c: Contestant, run: number) => {
    const key = `${c.name}-${run}-${crypto.randomUUID()}`;
    const requests = Array.from({ length: CALLS }, () => ({
      url: `${upstream.url}/r?latency=${LATENCY_MS}&key=${encodeURIComponent(key)}`,
    }));
    const started = performance.now();
    const res = await fetch(`${worker.url}/v1/fanout`, {
      method: "POST",
      headers,
      body: JSON.stringify({ requests, concurrency: CONCURRENCY, deadlineMs: 60_000, flow: c.flow }),
    });
    const body = (await res.json()) as { summary?: { fulfilled: number } };
    const ms = performance.now() - started;
    if (body.summary?.fulfilled !== CALLS) throw new Error(`${c.name}: ${JSON.stringify(body).slice(0, 300)}`);
    return { ms, peak: upstream.stats(key).maxInFlight };
  };
  try {
    // Warm-up: one of each (isolate, objects, connections).
    for (const c of contestants) await once(c, -1);
    const ms = contestants.map((): number[] => []);
    const peaks = contestants.map((): number[] => []);
    for (let i = 0; i < RUNS; i++) {
      for (let j = 0; j < contestants.length; j++) {
        const k = (i + j) % contestants.length;
        const r = await once(contestants[k] as Contestant, i);
        ms[k]?.push(r.ms);
        peaks[k]?.push(r.peak);
      }
    }
    const med = ms.map(median);
    const ideal = Math.ceil(CALLS / CONCURRENCY) * LATENCY_MS;
    const [none, keyed, rated] = med as [number, number, number];
    return [
      `${CALLS} calls of ${LATENCY_MS} ms at concurrency ${CONCURRENCY} (ideal ${ideal} ms), POST /v1/fanout on the built`,
      `worker on Miniflare, ${RUNS} alternating runs after a warm-up, one key per contestant.`,
      "",
      `| figure | ${contestants.map((c) => c.name).join(" | ")} |`,
      `| --- | ${contestants.map(() => "---").join(" | ")} |`,
      `| wall time, median ms (min–max) | ${ms.map((x) => `${round(median(x), 0)} (${round(Math.min(...x), 0)}–${round(Math.max(...x), 0)})`).join(" | ")} |`,
      `| wall / ideal | ${med.map((x) => round(x / ideal)).join(" | ")} |`,
      `| upstream peak in flight (max) | ${peaks.map((p) => Math.max(...p)).join(" | ")} |`,
      "",
      "| ratio of medians | value | budget |",
      "| --- | --- | --- |",
      `| flow key (parallelism 20) / no flow key | ${round(keyed / none)} | ≤ 1.10 |`,
      `| flow key (rate only) / no flow key | ${round(rated / none)} | |`,
    ];
  } finally {
    await worker.stop();
    await upstream.close();
  }
}
