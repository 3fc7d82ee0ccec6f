/**
 * Fan-out figures (issues 2 and 10), all measured in one run against a loopback upstream (bench/lib/upstream.ts):
 *
 * 1. two schedules — 200 calls of 50 ms at concurrency 20 (ideal 500 ms) and 1,000 calls of 10 ms at concurrency 50
 *    (ideal 200 ms) — each against small JSON bodies sent chunked and with a content-length (which edgeloop reads
 *    natively in one go), each made by five contestants in alternating order, RUNS times:
 *    - edgeloop: POST /v1/fanout on the built worker on Miniflare, with the default responseBody (bodies parsed and
 *      returned) and with responseBody "none";
 *    - the minimal worker (bench/baselines/minimal-fanout.ts: semaphore + fetch + allSettled) on Miniflare, the
 *      platform's limit;
 *    - Node: undici fetch + p-limit in a worker thread (bench/baselines/node-fanout.ts), and (the baseline of earlier
 *      runs) the same in this process, on the event loop the upstream also runs on;
 *    medians of wall time, their ratios (targets: edgeloop / minimal ≤ 1.15, edgeloop / Node ≤ 1.10), and the new
 *    TCP connections the upstream accepted per run (reused connections: about 0);
 * 2. timeout precision: 20 calls to a hanging upstream with timeoutMs 200; time until the response (target ≤ 250 ms);
 * 3. overhead: /v1/fanout with one 0 ms upstream call vs GET /healthz, req/s with autocannon.
 */
import { Worker } from "node:worker_threads";
import autocannon from "autocannon";
import pLimit from "p-limit";
import { startBaseline, startMiniflare } from "../scripts/lib/worker.ts";
import { childPids, cpuMs } from "./lib/cpu.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { startUpstream, type Upstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const RUNS = 9;
/** Each schedule twice: upstream bodies sent chunked (no content-length), and with a content-length. */
const SCENARIOS = [
  { calls: 200, latencyMs: 50, concurrency: 20 },
  { calls: 1000, latencyMs: 10, concurrency: 50 },
].flatMap((s) => [
  { ...s, contentLength: false },
  { ...s, contentLength: true },
]);

type Scenario = (typeof SCENARIOS)[number];

/** One way of making a fan-out's calls: resolves with how many were fulfilled and the CPU ms it used, if known. */
interface Contestant {
  name: string;
  run(urls: string[], concurrency: number): Promise<{ fulfilled: number; cpuMs: number }>;
}

interface Measured {
  ms: number[];
  cpuMs: number[];
  connections: number[];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function postJson<T>(url: string, headers: Record<string, string>, body: unknown): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** Run every contestant RUNS times on one schedule, rotating who goes first, after one warm-up each. */
async function measure(upstream: Upstream, contestants: Contestant[], s: Scenario): Promise<Measured[]> {
  const length = s.contentLength ? "&length=1" : "";
  const urls = Array.from({ length: s.calls }, () => `${upstream.url}/r?latency=${s.latencyMs}${length}`);
  const once = async (c: Contestant, into?: Measured) => {
    const before = upstream.connections();
    let result = { fulfilled: 0, cpuMs: Number.NaN };
    const ms = await timed(async () => {
      result = await c.run(urls, s.concurrency);
    });
    if (result.fulfilled !== s.calls) throw new Error(`${c.name}: ${result.fulfilled} of ${s.calls} calls succeeded`);
    into?.ms.push(ms);
    into?.cpuMs.push(result.cpuMs);
    into?.connections.push(upstream.connections() - before);
  };
  for (const c of contestants) await once(c);
  const out = contestants.map((): Measured => ({ ms: [], cpuMs: [], connections: [] }));
  for (let i = 0; i < RUNS; i++) {
    for (let j = 0; j < contestants.length; j++) {
      const k = (i + j) % contestants.length;
      await once(contestants[k] as Contestant, out[k]);
    }
  }
  return out;
}

export default async function fanoutBench(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, {
    FANOUT_ALLOW_HOSTS: "127.0.0.1",
    FANOUT_MAX_REQUESTS: "1000",
  });
  const [workerd] = childPids("workerd");
  const minimal = await startBaseline(new URL("./baselines/minimal-fanout.ts", import.meta.url).pathname);
  const [minimalWorkerd] = childPids("workerd").filter((pid) => pid !== workerd);
  const node = new Worker(new URL("./baselines/node-fanout.ts", import.meta.url));
  /** Run `fn`, counting the CPU its workerd process spent meanwhile. */
  const onWorkerd = async (pid: number | undefined, fn: () => Promise<number>) => {
    const before = pid === undefined ? Number.NaN : cpuMs(pid);
    const fulfilled = await fn();
    return { fulfilled, cpuMs: pid === undefined ? Number.NaN : cpuMs(pid) - before };
  };
  const auth = { authorization: `Bearer ${worker.token}` };
  const callFanout = async (body: unknown): Promise<{ summary: { fulfilled: number; rejected: number } }> =>
    postJson(`${worker.url}/v1/fanout`, auth, body);
  const edgeloop = (responseBody?: "none"): Contestant => ({
    name: responseBody ? `edgeloop (responseBody ${responseBody})` : "edgeloop",
    run: (urls, concurrency) =>
      onWorkerd(workerd, async () => {
        const requests = urls.map((url) => ({ url }));
        return (await callFanout({ concurrency, deadlineMs: 60_000, responseBody, requests })).summary.fulfilled;
      }),
  });
  const contestants: Contestant[] = [
    edgeloop(),
    edgeloop("none"),
    {
      name: "minimal worker",
      run: (urls, concurrency) =>
        onWorkerd(
          minimalWorkerd,
          async () => (await postJson<{ fulfilled: number }>(minimal.url, {}, { urls, concurrency })).fulfilled,
        ),
    },
    {
      name: "Node fetch + p-limit",
      run: (urls, concurrency) =>
        new Promise((resolve, reject) => {
          node.once("error", reject);
          node.once("message", (m: { fulfilled: number; cpuMs: number }) => {
            node.off("error", reject);
            resolve(m);
          });
          node.postMessage({ urls, concurrency });
        }),
    },
    {
      // The baseline of earlier runs: the same calls from this process, which also runs the upstream.
      name: "Node, sharing the upstream's thread",
      run: async (urls, concurrency) => {
        const limit = pLimit(concurrency);
        const settled = await Promise.allSettled(
          urls.map((url) => limit(async () => (await fetch(url)).arrayBuffer())),
        );
        return { fulfilled: settled.filter((x) => x.status === "fulfilled").length, cpuMs: Number.NaN };
      },
    },
  ];

