/**
 * Flow control end to end on the built worker (Miniflare, its real queue consumer), counted at a loopback upstream,
 * not by our own counters: three jobs and one fan-out share a key. With `parallelism: 2` the upstream never has more
 * than 2 of their requests in flight; with `rate: {limit: 5, periodMs: 1000}` no window of a second (less the
 * tolerance, docs/flow.md) sees more than 5 of them start. Every call still ends with its answer.
 */
import { describe, expect, it } from "vitest";
import { startUpstream } from "../../bench/lib/upstream.ts";
import { createClient, type Flow, type JobResult } from "../../src/client/index.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

/**
 * The documented tolerance (docs/flow.md, "The rate at the upstream"): the object counts a start when it grants it, and
 * the start reaches the upstream a few to some tens of ms later, by a delay that varies from call to call.
 */
const TOLERANCE_MS = 100;

const upstream = useUpstream(startUpstream);

// Jobs are followed through their rooms (tickets); a deferred chunk waits at most 2 s, so a paused key is quick to test.
const worker = useWorker({
  FANOUT_ALLOW_HOSTS: "127.0.0.1",
  ROOM_TICKET_SECRET: "e2e-ticket-secret",
  FLOW_JOB_MAX_DEFER_SECONDS: "2",
});

/** Three jobs (`perJob` calls each, concurrency 4) and one fan-out (`fanout` calls, concurrency 6) under `flow`. */
async function shareKey(flow: Flow, count: string, perJob: number, fanout: number) {
  const client = createClient({ baseUrl: worker.url, token: worker.token });
  const url = (who: string, i: number) => `${upstream.url}/r?key=${count}&latency=40&who=${who}&i=${i}`;
  const jobs = await Promise.all(
    [0, 1, 2].map((j) =>
      client.jobs.create({
        type: "fanout",
        concurrency: 4,
        flow,
        requests: Array.from({ length: perJob }, (_, i) => ({ url: url(`job${j}`, i) })),
      }),
    ),
  );
  const answer = await client.fanout(
    Array.from({ length: fanout }, (_, i) => ({ url: url("fanout", i) })),
    { concurrency: 6, deadlineMs: 60_000, flow },
  );
  const ended = await Promise.all(jobs.map((job) => client.jobs.wait(job.id, { signal: AbortSignal.timeout(60_000) })));
  const results: JobResult[][] = [];
  for (const job of jobs) {
    const all: JobResult[] = [];
    for await (const r of client.jobs.results(job.id)) all.push(r);
    results.push(all);
  }
  return { client, answer, ended, results };
}

describe("flow control at the upstream: three jobs and a fan-out sharing one key", () => {
  it("never has more than `parallelism` (2) requests in flight at the upstream, and every call answers", async () => {
    const count = crypto.randomUUID();
    const key = `e2e-${crypto.randomUUID()}`;
    const { client, answer, ended, results } = await shareKey({ key, parallelism: 2 }, count, 6, 8);

    expect(answer.summary).toMatchObject({ fulfilled: 8, rejected: 0 });
    expect(answer.results.every((r) => r.status === 200)).toBe(true);
    for (const [j, status] of ended.entries()) {
      expect(status).toMatchObject({ state: "succeeded", total: 6, done: 6, failed: 0 });
      expect(results[j]?.map((r) => [r.index, r.status])).toEqual(Array.from({ length: 6 }, (_, i) => [i, 200]));
    }
    const seen = upstream.stats(count);
    expect(seen).toMatchObject({ hits: 26, completed: 26, aborted: 0 });
    expect(seen.maxInFlight).toBe(2);
    expect(await client.flow(key).status()).toMatchObject({ inFlight: 0, waiting: 0, holders: 0, parallelism: 2 });
  }, 90_000);

  it("never lets more than `limit` (5) start in any second at the upstream, within the tolerance", async () => {
    const count = crypto.randomUUID();
    const key = `e2e-${crypto.randomUUID()}`;
    const rate = { limit: 5, periodMs: 1_000 };
    const { client, answer, ended } = await shareKey({ key, rate }, count, 4, 6);

    expect(answer.summary).toMatchObject({ fulfilled: 6, rejected: 0 });
    for (const status of ended) expect(status).toMatchObject({ state: "succeeded", total: 4, done: 4, failed: 0 });
    const starts = upstream.stats(count).starts.sort((a, b) => a - b);
    expect(starts).toHaveLength(18);
    // No limit + 1 starts within a window of periodMs less the tolerance: the (i + 5)th start is that far after the i-th.
    const spans = starts.slice(rate.limit).map((t, i) => t - (starts[i] as number));
    expect(Math.min(...spans)).toBeGreaterThanOrEqual(rate.periodMs - TOLERANCE_MS);
    // And the key is used: its first 5 went at once, as a burst.
    expect((starts[4] as number) - (starts[0] as number)).toBeLessThan(rate.periodMs);
    const status = await client.flow(key).status();
    expect(status).toMatchObject({ inFlight: 0, rate, parallelism: null });
  }, 90_000);

  it("pauses a key: nothing under it starts until it is resumed, then everything runs", async () => {
    const count = crypto.randomUUID();
    const key = `e2e-${crypto.randomUUID()}`;
    const client = createClient({ baseUrl: worker.url, token: worker.token });
    expect(await client.flow(key).pause()).toMatchObject({ key, paused: true });
    const job = await client.jobs.create({
      type: "fanout",
      flow: { key, parallelism: 1 },
      requests: [{ url: `${upstream.url}/r?key=${count}` }, { url: `${upstream.url}/r?key=${count}` }],
    });
    // Its chunk comes, waits in the key's line (FLOW_JOB_WAIT_MS), is deferred (FLOW_JOB_MAX_DEFER_SECONDS while
    // paused), comes again: twice in line, and nothing started.
    let lines = 0;
    const until = Date.now() + 20_000;
    for (let waiting = false; lines < 2 && Date.now() < until; ) {
      const now = (await client.flow(key).status()).waiting > 0;
      if (now && !waiting) lines++;
      waiting = now;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(lines).toBe(2);
    expect(upstream.stats(count).hits).toBe(0);
    expect(await client.jobs.get(job.id)).toMatchObject({ done: 0 });
    await client.flow(key).resume();
    const ended = await client.jobs.wait(job.id, { signal: AbortSignal.timeout(60_000) });
    expect(ended).toMatchObject({ state: "succeeded", done: 2, attempts: 1 });
    expect(upstream.stats(count)).toMatchObject({ hits: 2, maxInFlight: 1 });
  }, 90_000);
});
