/**
 * What a scoped token costs: counter increments (`POST /v1/counters/:name/increment {"by":1}`) with a scoped token
 * (scope `counters:write`, name patterns, a namespace: every check a request can meet, and the confined bindings)
 * against the same with the root token, on one server, in alternating rounds of the same run. The token's lookup is
 * cached per isolate (TOKENS_CACHE_SECONDS), so past the first calls a scoped request asks no object; the budget is a
 * scoped throughput of at least 0.95 of the root token's. The /v1 rate limit is off, as in counters.bench.ts: the
 * figures are auth's and the counter path's alone. The built bundle is served on Miniflare, without the assets hop.
 */
import autocannon from "autocannon";
import { type RunningWorker, startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 4;
const ROUNDS = Number(process.env.TOKENS_BENCH_ROUNDS ?? 5);
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

async function round1(w: RunningWorker, token: string): Promise<number> {
  const name = `bench-${crypto.randomUUID()}`;
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
  const counted = await value(w, token, name);
  if (counted < result["2xx"] || counted > result["2xx"] + CONNECTIONS) {
    throw new Error(`counted ${counted}, answered ${result["2xx"]}`);
  }
  return result.requests.average;
}

export default async function tokens(ctx: BenchContext): Promise<string[]> {
  const w = await startMiniflare(ctx.bundle, { API_RATE_LIMIT: "0" }, { assets: false });
  try {
    const scoped = await mintToken(w);
    const variants = [
      { label: "root token (API_TOKEN)", token: w.token },
      { label: "scoped token: counters:write, names bench-*, namespace bench", token: scoped },
    ];
    // Warm-up (JIT, the token's first lookup): not counted.
    for (const v of variants) await round1(w, v.token);
    const rps = new Map(variants.map((v) => [v, [] as number[]]));
    for (let r = 0; r < ROUNDS; r++) for (const v of variants) rps.get(v)?.push(await round1(w, v.token));
    const [root, scopedV] = variants.map((v) => median(rps.get(v) ?? [])) as [number, number];
    const ratio = scopedV / root;
    return [
      `${ROUNDS} alternating rounds after a warm-up, ${DURATION_S} s of autocannon each at ${CONNECTIONS} connections, \`POST /v1/counters/:name/increment {"by":1}\` on a fresh counter per round, API_RATE_LIMIT=0; medians. Every round's counter value equalled its 2xx answers (plus those in flight when autocannon stopped).`,
      "",
      "| token | increments/s (median) | rounds | / root token |",
      "| --- | --- | --- | --- |",
      ...variants.map((v) => {
        const all = rps.get(v) ?? [];
        return `| ${v.label} | ${round(median(all), 0)} | ${all.map((x) => round(x, 0)).join(", ")} | ${round(median(all) / root)} |`;
      }),
      "",
      `Budget: scoped ≥ ${BUDGET} × root. Measured ${round(ratio)}: ${ratio >= BUDGET ? "met" : "MISSED"}.`,
    ];
  } finally {
    await w.stop();
  }
}