  try {
    const lines: string[] = [];
    for (const s of SCENARIOS) {
      const ideal = Math.ceil(s.calls / s.concurrency) * s.latencyMs;
      const m = await measure(upstream, contestants, s);
      const med = m.map((x) => median(x.ms));
      const [ours, oursNone, minimalMs, nodeMs, sharedMs] = med as [number, number, number, number, number];
      lines.push(
        `### ${s.calls} calls of ${s.latencyMs} ms at concurrency ${s.concurrency} (ideal ${ideal} ms), bodies ${s.contentLength ? "with a content-length" : "chunked"}, ${RUNS} alternating runs`,
        "",
        `| figure | ${contestants.map((c) => c.name).join(" | ")} |`,
        `| --- | ${contestants.map(() => "---").join(" | ")} |`,
        `| wall time, median ms (min–max) | ${m.map((x) => `${round(median(x.ms), 0)} (${round(Math.min(...x.ms), 0)}–${round(Math.max(...x.ms), 0)})`).join(" | ")} |`,
        `| wall / ideal | ${med.map((x) => round(x / ideal)).join(" | ")} |`,
        `| CPU per run, median ms (workerd process; Node: its thread) | ${m.map((x) => round(median(x.cpuMs), 0)).join(" | ")} |`,
        `| new upstream connections per run, median (max) | ${m.map((x) => `${median(x.connections)} (${Math.max(...x.connections)})`).join(" | ")} |`,
        "",
        "| ratio of medians | value | target |",
        "| --- | --- | --- |",
        `| edgeloop / minimal worker | ${round(ours / minimalMs)} | ≤ 1.15 |`,
        `| edgeloop / Node fetch + p-limit | ${round(ours / nodeMs)} | ≤ 1.10 |`,
        `| edgeloop (responseBody none) / minimal worker | ${round(oursNone / minimalMs)} | ≤ 1.15 |`,
        `| edgeloop (responseBody none) / Node fetch + p-limit | ${round(oursNone / nodeMs)} | ≤ 1.10 |`,
        `| minimal worker / Node fetch + p-limit (the platform against Node) | ${round(minimalMs / nodeMs)} | |`,
        `| edgeloop / Node sharing the upstream's thread (the baseline of earlier runs) | ${round(ours / sharedMs)} | |`,
        ...(s.calls === 200
          ? [`| edgeloop schedule efficiency, wall / ideal | ${round(ours / ideal)} | ≤ 1.10 |`]
          : []),
        "",
      );
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
        headers: { ...auth, "content-type": "application/json" },
        body: one,
        connections: 10,
        duration: 5,
      })
    ).requests.average;
    const healthRps = (await autocannon({ url: `${worker.url}/healthz`, connections: 10, duration: 5 })).requests
      .average;

    return [
      ...lines,
      "### Timeout precision and overhead",
      "",
      "| figure | value | target |",
      "| --- | --- | --- |",
      `| timeout precision: 20 hanging calls, timeoutMs 200: response after, median / max | ${round(median(precision), 0)} / ${round(Math.max(...precision), 0)} ms (p90 ${round(percentile(precision, 90), 0)}) | ≤ 250 ms |`,
      `| POST /v1/fanout with one 0 ms call, req/s | ${round(fanoutRps, 0)} | |`,
      `| GET /healthz, req/s | ${round(healthRps, 0)} | |`,
      `| fan-out of one / healthz (req/s ratio) | ${round(fanoutRps / healthRps)} | |`,
    ];
  } finally {
    await node.terminate();
    await minimal.stop();
    await worker.stop();
    await upstream.close();
  }
}
