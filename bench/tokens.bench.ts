/**
 * What a scoped token costs: counter increments (`POST /v1/counters/:name/increment {"by":1}`) with a scoped token
 * (scope `counters:write`, name patterns, a namespace: every check a request can meet, and the confined bindings)
 * against the same with the root token, on one server, in alternating rounds of the same run. The token's lookup is
 * cached per isolate (TOKENS_CACHE_SECONDS), so past the first calls a scoped request asks no object; the budget is a
 * scoped throughput of at least 0.95 of the root token's. Rounds come in pairs, one of each token back to back (which
 * goes first alternates), and the figure is the median of the pairs' ratios: on a shared machine the load drifts
 * between rounds far more than a token's cost, and a pair sees about the same load. The /v1 rate limit is off, as in
 * counters.bench.ts: the figures are auth's and the counter path's alone. The built bundle is served on Miniflare,
 * without the assets hop.
 */
import autocannon from "autocannon";
import { type RunningWorker, startMiniflare } from "../scripts/lib/worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { withWorkerdCpu } from "./lib/workerd-cpu.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 2;
const ROUNDS = Number(process.env.TOKENS_BENCH_ROUNDS ?? 15);
const CONNECTIONS = Number(process.env.TOKENS_BENCH_CONNECTIONS ?? 50);
const BUDGET = 0.95;

async function mintToken(w: RunningWorker): Promise<string> {
  const res = await fetch(`${w.url}/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "bench",
      scopes: ["counters:write", "counters:read"],
      names: { counters: ["bench-*"] },
      namespace: "bench",
    }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/tokens: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

async function value(w: RunningWorker, token: string, name: string): Promise<number> {
  const res = await fetch(`${w.url}/v1/counters/${name}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET ${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { value: number }).value;
}

interface Round {
  rps: number;
  /** CPU ms workerd spent per increment (on shared cores, much steadier than wall time). */
  cpu: number;
}

type Served = RunningWorker & { cpuMs: () => number };

async function round1(w: Served, token: string): Promise<Round> {
  const name = `bench-${crypto.randomUUID()}`;
  const cpuBefore = w.cpuMs();
  const result = await autocannon({
    url: `${w.url}/v1/counters/${name}/increment`,
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ by: 1 }),
    connections: CONNECTIONS,
    duration: DURATION_S,
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const cpu = w.cpuMs() - cpuBefore;
  const counted = await value(w, token, name);
  if (counted < result["2xx"] || counted > result["2xx"] + CONNECTIONS) {
    throw new Error(`counted ${counted}, answered ${result["2xx"]}`);
  }
  return { rps: result.requests.average, cpu: cpu / counted };
}

const spread = (xs: number[]) =>
  `median ${round(median(xs))}, quartiles ${round(percentile(xs, 25))}–${round(percentile(xs, 75))}`;

export default async function tokens(ctx: BenchContext): Promise<string[]> {
  const w = await withWorkerdCpu(() => startMiniflare(ctx.bundle, { API_RATE_LIMIT: "0" }, { assets: false }));
  try {
    const root = { label: "root token (API_TOKEN)", token: w.token };
    const scoped = { label: "scoped token: counters:write, names bench-*, namespace bench", token: await mintToken(w) };
    // Warm-up (JIT, the token's first lookup): not counted.
    for (const v of [root, scoped]) await round1(w, v.token);
    const pairs: { root: Round; scoped: Round }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Back to back, the first alternating: a pair sees about the same load.
      const first = r % 2 === 0 ? root : scoped;
      const a = await round1(w, first.token);
      const b = await round1(w, (first === root ? scoped : root).token);
      pairs.push(first === root ? { root: a, scoped: b } : { root: b, scoped: a });
    }
    const rps = pairs.map((p) => p.scoped.rps / p.root.rps);
    const cpu = pairs.map((p) => p.scoped.cpu / p.root.cpu);
    const ratio = median(rps);
    const row = (label: string, rounds: Round[]) =>
      `| ${label} | ${round(median(rounds.map((x) => x.rps)), 0)} | ${round(median(rounds.map((x) => x.cpu)), 3)} |`;
    return [
      `${ROUNDS} pairs of rounds after a warm-up (one round per token, back to back, the first alternating), ${DURATION_S} s of autocannon each at ${CONNECTIONS} connections, \`POST /v1/counters/:name/increment {"by":1}\` on a fresh counter per round, API_RATE_LIMIT=0. Every round's counter value equalled its 2xx answers (plus those in flight when autocannon stopped).`,
      "",
      "| token | increments/s (median of rounds) | workerd CPU ms per increment (median) |",
      "| --- | --- | --- |",
      row(
        root.label,
        pairs.map((p) => p.root),
      ),
      row(
        scoped.label,
        pairs.map((p) => p.scoped),
      ),
      "",
      `Scoped / root throughput, per pair: ${rps.map((x) => round(x)).join(", ")}; ${spread(rps)}.`,
      `Scoped / root CPU per increment, per pair: ${spread(cpu)}.`,
      `Budget: scoped ≥ ${BUDGET} × root throughput (median of the pairs). Measured ${round(ratio)}: ${ratio >= BUDGET ? "met" : "MISSED"}.`,
    ];
  } finally {
    await w.stop();
  }
}
