/**
 * Counter increments through group commit against one RPC per increment (COUNTER_BATCH_WINDOW_MS=0, the way every
 * increment went before), in the same run, at the same concurrency, on one counter and on a counter spread over
 * SHARDS shards. Each round is DURATION_S of autocannon on a fresh counter; afterwards the bench reads, through
 * Miniflare, how many increment calls each of the counter's Counter objects served (`Counter#incrementCalls`) and the counter's value
 * (which must equal the 2xx answers, plus those in flight when autocannon stopped): RPCs per increment =
 * calls / value. Both servers serve the built bundle on
 * Miniflare without the local assets router hop (see health.bench.ts) and without the /v1 rate limit, alternating
 * rounds, medians reported.
 */
import autocannon from "autocannon";
import { type RunningWorker, startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 4;
const ROUNDS = Number(process.env.COUNTERS_BENCH_ROUNDS ?? 3);
/** Concurrency levels: group commit gains with the increments in flight at once in one isolate. */
const CONNECTIONS = (process.env.COUNTERS_BENCH_CONNECTIONS ?? "10,50").split(",").map(Number);
const SHARDS = 4;

/** The first error lines the servers logged, shown if a round gets non-2xx answers; workerd's warnings counted. */
const errors: string[] = [];
let warnings = 0;
const onLog = (log: { level: string; message: string }) => {
  if (log.message.startsWith("Warning:")) warnings++;
  if (errors.length < 3 && /error/i.test(log.message)) errors.push(log.message.slice(0, 2_000));
};
const opts = { assets: false, onLog };
/**
 * The /v1 rate limit off: the figures are the counter path's alone (coordination.bench.ts measures the limit's cost).
 * With it on, a few rounds at 50 connections got 500s from workerd itself after rounds whose clients hung up
 * mid-request (see the RESULTS section).
 */
const NO_RATE_LIMIT = { API_RATE_LIMIT: "0" };

interface Round {
  rps: number;
  increments: number;
  calls: number;
  /** Calls of the busiest object. */
  busiest: number;
}

async function api(w: RunningWorker, method: string, path: string, body?: unknown) {
  const res = await fetch(`${w.url}/v1/counters/${path}`, {
    method,
    headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { value: number; shards: number };
}

/** Increment calls each of the counter's objects has served (shard 0 is the counter's own object). */
async function callsOf(w: RunningWorker, name: string, shards: number): Promise<number[]> {
  const ns = await (w.miniflare as NonNullable<RunningWorker["miniflare"]>).getDurableObjectNamespace("COUNTER");
  return Promise.all(
    Array.from({ length: shards }, async (_, i) => {
      const stub = ns.get(ns.idFromName(i === 0 ? name : `${name}#${i}`)) as unknown as {
        incrementCalls: Promise<number>;
      };
      return await stub.incrementCalls;
    }),
  );
}

async function round1(w: RunningWorker, shards: number, connections: number): Promise<Round> {
  const name = `bench-${crypto.randomUUID()}`;
  if (shards > 1) await api(w, "PUT", `${name}/shards`, { shards });
  const before = await callsOf(w, name, shards);
  const result = await autocannon({
    url: `${w.url}/v1/counters/${name}/increment`,
    method: "POST",
    headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
    body: JSON.stringify({ by: 1 }),
    connections,
    duration: DURATION_S,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    const statuses = JSON.stringify((result as { statusCodeStats?: unknown }).statusCodeStats);
    throw new Error(
      `${result.non2xx} non-2xx (${statuses}), ${result.errors} errors, ${warnings} workerd warnings; logged: ${errors.join("\n")}`,
    );
  }
  // Requests still in flight when autocannon stops are served but not counted by it: let them land first.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const calls = (await callsOf(w, name, shards)).map((c, i) => c - (before[i] as number));
  const { value } = await api(w, "GET", name);
  if (value < result["2xx"] || value > result["2xx"] + connections) {
    throw new Error(`counted ${value}, answered ${result["2xx"]} (+ at most ${connections} in flight)`);
  }
  return {
    rps: result.requests.average,
    increments: value,
    calls: calls.reduce((a, b) => a + b, 0),
    busiest: Math.max(...calls),
  };
}

export default async function counters(ctx: BenchContext): Promise<string[]> {
  const started: RunningWorker[] = [];
  try {
    const grouped = await startMiniflare(ctx.bundle, NO_RATE_LIMIT, opts);
    started.push(grouped);
    const single = await startMiniflare(ctx.bundle, { ...NO_RATE_LIMIT, COUNTER_BATCH_WINDOW_MS: "0" }, opts);
    started.push(single);
    const variants = CONNECTIONS.flatMap((connections) => [
      { label: "one RPC per increment (COUNTER_BATCH_WINDOW_MS=0)", w: single, shards: 1, connections },
      { label: "group commit (COUNTER_BATCH_WINDOW_MS=2, COUNTER_BATCH_MAX=64)", w: grouped, shards: 1, connections },
      { label: `one RPC per increment, ${SHARDS} shards`, w: single, shards: SHARDS, connections },
      { label: `group commit, ${SHARDS} shards`, w: grouped, shards: SHARDS, connections },
    ]);
    type Variant = (typeof variants)[number];
    // Warm-up (JIT, first objects): not counted.
    for (const v of variants.slice(0, 4)) await round1(v.w, v.shards, v.connections);
    const rounds = new Map(variants.map((v) => [v, [] as Round[]]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of variants) {
        const done = await round1(v.w, v.shards, v.connections).catch((err: Error) => {
          throw new Error(`${v.label}, ${v.connections} connections, round ${r}: ${err.message}`);
        });
        rounds.get(v)?.push(done);
      }
    }
    const med = (v: Variant, f: (r: Round) => number) => median((rounds.get(v) ?? []).map(f));
    const rows = variants.map((v) => {
      const base = variants.find((b) => b.connections === v.connections) as Variant;
      const rps = med(v, (r) => r.rps);
      const perIncrement = med(v, (r) => r.calls / r.increments);
      const busiestPerSec = med(v, (r) => r.busiest / DURATION_S);
      return `| ${v.connections} | ${v.label} | ${round(rps, 0)} | ${round(rps / med(base, (r) => r.rps))} | ${round(perIncrement, 3)} | ${round(1 / perIncrement, 1)} | ${round(busiestPerSec, 0)} |`;
    });
    return [
      `${ROUNDS} alternating rounds after a warm-up, ${DURATION_S} s of autocannon each, \`POST /v1/counters/:name/increment {"by":1}\`, a fresh counter per round; medians of the rounds. Every round's counter value equalled its 2xx answers (plus the few in flight when autocannon stopped).`,
      "",
      "| connections | variant | increments/s | / one RPC per increment | RPCs per increment | increments per RPC | calls/s to the busiest object |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      ...rows,
      "",
      `workerd warnings logged during the run (a promise settled across requests): ${warnings}.`,
    ];
  } finally {
    for (const w of started) await w.stop();
  }
}
