/**
 * Shared helpers of the jobs tests: seed a job straight into its Durable Object (nothing is sent to the queue, so
 * the test alone decides what is delivered), deliver a batch to the queue() handler, read the loopback upstream.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject } from "vitest";
import worker from "../../functions/index";
import { FanoutItemSchema, FanoutOptionsSchema } from "../../src/fanout/schema";
import { jobIdFor } from "../../src/jobs/ids";
import type { CreateJobInput } from "../../src/jobs/types";
import { until } from "../helpers/api";

declare module "vitest" {
  export interface ProvidedContext {
    /** The loopback upstream of test/setup/jobs-upstream.ts. */
    jobsUpstream: string;
  }
}

export const UP = inject("jobsUpstream");
/** The jobs queue, as wrangler.toml names it. */
export const JOBS_QUEUE = "edgeloop-jobs";
export const BASE = "http://edgeloop.test";
export const AUTH = { authorization: "Bearer test-token" };

/** Whose idempotency keys the test token's jobs are under: the token's SHA-256, in hex. */
const TOKEN_SCOPE = Array.from(
  new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("test-token"))),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

/** True when the test token's Idempotency-Key `key` has no job: its Job object holds nothing (no job, no tombstone). */
export async function nothingStored(key: string): Promise<boolean> {
  const stub = env.JOB.getByName(await jobIdFor(TOKEN_SCOPE, key));
  return (await stub.status()) === null && (await stub.gone()) === null;
}

export const newJobId = () => crypto.randomUUID().replace(/-/g, "");
/** A unique path on the upstream, so hit counts belong to one test. */
export const path = (name: string, query = "") => `/${crypto.randomUUID()}/${name}${query ? `?${query}` : ""}`;

/**
 * A fan-out job stored straight into its object (nothing queued): `urls` in chunks of `chunkSize`, run with
 * `options`; `extra` adds to what `create` is given (the job's retry policy, its callback).
 *
 * @example
 * const { id, stub } = await seedFanoutJob([UP + path("a")], 1, {}, { retryJson: JSON.stringify({ attempts: 2 }) });
 */
export async function seedFanoutJob(
  urls: string[],
  chunkSize: number,
  options: Record<string, unknown> = {},
  extra: Pick<CreateJobInput, "retryJson" | "callbackJson"> = {},
) {
  const id = newJobId();
  const stub = env.JOB.getByName(id);
  const requests = urls.map((url) => FanoutItemSchema.parse({ url }));
  const outcome = await stub.create({
    id,
    type: "fanout",
    bodyHash: "seeded",
    requestsJson: JSON.stringify(requests),
    optionsJson: JSON.stringify(FanoutOptionsSchema.parse(options)),
    chunkSize,
    ...extra,
  });
  return { id, stub, outcome };
}

export async function seedWebhookJob(url: string, payload: unknown, headers?: Record<string, string>) {
  const id = newJobId();
  const stub = env.JOB.getByName(id);
  await stub.create({
    id,
    type: "webhook",
    bodyHash: "seeded",
    requestsJson: JSON.stringify([{ url, payload, ...(headers ? { headers } : {}) }]),
    optionsJson: "{}",
    chunkSize: 1,
  });
  return { id, stub };
}

/** A job of any registered type, seeded as creation would store it: its items, and its options as the spec. */
export async function seedJob(
  type: import("../../src/jobs/types").JobType,
  items: unknown[],
  chunkSize: number,
  options: Record<string, unknown> = {},
) {
  const id = newJobId();
  const stub = env.JOB.getByName(id);
  await stub.create({
    id,
    type,
    bodyHash: "seeded",
    requestsJson: JSON.stringify(items),
    optionsJson: JSON.stringify(options),
    chunkSize,
  });
  return { id, stub };
}

export interface Delivery {
  id: string;
  attempts?: number;
  body: unknown;
}

/** Run the queue() handler on a batch (with `vars` over the settings) and return what it acked and retried. */
export async function deliver(queue: string, messages: Delivery[], vars: Record<string, string> = {}) {
  const batch = createMessageBatch(
    queue,
    messages.map((m) => ({ id: m.id, attempts: m.attempts ?? 1, timestamp: new Date(), body: m.body })),
  );
  // getQueueResult (vitest-plugin 1.5) reports which messages were retried but drops their delaySeconds:
  // record the delays on the way through.
  const delays = new Map<string, number | undefined>();
  for (const msg of batch.messages) {
    const retry = msg.retry.bind(msg);
    Object.defineProperty(msg, "retry", {
      value: (options?: QueueRetryOptions) => {
        delays.set(msg.id, options?.delaySeconds);
        retry(options);
      },
    });
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, Object.keys(vars).length > 0 ? ({ ...env, ...vars } as Env) : env, ctx);
  const result = await getQueueResult(batch, ctx);
  return {
    ...result,
    explicitAcks: [...result.explicitAcks].sort(),
    retryMessages: result.retryMessages.map((r) => ({ msgId: r.msgId, delaySeconds: delays.get(r.msgId) })),
  };
}

export async function hits(pathAndQuery: string): Promise<number> {
  const res = await fetch(`${UP}/__hits?url=${encodeURIComponent(pathAndQuery)}`);
  return (await res.json<{ hits: number }>()).hits;
}

/** Let the requests held by `?gate=name` (and any later ones) be answered. */
export async function openGate(name: string): Promise<void> {
  const res = await fetch(`${UP}/__open?gate=${encodeURIComponent(name)}`, { method: "POST" });
  await res.body?.cancel();
}

export async function received(p: string): Promise<{ headers: Record<string, string>; body: string }[]> {
  const res = await fetch(`${UP}/__received?path=${encodeURIComponent(p)}`);
  return res.json();
}

export async function allResults(stub: DurableObjectStub<import("../../src/jobs/job").Job>) {
  const page = await stub.results(-1, 10_000, 64 * 1_048_576);
  return (page?.items ?? []).map(
    (item) => JSON.parse(item) as Record<string, unknown> & { index: number; ok: boolean },
  );
}

/**
 * A consumer cut off mid-job: a six-item job in two chunks of 3 whose items 3 and 5 are held at the upstream's gate
 * on their first run. Chunk 0 runs whole; the cut-off invocation (never allowed to end, so chunk 1's message is
 * neither acked nor retried) records items 0-2 and 4; then the queue delivers chunk 1 again (attempt 2), which must
 * run only items 3 and 5, and the gate opens. Answers the cut-off invocation (in an object, so that awaiting this
 * does not wait for it): it ends later, and what it records late must change nothing.
 */
export async function cutOffMidJob(
  id: string,
  stub: DurableObjectStub<import("../../src/jobs/job").Job>,
  gate: string,
): Promise<{ crashed: ReturnType<typeof deliver> }> {
  const crashed = deliver(JOBS_QUEUE, [
    { id: "m0", body: { jobId: id, chunk: 0 } },
    { id: "m1", body: { jobId: id, chunk: 1 } },
  ]);
  try {
    await until(async () => (await stub.status())?.done === 4);
    expect((await allResults(stub)).map((r) => r.index)).toEqual([0, 1, 2, 4]);
    // The queue delivers chunk 1's message again (it was never acked): its second attempt.
    const again = await deliver(JOBS_QUEUE, [{ id: "m1", attempts: 2, body: { jobId: id, chunk: 1 } }]);
    expect(again.explicitAcks).toEqual(["m1"]);
    expect(again.retryMessages).toEqual([]);
  } finally {
    await openGate(gate);
  }
  return { crashed };
}
