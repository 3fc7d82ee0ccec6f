/**
 * Jobs: a 5,000-URL fan-out job against a loopback upstream answering in 10 ms, from POST to its final state:
 * URLs/s and wall time against the ideal for the configured consumer concurrency. Beside it, in the same run, the
 * same 5,000 calls sent by a client as 100-request POST /v1/fanout calls with the same number in flight.
 *
 * The ideal: every request takes the upstream's latency and the consumer keeps
 * (messages run at once) × (the job's concurrency) requests in flight, so N × latency / that.
 * The local queue broker (Miniflare) dispatches one batch at a time, so the messages run at once are
 * min(max_batch_size, JOBS_CONSUMER_CONCURRENCY); on Cloudflare, up to max_concurrency batches run side by side.
 */

import { startMiniflare } from "../scripts/lib/worker.ts";
import { round } from "./lib/stats.ts";
import { startUpstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const N = 5_000;
const LATENCY_MS = 10;
const JOB_CONCURRENCY = 10;
const CONSUMER_CONCURRENCY = 5;
const MAX_BATCH_SIZE = 10; // wrangler.toml [[queues.consumers]] edgeloop-jobs
const CHUNK_SIZE = 50;
const FANOUT_BATCH = 100;

export default async function jobs(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, {
    FANOUT_ALLOW_HOSTS: "127.0.0.1",
    FANOUT_MAX_REQUESTS: String(FANOUT_BATCH),
    JOBS_CHUNK_SIZE: String(CHUNK_SIZE),
    JOBS_CONSUMER_CONCURRENCY: String(CONSUMER_CONCURRENCY),
  });
  const headers = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  const urls = (run: string) =>
    Array.from({ length: N }, (_, i) => ({ url: `${upstream.url}/${run}/${i}?latency=${LATENCY_MS}` }));
  try {
    // Warm-up: one small job, so the first measured one does not pay for starting the consumer.
    await runJob(worker.url, headers, urls("warm").slice(0, 100));

    upstream.reset();
    const job = await runJob(worker.url, headers, urls("job"));
    const jobCalls = upstream.count();

    upstream.reset();
    const started = performance.now();
    const all = urls("fanout");
    const inFlight = CONSUMER_CONCURRENCY;
    let next = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < all.length) {
          const requests = all.slice(next, next + FANOUT_BATCH);
          next += FANOUT_BATCH;
          const res = await fetch(`${worker.url}/v1/fanout`, {
            method: "POST",
            headers,
            body: JSON.stringify({ requests, concurrency: JOB_CONCURRENCY }),
          });
          if (!res.ok) failed++;
          await res.arrayBuffer();
        }
      }),
    );
    const fanoutMs = performance.now() - started;
    const fanoutCalls = upstream.count();

    const messagesAtOnce = Math.min(MAX_BATCH_SIZE, CONSUMER_CONCURRENCY);
    const idealMs = (N * LATENCY_MS) / (messagesAtOnce * JOB_CONCURRENCY);
    const fanoutIdealMs = (N * LATENCY_MS) / (inFlight * JOB_CONCURRENCY);
    return [
      `${N} URLs, upstream latency ${LATENCY_MS} ms; job: chunks of ${CHUNK_SIZE}, job concurrency ${JOB_CONCURRENCY},`,
      `JOBS_CONSUMER_CONCURRENCY ${CONSUMER_CONCURRENCY}, max_batch_size ${MAX_BATCH_SIZE}; /v1/fanout: ${FANOUT_BATCH}-request calls,`,
      `${inFlight} at a time, concurrency ${JOB_CONCURRENCY} each (the same ${inFlight * JOB_CONCURRENCY} requests in flight).`,
      "",
      "| figure | job (Queues) | /v1/fanout calls |",
      "| --- | --- | --- |",
      `| wall time, ms | ${round(job.ms, 0)} | ${round(fanoutMs, 0)} |`,
      `| URLs/s | ${round(N / (job.ms / 1000), 0)} | ${round(N / (fanoutMs / 1000), 0)} |`,
      `| ideal wall time, ms | ${round(idealMs, 0)} | ${round(fanoutIdealMs, 0)} |`,
      `| wall time / ideal | ${round(job.ms / idealMs)} | ${round(fanoutMs / fanoutIdealMs)} |`,
      `| upstream calls | ${jobCalls} | ${fanoutCalls} |`,
      `| final state / failed calls | ${job.state}, ${job.done} done | ${failed} failed HTTP calls |`,
      `| job / fanout wall time | ${round(job.ms / fanoutMs)} | 1 |`,
    ];
  } finally {
    await worker.stop();
    await upstream.close();
  }
}

async function runJob(
  base: string,
  headers: Record<string, string>,
  requests: { url: string }[],
): Promise<{ ms: number; state: string; done: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/v1/jobs`, {
    method: "POST",
    headers: { ...headers, "idempotency-key": `bench-${crypto.randomUUID()}` },
    body: JSON.stringify({ type: "fanout", requests, concurrency: JOB_CONCURRENCY }),
  });
  if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const status = (await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as {
      state: string;
      done: number;
    };
    if (status.state !== "queued" && status.state !== "running") {
      return { ms: performance.now() - started, state: status.state, done: status.done };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
