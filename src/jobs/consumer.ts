/**
 * The Worker's queue() handler: the jobs consumer and, for the dead-letter queue, the marker of dead chunks.
 *
 * Each message of a batch is one chunk of one job; messages run concurrently (JOBS_CONSUMER_CONCURRENCY) and are
 * acked one by one. A chunk runs through its job type's handler (the registry, src/jobs/types/: nothing here knows a
 * type), its results recorded as they come. A transient failure is retried with exponential backoff and jitter (the
 * queue waits, not the Worker), as the job's retry policy says (`retryPolicy`: its own `retry` within the settings'
 * caps); a permanent one is recorded and acked. A chunk that has had the job's `retry.attempts` deliveries is marked
 * dead and acked; a message that fails otherwise max_retries times lands in the dead-letter queue, whose delivery
 * marks the chunk dead. Either way the job ends instead of hanging.
 */

import { Semaphore } from "../async";
import { createUrlGuard, demoUpstreamGuard } from "../fanout";
import { deferSeconds, type FlowGate, flowGate } from "../flow";
import { log } from "../http/log";
import { type Settings, settings } from "../settings";
import { type BackoffOptions, backoffSeconds, classifyError, PermanentJobError } from "./backoff";
import { isDemoJobId, JOB_ID_PATTERN } from "./ids";
import { ItemProgress } from "./item-progress";
import { type RetryInput, retryPolicy } from "./policy";
import { PROGRESS_INTERVAL_MS } from "./progress";
import { ChunkRecorder } from "./recorder";
import { type ChunkOutcome, runChunk } from "./run";
import type { JobFlow, JobMessage } from "./types";
import { type AnyJobType, jobType } from "./types/index";

/** The dead-letter queue's name as declared in wrangler.toml ([[queues.consumers]]). */
const JOBS_DLQ_NAME = "edgeloop-jobs-dlq";

/** Check a message body: anything else is a permanent failure (acked, logged). */
function parseJobMessage(body: unknown): JobMessage {
  const m = body as Partial<JobMessage> | null;
  if (
    !m ||
    typeof m !== "object" ||
    typeof m.jobId !== "string" ||
    !JOB_ID_PATTERN.test(m.jobId) ||
    !Number.isInteger(m.chunk) ||
    (m.chunk as number) < 0 ||
    (m.requests !== undefined && !Array.isArray(m.requests))
  ) {
    throw new PermanentJobError("malformed job message");
  }
  return m as JobMessage;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Handling `msg` threw: a permanent failure is logged (`dropped`) and acked; any other is retried after a backoff
 * (logged as `retried`, when given).
 */
function failed(msg: Message<unknown>, err: unknown, backoff: BackoffOptions, dropped: string, retried?: string): void {
  if (classifyError(err) === "permanent") {
    log("warn", dropped, { messageId: msg.id, error: describeError(err) });
    msg.ack();
    return;
  }
  const delaySeconds = backoffSeconds(msg.attempts, backoff);
  if (retried)
    log("warn", retried, { messageId: msg.id, attempts: msg.attempts, delaySeconds, error: describeError(err) });
  msg.retry({ delaySeconds });
}

/** A chunk's gate on its job's flow key: up to `max` permits, waiting FLOW_JOB_WAIT_MS for them. */
function chunkGate(env: Env, flow: JobFlow | undefined, m: JobMessage, max: number): FlowGate | undefined {
  const holder = `job:${m.jobId}:${m.chunk}`;
  return flow && flowGate(env, flow.owner, flow, { holder, max, waitMs: () => Number.POSITIVE_INFINITY, job: true });
}

/** Run `fn` through `gate`, giving its permits back as soon as the calls are done. */
async function gated<T>(gate: FlowGate | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await gate?.close();
  }
}

/** Items of a chunk that run at once: the permits its flow gate may hold (one for a chunk handler's one call). */
const parallelism = (type: AnyJobType, options: Record<string, unknown>, s: Settings): number =>
  type.chunk ? 1 : Math.max(1, type.concurrency?.(options, s) ?? 1);

