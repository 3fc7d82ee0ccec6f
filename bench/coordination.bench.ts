/**
 * Coordination figures, in the same run, against the platform's limit: a bare Worker making one RPC to a bare
 * SQLite-backed Durable Object per request (bench/baselines/bare-coordination.js), on Miniflare like ours:
 *  - counter increments/s, one counter, 10 connections: ours / bare (target ≥ 0.85), in alternating rounds (medians);
 *  - lock hand-off with 50 clients long-polling in line: release → next grant at the client, median and p99 (target
 *    median ≤ 5 ms), ours and bare, and ours with parts switched off by settings (the /v1 rate limit, the fencing
 *    proof), for the budget;
 *  - beside them, for context: GET /healthz, a client polling with a 100 ms retry delay (the usual Redis-lock style),
 *    uncontended acquire+release pairs/s.
 * Ours runs as configured (FENCE_SECRET set: grants carry a signed fence) and without the local [assets] router hop,
 * which Miniflare puts before every request (health.bench.ts); the bare worker has no such hop, so "ours / bare" is
 * read without it.
 */
import autocannon from "autocannon";
import { type RunningWorker, startMiniflare } from "../scripts/lib/worker.ts";
import { startBaselineWorker } from "./lib/baseline-worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 4;
const ROUNDS = Number(process.env.COORDINATION_BENCH_ROUNDS ?? 3);
const WAITERS = 50;
const FENCE = { FENCE_SECRET: "bench-fence-secret" };

/** A server and the path prefix and token its API takes (ours: /v1 with the bench token; bare: none). */
export interface Target {
  url: string;
  prefix: string;
  token?: string;
}

async function reqPerSec(opts: autocannon.Options): Promise<number> {
  const result = await autocannon({ connections: 10, duration: DURATION_S, ...opts });
  if (result.non2xx > 0) throw new Error(`${opts.url}: ${result.non2xx} non-2xx answers`);
  return result.requests.average;
}

const headersOf = (t: Target) => ({
  "content-type": "application/json",
  ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
});

export const increments = (t: Target) =>
  reqPerSec({
    url: `${t.url}${t.prefix}/counters/bench-${crypto.randomUUID()}/increment`,
    method: "POST",
    headers: headersOf(t),
    body: JSON.stringify({ by: 1 }),
  });

