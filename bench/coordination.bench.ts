/**
 * Coordination figures, all on one Miniflare serving the built bundle, in the same run:
 *  - counter increments/s over HTTP against GET /healthz req/s (target ratio ≥ 0.5), with the per-token /v1 rate
 *    limit on (the default) and off;
 *  - lock handoff with 50 clients long-polling in line: release → next grant, median and p99 (target median ≤ 5 ms),
 *    beside a client polling with a 100 ms retry delay (the usual Redis-lock style);
 *  - uncontended acquire+release pairs/s.
 */
import autocannon from "autocannon";
import { type RunningWorker, startMiniflare } from "../scripts/lib/worker.ts";
import { median, percentile, round } from "./lib/stats.ts";
import type { BenchContext } from "./run.ts";

const DURATION_S = 5;

async function reqPerSec(opts: autocannon.Options): Promise<{ rps: number; non2xx: number }> {
  const result = await autocannon({ connections: 10, duration: DURATION_S, ...opts });
  return { rps: result.requests.average, non2xx: result.non2xx };
}

function client(worker: RunningWorker) {
  const headers = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  return async (path: string, body?: unknown): Promise<{ status: number; body: Record<string, number> }> => {
    const res = await fetch(`${worker.url}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, number> };
  };
}

/** 50 clients wait in line (long-poll); each releases as soon as it is granted. Gaps from release to next grant. */
async function longPollHandoffs(worker: RunningWorker, waiters: number): Promise<number[]> {
  const call = client(worker);
  const lock = `handoff-${crypto.randomUUID()}`;
  const releasedAt = new Map<number, number>();
  const grantedAt = new Map<number, number>();
  const first = await call(`/v1/locks/${lock}/acquire`, { owner: "holder", ttlMs: 60_000 });
  const queued = Array.from({ length: waiters }, async (_, i) => {
    const g = await call(`/v1/locks/${lock}/acquire`, { owner: `w${i}`, ttlMs: 60_000, waitMs: 30_000 });
    if (g.status !== 200) throw new Error(`waiter ${i}: ${g.status}`);
    const token = g.body.token as number;
    grantedAt.set(token, performance.now());
    releasedAt.set(token, performance.now());
    await call(`/v1/locks/${lock}/release`, { owner: `w${i}`, token });
  });
  // Let every waiter get in line before the first release.
  for (let i = 0; i < 200; i++) {
    if ((await call(`/v1/locks/${lock}`)).body.waiters === waiters) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  releasedAt.set(first.body.token as number, performance.now());
  await call(`/v1/locks/${lock}/release`, { owner: "holder", token: first.body.token });
  await Promise.all(queued);
  const gaps: number[] = [];
  for (const [token, at] of grantedAt) {
    const before = releasedAt.get(token - 1);
    if (before !== undefined) gaps.push(at - before);
  }
  return gaps;
}

/** A client that polls every 100 ms while another holds the lock for a random while. Gaps from release to grant. */
async function pollingHandoffs(worker: RunningWorker, rounds: number, retryMs: number): Promise<number[]> {
  const call = client(worker);
  const lock = `polling-${crypto.randomUUID()}`;
  const gaps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const held = await call(`/v1/locks/${lock}/acquire`, { owner: "holder", ttlMs: 60_000 });
    let releasedAt = 0;
    const poller = (async () => {
      for (;;) {
        const g = await call(`/v1/locks/${lock}/acquire`, { owner: "poller", ttlMs: 60_000 });
        if (g.status === 200) {
          gaps.push(performance.now() - releasedAt);
          await call(`/v1/locks/${lock}/release`, { owner: "poller", token: g.body.token });
          return;
        }
        await new Promise((res) => setTimeout(res, retryMs));
      }
    })();
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 100));
    releasedAt = performance.now();
    await call(`/v1/locks/${lock}/release`, { owner: "holder", token: held.body.token });
    await poller;
  }
  return gaps;
}

/** Clients each on their own lock, acquire+release back to back for DURATION_S. */
async function uncontendedPairs(worker: RunningWorker, clients: number): Promise<number> {
  const call = client(worker);
  const until = performance.now() + DURATION_S * 1000;
  let pairs = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const lock = `solo-${i}-${crypto.randomUUID()}`;
      while (performance.now() < until) {
        const g = await call(`/v1/locks/${lock}/acquire`, { owner: "solo", ttlMs: 10_000 });
        const r = await call(`/v1/locks/${lock}/release`, { owner: "solo", token: g.body.token });
        if (g.status === 200 && r.status === 200) pairs++;
      }
    }),
  );
  return pairs / DURATION_S;
}

export default async function coordination(ctx: BenchContext): Promise<string[]> {
  const worker = await startMiniflare(ctx.bundle);
  try {
    const health = await reqPerSec({ url: `${worker.url}/healthz` });
    const counter = await reqPerSec({
      url: `${worker.url}/v1/counters/bench-${crypto.randomUUID()}/increment`,
      method: "POST",
      headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
      body: JSON.stringify({ by: 1 }),
    });
    // The same server with the per-token /v1 limit off: what the extra RateLimiter call per request costs.
    const unlimited = await startMiniflare(ctx.bundle, { API_RATE_LIMIT: "0" });
    let counterUnlimited: { rps: number };
    let longPollUnlimited: number[];
    try {
      counterUnlimited = await reqPerSec({
        url: `${unlimited.url}/v1/counters/bench-${crypto.randomUUID()}/increment`,
        method: "POST",
        headers: { authorization: `Bearer ${unlimited.token}`, "content-type": "application/json" },
        body: JSON.stringify({ by: 1 }),
      });
      longPollUnlimited = await longPollHandoffs(unlimited, 50);
    } finally {
      await unlimited.stop();
    }
    const longPoll = await longPollHandoffs(worker, 50);
    const polling = await pollingHandoffs(worker, 20, 100);
    const pairs1 = await uncontendedPairs(worker, 1);
    const pairs10 = await uncontendedPairs(worker, 10);
    return [
      "| figure | value |",
      "| --- | --- |",
      `| GET /healthz req/s (10 connections) | ${round(health.rps, 0)} |`,
      `| POST /v1/counters/:name/increment req/s, one counter (10 connections) | ${round(counter.rps, 0)}${counter.non2xx ? ` (${counter.non2xx} non-2xx)` : ""} |`,
      `| counter / healthz (target ≥ 0.5) | ${round(counter.rps / health.rps)} |`,
      `| the same increments with the per-token /v1 limit off (API_RATE_LIMIT=0), req/s | ${round(counterUnlimited.rps, 0)} |`,
      `| counter without the /v1 limit / healthz | ${round(counterUnlimited.rps / health.rps)} |`,
      `| lock handoff, 50 long-polling waiters: release → next grant, median ms (target ≤ 5) | ${round(median(longPoll))} |`,
      `| lock handoff, 50 long-polling waiters: p99 ms | ${round(percentile(longPoll, 99))} |`,
      `| the same handoffs with the /v1 limit off: median ms / p99 ms | ${round(median(longPollUnlimited))} / ${round(percentile(longPollUnlimited, 99))} |`,
      `| lock handoff, 1 client polling every 100 ms: median ms (${polling.length} handoffs) | ${round(median(polling))} |`,
      `| lock handoff, 1 client polling every 100 ms: p99 ms | ${round(percentile(polling, 99))} |`,
      `| long-poll / polling median handoff | ${round(median(longPoll) / median(polling), 3)} |`,
      `| uncontended acquire+release pairs/s, 1 client | ${round(pairs1, 0)} |`,
      `| uncontended acquire+release pairs/s, 10 clients on 10 locks | ${round(pairs10, 0)} |`,
    ];
  } finally {
    await worker.stop();
  }
}
