/**
 * A counter increment through the service binding against the same through /v1 over HTTP, in the same run. A caller
 * Worker (bench/baselines/binding-caller.js) makes one increment per request it gets, by the binding's RPC method
 * (`env.EDGELOOP.counter(name).increment(1)`), by the binding's `fetch` (what `createClient({ binding })` sends), or,
 * without a binding, over HTTP to edgeloop's URL with the bearer token; so each of the three includes the same hop
 * into the caller, and their ratio is the binding's gain for a Worker. The fourth row is /v1 called directly, with no
 * caller in front. Every edgeloop here is the built bundle on Miniflare without the assets router hop and without the
 * /v1 rate limit (a binding has none unless its props give a rate: the figures are the transport's), the caller and
 * the edgeloop it binds on one Miniflare, the edgeloop called over HTTP on another. Rounds alternate between the
 * paths, DURATION_S of autocannon each on a fresh counter; medians reported. Each round's counter must equal its 2xx
 * answers (plus those in flight when autocannon stopped).
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import type { V4WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { edgeloopWorker, type RunningWorker, serveWorkers, startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 4;
const ROUNDS = Number(process.env.BINDING_BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BINDING_BENCH_CONNECTIONS ?? "10,50").split(",").map(Number);
const VARS = { API_RATE_LIMIT: "0" };

/** What answers a request: a URL's fetch, or Miniflare's handle on a worker. */
type Fetches = { fetch(url: string, init: { headers: Record<string, string> }): Promise<{ json(): Promise<unknown> }> };

interface Path {
  label: string;
  /** What autocannon sends for one increment of the counter `name`. */
  request: (name: string) => { url: string; headers?: Record<string, string>; body?: string };
  /** Reads the counter `name` back. */
  read: (name: string) => Promise<number>;
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
}

/** Serve the caller Worker bound to an edgeloop beside it, and told `http`'s URL for its HTTP path. */
async function startCaller(bundle: string, http: RunningWorker): Promise<RunningWorker> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(new URL("../wrangler.toml", import.meta.url).pathname);
  const caller = {
    name: "caller",
    modules: true,
    script: readFileSync(new URL("./baselines/binding-caller.js", import.meta.url), "utf8"),
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    serviceBindings: { EDGELOOP: { name: "edgeloop", entrypoint: "Edgeloop" } },
    bindings: { EDGELOOP_URL: http.url, TOKEN: http.token },
  } as V4WorkerOptions;
  return serveWorkers([caller, edgeloopWorker(bundle, VARS, false)]);
}

/** The counter `name` of the edgeloop `w` answers for (`via`: how to reach it, by default its URL). */
async function counterValue(w: RunningWorker, name: string, via: Fetches | undefined = undefined) {
  const url = `${via ? "http://edgeloop" : w.url}/v1/counters/${name}`;
  const init = { headers: { authorization: `Bearer ${w.token}` } };
  const res = await (via ? via.fetch(url, init) : fetch(url, init));
  return ((await res.json()) as { value: number }).value;
}

async function round1(path: Path, connections: number): Promise<Round> {
  const name = `bench-${crypto.randomUUID()}`;
  const result = await autocannon({ ...path.request(name), method: "POST", connections, duration: DURATION_S });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${path.label}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  // Requests still in flight when autocannon stops are served but not counted by it: let them land first.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const value = await path.read(name);
  if (value < result["2xx"] || value > result["2xx"] + connections) {
    throw new Error(`${path.label}: counted ${value}, answered ${result["2xx"]} (+ at most ${connections} in flight)`);
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

export default async function binding(ctx: BenchContext): Promise<string[]> {
  const started: RunningWorker[] = [];
  try {
    const http = await startMiniflare(ctx.bundle, VARS, { assets: false });
    started.push(http);
    const caller = await startCaller(ctx.bundle, http);
    started.push(caller);
    const bound = (await caller.miniflare?.getWorker("edgeloop")) as unknown as Fetches;
    const readBound = (name: string) => counterValue(caller, name, bound);
    const readHttp = (name: string) => counterValue(http, name);
    const paths: Path[] = [
      {
        label: "Worker → binding RPC (`counter(name).increment(1)`)",
        request: (n) => ({ url: `${caller.url}/rpc?name=${n}` }),
        read: readBound,
      },
      {
        label: "Worker → binding fetch (`createClient({ binding })`)",
        request: (n) => ({ url: `${caller.url}/fetch?name=${n}` }),
        read: readBound,
      },
      {
        label: "Worker → /v1 over HTTP with a bearer token",
        request: (n) => ({ url: `${caller.url}/http?name=${n}` }),
        read: readHttp,
      },
      {
        label: "/v1 over HTTP directly (no caller Worker)",
        request: (n) => ({
          url: `${http.url}/v1/counters/${n}/increment`,
          headers: { authorization: `Bearer ${http.token}`, "content-type": "application/json" },
          body: JSON.stringify({ by: 1 }),
        }),
        read: readHttp,
      },
    ];
    const viaHttp = paths[2] as Path;

    const lines: string[] = [];
    for (const connections of CONNECTIONS) {
      for (const p of paths) await round1(p, connections); // warm-up: not counted
      const rounds = new Map(paths.map((p) => [p, [] as Round[]]));
      for (let r = 0; r < ROUNDS; r++) for (const p of paths) rounds.get(p)?.push(await round1(p, connections));
      const med = (p: Path, f: (r: Round) => number) => median((rounds.get(p) ?? []).map(f));
      for (const p of paths) {
        const rps = med(p, (r) => r.rps);
        const ratio = round(rps / med(viaHttp, (r) => r.rps));
        lines.push(
          `| ${connections} | ${p.label} | ${round(rps, 0)} | ${ratio} | ${med(p, (r) => r.p50)} | ${med(p, (r) => r.p99)} |`,
        );
      }
    }
    return [
      `${ROUNDS} alternating rounds per concurrency after a warm-up, ${DURATION_S} s of autocannon each, one increment per request on a fresh counter; medians of the rounds. Every round's counter equalled its 2xx answers (plus the few in flight when autocannon stopped).`,
      "",
      "| connections | path | increments/s | / Worker → /v1 over HTTP | p50 ms | p99 ms |",
      "| --- | --- | --- | --- | --- | --- |",
      ...lines,
    ];
  } finally {
    for (const w of started) await w.stop();
  }
}