async function runMessage(msg: Message<unknown>, env: Env, s: Settings): Promise<void> {
  const backoff = { baseSeconds: s.JOBS_RETRY_BASE_SECONDS, maxSeconds: s.JOBS_RETRY_MAX_SECONDS };
  try {
    const body = parseJobMessage(msg.body);
    const stub = env.JOB.getByName(body.jobId);
    const claim = await stub.claim(body.chunk, body.requests === undefined);
    if (claim.action === "skip") {
      if (claim.reason === "unknown-job" || claim.reason === "unknown-chunk") {
        log("warn", "job message for nothing", { jobId: body.jobId, chunk: body.chunk, reason: claim.reason });
      }
      msg.ack();
      return;
    }
    const type = jobType(claim.type);
    if (!type) {
      // A job stored under a type no longer registered: nothing can run it.
      await stub.markDead(body.chunk, `no job type "${claim.type}" is registered`);
      msg.ack();
      return;
    }
    const items =
      claim.requestsJson === undefined ? (body.requests ?? []) : (JSON.parse(claim.requestsJson) as unknown[]);
    const options = JSON.parse(claim.optionsJson) as Record<string, unknown> & { flow?: JobFlow };
    // A demo job calls the demo upstream's path only, redirects included.
    const guard = (await isDemoJobId(body.jobId))
      ? demoUpstreamGuard(s.FANOUT_ALLOW_HOSTS)
      : createUrlGuard(s.FANOUT_ALLOW_HOSTS);
    const gate = chunkGate(env, options.flow, body, parallelism(type, options, s));
    // Each result is recorded as its item ends (throttled as progress is), so progress moves item by item.
    const recorder = new ChunkRecorder((json, note) => stub.record(body.chunk, json, note), PROGRESS_INTERVAL_MS);
    const progress = new ItemProgress((json) => stub.progress(body.chunk, json), PROGRESS_INTERVAL_MS);
    const run = {
      jobId: body.jobId,
      chunk: body.chunk,
      attempt: msg.attempts,
      pending: claim.pending,
      start: claim.start,
      items,
      options,
    };
    let outcome: ChunkOutcome;
    try {
      outcome = await gated(gate, () =>
        runChunk(type, run, {
          env,
          s,
          guard,
          ...(gate ? { gate } : {}),
          onResult: (result, jobError) => recorder.add(result, jobError),
          onProgress: (index, data) => progress.report(index, data),
        }),
      );
    } finally {
      recorder.stop();
      progress.stop();
    }
    await recorder.finish({ lastError: outcome.lastError });
    const policy = retryPolicy(claim.retryJson ? (JSON.parse(claim.retryJson) as RetryInput) : null, s);
    if (outcome.transient > 0 && msg.attempts >= policy.attempts) {
      // The job's attempts are spent: the chunk is dead now (the dead-letter queue would only say so later).
      const error = `ran out of its ${policy.attempts} attempt(s) (retry.attempts); last error: ${outcome.lastError}`;
      const status = await stub.markDead(body.chunk, error);
      log("warn", "job chunk dead", {
        jobId: body.jobId,
        chunk: body.chunk,
        attempts: msg.attempts,
        state: status?.state,
      });
      msg.ack();
    } else if (outcome.transient > 0) {
      const delaySeconds = backoffSeconds(msg.attempts, {
        baseSeconds: policy.baseMs / 1_000,
        maxSeconds: policy.maxMs / 1_000,
      });
      log("info", "job chunk retried", {
        jobId: body.jobId,
        chunk: body.chunk,
        attempts: msg.attempts,
        transient: outcome.transient,
        delaySeconds,
        lastError: outcome.lastError,
      });
      msg.retry({ delaySeconds });
    } else if (outcome.deferred > 0) {
      // Flow control let some calls not start: the chunk comes back later as a new message (no attempt used).
      const deferrals = outcome.results.length > 0 ? 0 : (body.deferrals ?? 0);
      const refusal = gate?.refusal ?? { blocked: "line" as const, retryAfterMs: null };
      const delaySeconds = deferSeconds(refusal, deferrals, s.FLOW_JOB_MAX_DEFER_SECONDS);
      await stub.defer(body.chunk, delaySeconds, deferrals + 1);
      log("info", "job chunk deferred by flow control", {
        jobId: body.jobId,
        chunk: body.chunk,
        deferred: outcome.deferred,
        blocked: refusal.blocked,
        delaySeconds,
      });
      msg.ack();
    } else {
      msg.ack();
    }
  } catch (err) {
    failed(msg, err, backoff, "job message dropped", "job chunk failed");
  }
}

async function markDead(msg: Message<unknown>, env: Env): Promise<void> {
  try {
    const body = parseJobMessage(msg.body);
    const status = await env.JOB.getByName(body.jobId).markDead(body.chunk, "no last error recorded");
    log("warn", "job chunk dead", { jobId: body.jobId, chunk: body.chunk, state: status?.state });
    msg.ack();
  } catch (err) {
    failed(msg, err, { baseSeconds: 1, maxSeconds: 60 }, "dead-letter message dropped");
  }
}

/**
 * @example
 * export default { fetch: app.fetch, queue } satisfies ExportedHandler<Env, JobMessage>;
 */
export async function queue(batch: MessageBatch<unknown>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const s = settings(env);
  const handle =
    batch.queue === JOBS_DLQ_NAME
      ? (msg: Message<unknown>) => markDead(msg, env)
      : (msg: Message<unknown>) => runMessage(msg, env, s);
  const permits = new Semaphore(s.JOBS_CONSUMER_CONCURRENCY);
  await Promise.all(batch.messages.map((msg) => permits.withPermit(() => handle(msg))));
}