function client(t: Target) {
  return async (path: string, body?: unknown): Promise<{ status: number; body: Record<string, number> }> => {
    const res = await fetch(`${t.url}${t.prefix}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: headersOf(t),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, number> };
  };
}

/** Wall-clock time in ms with sub-ms resolution, comparable with the Durable Object's Date.now() (one machine). */
const wallNow = () => performance.timeOrigin + performance.now();

/** One hand-off: release sent → next grant received at the client, split where the object granted it. */
export interface Handoff {
  gap: number;
  /** From the client sending the release to the object granting the next waiter (its Date.now(), ms resolution). */
  toObject: number;
  /** From the object granting to the grant's answer being read by the waiting client. */
  fromObject: number;
}

/** WAITERS clients wait in line (long-poll); each releases as soon as it is granted. Gaps from release to next grant. */
export async function longPollHandoffs(t: Target): Promise<Handoff[]> {
  const call = client(t);
  const lock = `handoff-${crypto.randomUUID()}`;
  const releasedAt = new Map<number, number>();
  const grantedAt = new Map<number, number>();
  const objectGrantedAt = new Map<number, number>();
  const first = await call(`/locks/${lock}/acquire`, { owner: "holder", ttlMs: 60_000 });
  const queued = Array.from({ length: WAITERS }, async (_, i) => {
    const g = await call(`/locks/${lock}/acquire`, { owner: `w${i}`, ttlMs: 60_000, waitMs: 30_000 });
    if (g.status !== 200) throw new Error(`waiter ${i}: ${g.status}`);
    const token = g.body.token as number;
    grantedAt.set(token, wallNow());
    objectGrantedAt.set(token, g.body.grantedAt as number);
    releasedAt.set(token, wallNow());
    await call(`/locks/${lock}/release`, { owner: `w${i}`, token });
  });
  // Let every waiter get in line before the first release.
  for (let i = 0; i < 200; i++) {
    if ((await call(`/locks/${lock}`)).body.waiters === WAITERS) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  releasedAt.set(first.body.token as number, wallNow());
  await call(`/locks/${lock}/release`, { owner: "holder", token: first.body.token });
  await Promise.all(queued);
  const handoffs: Handoff[] = [];
  for (const [token, at] of grantedAt) {
    const before = releasedAt.get(token - 1);
    const granted = objectGrantedAt.get(token) as number;
    if (before !== undefined) handoffs.push({ gap: at - before, toObject: granted - before, fromObject: at - granted });
  }
  return handoffs;
}

/** A client that polls every 100 ms while another holds the lock for a random while. Gaps from release to grant. */
async function pollingHandoffs(t: Target, rounds: number, retryMs: number): Promise<number[]> {
  const call = client(t);
  const lock = `polling-${crypto.randomUUID()}`;
  const gaps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const held = await call(`/locks/${lock}/acquire`, { owner: "holder", ttlMs: 60_000 });
    let releasedAt = 0;
    const poller = (async () => {
      for (;;) {
        const g = await call(`/locks/${lock}/acquire`, { owner: "poller", ttlMs: 60_000 });
        if (g.status === 200) {
          gaps.push(performance.now() - releasedAt);
          await call(`/locks/${lock}/release`, { owner: "poller", token: g.body.token });
          return;
        }
        await new Promise((res) => setTimeout(res, retryMs));
      }
    })();
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 100));
    releasedAt = performance.now();
    await call(`/locks/${lock}/release`, { owner: "holder", token: held.body.token });
    await poller;
  }
  return gaps;
}

/** Clients each on their own lock, acquire+release back to back for DURATION_S. */
async function uncontendedPairs(t: Target, clients: number): Promise<number> {
  const call = client(t);
  const until = performance.now() + DURATION_S * 1000;
  let pairs = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const lock = `solo-${i}-${crypto.randomUUID()}`;
      while (performance.now() < until) {
        const g = await call(`/locks/${lock}/acquire`, { owner: "solo", ttlMs: 10_000 });
        const r = await call(`/locks/${lock}/release`, { owner: "solo", token: g.body.token });
        if (g.status === 200 && r.status === 200) pairs++;
      }
    }),
  );
  return pairs / DURATION_S;
}

export const ours = (w: RunningWorker): Target => ({ url: w.url, prefix: "/v1", token: w.token });

export default async function coordination(ctx: BenchContext): Promise<string[]> {
  const started: { stop(): Promise<void> }[] = [];
  const start = async <T extends { stop(): Promise<void> }>(s: Promise<T>) => {
    const server = await s;
    started.push(server);
    return server;
  };
  try {
    const configured = ours(await start(startMiniflare(ctx.bundle, FENCE)));
    const direct = ours(await start(startMiniflare(ctx.bundle, FENCE, { assets: false })));
    const noLimit = ours(await start(startMiniflare(ctx.bundle, { ...FENCE, API_RATE_LIMIT: "0" }, { assets: false })));
    const noFence = ours(await start(startMiniflare(ctx.bundle, {}, { assets: false })));
    const bareWorker = await start(
      startBaselineWorker(new URL("./baselines/bare-coordination.js", import.meta.url).pathname, {
        COUNTER: "BareCounter",
        LOCK: "BareLock",
      }),
    );
    const bare: Target = { url: bareWorker.url, prefix: "" };

    // Warm-up: each server's first requests (JIT, first objects), not counted.
    for (const t of [configured, direct, noLimit, noFence, bare]) {
      await reqPerSec({ url: `${t.url}/healthz`, duration: 1 });
      await longPollHandoffs(t);
    }
    const rps = { health: [] as number[], configured: [] as number[], direct: [] as number[], bare: [] as number[] };
    const handoffs = new Map<Target, Handoff[]>([
      [configured, []],
      [direct, []],
      [noLimit, []],
      [noFence, []],
      [bare, []],
    ]);
    for (let r = 0; r < ROUNDS; r++) {
      rps.health.push(await reqPerSec({ url: `${configured.url}/healthz` }));
      rps.configured.push(await increments(configured));
      rps.direct.push(await increments(direct));
      rps.bare.push(await increments(bare));
      for (const [t, gaps] of handoffs) gaps.push(...(await longPollHandoffs(t)));
    }
    const polling = await pollingHandoffs(configured, 20, 100);
    const pairs1 = await uncontendedPairs(configured, 1);
    const pairs10 = await uncontendedPairs(configured, 10);

    const m = (list: number[]) => median(list);
    const gaps = (t: Target) => (handoffs.get(t) as Handoff[]).map((h) => h.gap);
    const split = (t: Target) => {
      const list = handoffs.get(t) as Handoff[];
      return `${round(m(list.map((h) => h.toObject)))} / ${round(m(list.map((h) => h.fromObject)))}`;
    };
    const handoffRow = (label: string, t: Target) =>
      `| ${label} | ${round(m(gaps(t)))} | ${round(percentile(gaps(t), 99))} | ${round(m(gaps(t)) - m(gaps(bare)))} |`;
    return [
      `${ROUNDS} alternating rounds after a warm-up; increments: ${DURATION_S} s of autocannon, 10 connections, one counter per run, medians of the rounds; hand-off: ${WAITERS} long-polling waiters per round, median and p99 of all ${ROUNDS * WAITERS} hand-offs.`,
      "",
      "| figure | edgeloop (Miniflare, built bundle, as configured) | edgeloop without the local assets router hop | bare Worker + Durable Object | target |",
      "| --- | --- | --- | --- | --- |",
      `| POST …/counters/:name/increment req/s | ${round(m(rps.configured), 0)} | ${round(m(rps.direct), 0)} | ${round(m(rps.bare), 0)} | |`,
      `| counter increments: ours / bare | ${round(m(rps.configured) / m(rps.bare))} | ${round(m(rps.direct) / m(rps.bare))} | 1 | ≥ 0.85 |`,
      `| lock hand-off, ${WAITERS} long-polling waiters: release → next grant, median ms | ${round(m(gaps(configured)))} | ${round(m(gaps(direct)))} | ${round(m(gaps(bare)))} | ≤ 5 |`,
      `| lock hand-off p99 ms | ${round(percentile(gaps(configured), 99))} | ${round(percentile(gaps(direct), 99))} | ${round(percentile(gaps(bare), 99))} | |`,
      `| hand-off split, medians ms: release sent → object grants / object grants → grant read by the waiter | ${split(configured)} | ${split(direct)} | ${split(bare)} | |`,
      "",
      "Lock hand-off budget (without the assets router hop): what each switchable part of ours adds to the bare Worker + Durable Object's hand-off.",
      "",
      "| edgeloop variant | median ms | p99 ms | median − bare, ms |",
      "| --- | --- | --- | --- |",
      handoffRow("as configured (FENCE_SECRET set, /v1 rate limit on)", direct),
      handoffRow("the /v1 rate limit off (API_RATE_LIMIT=0)", noLimit),
      handoffRow("no fencing proof (FENCE_SECRET unset: grants are not signed)", noFence),
      `| bare Worker + Durable Object | ${round(m(gaps(bare)))} | ${round(percentile(gaps(bare), 99))} | 0 |`,
      "",
      "For context (edgeloop as configured):",
      "",
      "| figure | value |",
      "| --- | --- |",
      `| GET /healthz req/s (10 connections) | ${round(m(rps.health), 0)} |`,
      `| counter increments / healthz | ${round(m(rps.configured) / m(rps.health))} |`,
      `| lock hand-off, 1 client polling every 100 ms: median ms (${polling.length} hand-offs) | ${round(m(polling))} |`,
      `| lock hand-off, 1 client polling every 100 ms: p99 ms | ${round(percentile(polling, 99))} |`,
      `| long-poll / polling median hand-off | ${round(m(gaps(configured)) / m(polling), 3)} |`,
      `| uncontended acquire+release pairs/s, 1 client | ${round(pairs1, 0)} |`,
      `| uncontended acquire+release pairs/s, 10 clients on 10 locks | ${round(pairs10, 0)} |`,
    ];
  } finally {
    for (const server of started) await server.stop();
  }
}
