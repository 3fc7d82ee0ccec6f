/**
 * The decisions of a job as plain functions over plain records: how a new job is cut into chunks, what a delivery
 * of a chunk runs, which results belong to it, how a job ends, when it has stalled and what the watchdog then does,
 * what its completion callback does, what its owner's index should hold, when its one alarm rings, when a finished
 * job is deleted and what is left of it, and the status a client reads. The Job Durable Object loads the records
 * from SQLite (job-store.ts), calls these, and stores what they decide; unit tests call them with any clock.
 */
import { chunkMessage, chunkRanges } from "./chunks";
import type {
  CallbackSpec,
  CallbackState,
  CallbackStatus,
  Claim,
  CreateJobInput,
  JobIndexEntry,
  JobMessage,
  JobResult,
  JobState,
  JobStatus,
  JobTombstone,
  JobType,
  ResultsPage,
} from "./types";

/** The job, as stored. `spec` is JSON text: the options of its type (a webhook stored before types: its item). */
export interface JobRecord {
  id: string;
  type: JobType;
  bodyHash: string;
  state: JobState;
  total: number;
  spec: string;
  /** Requests with a final result, and those of them that are not ok. */
  done: number;
  failed: number;
  /** Deliveries of the job's chunks that ran. */
  attempts: number;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  /** Whose list it is in (its row in that JobIndex: its tenant's `ownerName`); null for a job stored before lists. */
  listedBy: string | null;
  /** A delayed job's start (ms). */
  runAt: number | null;
  /** The job's own retry fields (JSON `RetryInput`), if it gave any. */
  retry: string | null;
  /** Its completion callback (JSON `CallbackSpec`), and where its delivery is. */
  callback: string | null;
  cbState: CallbackState | null;
  cbAttempts: number;
  cbError: string | null;
  /** When the next delivery attempt is due (pending, failing). */
  cbNextAt: number | null;
  /** When it was delivered or given up on: the retention clock starts then. */
  cbSettledAt: number | null;
  /** Counts the job's ends (a revived job ends again): the callback's webhook-id names it. */
  cbRound: number;
  /** The outbox of its index row: the row the index acknowledged (`indexSignature`), and when to try again. */
  idxAcked: string | null;
  idxRetryAt: number | null;
  idxFailures: number;
}

/** One chunk, as stored: requests `start` to `start + count - 1` of the job. */
export interface ChunkRecord {
  idx: number;
  start: number;
  count: number;
  /** The chunk's items (JSON array text; "null" for a webhook stored before types: its item is the job's spec). */
  requests: string;
  state: "pending" | "done" | "dead";
  /** The last transient failure, or why it died. */
  error: string | null;
  /** Times the watchdog sent it again. */
  resends: number;
  /** 1 once its message went to the queue (0: never sent, or the send failed). */
  sent: number;
  /** Its last activity: sent, delivered or recorded (ms). */
  touchedAt: number;
}

/** A new chunk to store: its place in the job and its requests as JSON text. */
export interface NewChunk {
  index: number;
  start: number;
  count: number;
  requests: string;
}

/** A new job to store: how many requests, what every chunk runs with (`spec`), and its chunks. */
export interface JobPlan {
  total: number;
  spec: string;
  chunks: NewChunk[];
}

/** True once the job has ended (succeeded, partial, failed or canceled): nothing of it runs any more. */
export const isTerminal = (state: JobState): boolean =>
  state !== "scheduled" && state !== "queued" && state !== "running";

/**
 * Cut a new job into chunks of `chunkSize` items (the type says how many: a webhook's one item is one chunk). The
 * job's `spec` is the options every chunk runs with.
 *
 * @example
 * planJob({ id, type: "fanout", bodyHash, requestsJson: "[{…},{…},{…}]", optionsJson: "{}", chunkSize: 2 })
 * // { total: 3, spec: "{}", chunks: [{ index: 0, start: 0, count: 2, … }, { index: 1, start: 2, count: 1, … }] }
 */
export function planJob(input: CreateJobInput): JobPlan {
  const requests = JSON.parse(input.requestsJson ?? "[]") as unknown[];
  const chunks = chunkRanges(requests.length, input.chunkSize).map((range) => ({
    ...range,
    requests: JSON.stringify(requests.slice(range.start, range.start + range.count)),
  }));
  return { total: requests.length, spec: input.optionsJson ?? "{}", chunks };
}

/**
 * A chunk's items as JSON. A webhook job stored before job types were a registry kept its one item in its spec and
 * "null" in its chunk: its spec is then both its item and its options.
 */
const itemsOf = (job: JobRecord, chunk: ChunkRecord): string =>
  chunk.requests === "null" ? `[${job.spec}]` : chunk.requests;

/**
 * What a delivery of a chunk does: skip it (no such job or chunk, a canceled job, a chunk already done or dead), or
 * run its items that have no result yet (`recorded()`: the job-wide indices that have one, read only to run).
 */
export function claimOf(
  job: JobRecord | null,
  chunk: ChunkRecord | null,
  recorded: () => ReadonlySet<number>,
  withRequests: boolean,
): Claim {
  if (!job) return { action: "skip", reason: "unknown-job" };
  if (job.state === "canceled") return { action: "skip", reason: "canceled" };
  // Nothing is sent before a delayed job starts: a message for it is no chunk of this job's.
  if (job.state === "scheduled") return { action: "skip", reason: "not-due" };
  if (!chunk) return { action: "skip", reason: "unknown-chunk" };
  if (chunk.state !== "pending") return { action: "skip", reason: chunk.state };
  const done = recorded();
  const pending: number[] = [];
  for (let i = chunk.start; i < chunk.start + chunk.count; i++) if (!done.has(i)) pending.push(i);
  return {
    action: "run",
    type: job.type,
    pending,
    start: chunk.start,
    optionsJson: job.spec,
    ...(withRequests || chunk.requests === "null" ? { requestsJson: itemsOf(job, chunk) } : {}),
    ...(job.retry ? { retryJson: job.retry } : {}),
  };
}

/** The results that belong to `chunk` (by job-wide index); others are ignored. */
export const resultsOf = (chunk: ChunkRecord, results: readonly JobResult[]): JobResult[] =>
  results.filter((r) => r.index >= chunk.start && r.index < chunk.start + chunk.count);

/** The requests of the dead chunks: how many have no result, and each dead chunk's error, oldest chunk first. */
export interface DeadChunks {
  requests: number;
  errors: (string | null)[];
}

/**
 * How a job ends once no chunk is pending: succeeded when nothing failed, failed when nothing succeeded, partial
 * otherwise. Requests of dead chunks count as failed, and the error then says why they died.
 */
export function endOf(job: JobRecord, dead: DeadChunks): { state: JobState; error: string | null } {
  const failed = job.failed + dead.requests;
  const ok = job.done - job.failed;
  const state: JobState = failed === 0 ? "succeeded" : ok === 0 ? "failed" : "partial";
  if (dead.requests === 0) return { state, error: job.error };
  const error =
    `${dead.errors.length} chunk(s) ran out of retries (${dead.requests} request(s) without a result); ` +
    `last error: ${dead.errors.at(-1) ?? "unknown"}`;
  return { state, error };
}

/** The job's stall deadline: its latest chunk activity + the stall time, or null when no chunk is pending. */
export function stallDeadline(activity: { pending: number; last: number | null }, stallSeconds: number): number | null {
  return activity.pending > 0 && activity.last !== null ? activity.last + stallSeconds * 1_000 : null;
}

/** True when the stall deadline has come at `now`: the job's pending chunks are taken as lost. */
export const isStalled = (deadline: number | null, now: number): boolean => deadline !== null && deadline <= now;

/** A chunk the watchdog gives up on, and why. */
export interface LostChunk {
  idx: number;
  error: string;
}

/** What the queue says of its backlog (`Queue.metrics()`): unacknowledged messages, and when the oldest was sent. */
export interface Backlog {
  count: number;
  oldestAt: number | null;
}

/**
 * How much later than a chunk's last activity a message in the backlog may have been stamped and still be the
 * chunk's own: the chunk is marked sent before its send completes, and the queue's clock is not the object's.
 */
export const BACKLOG_SLACK_MS = 60_000;

/**
 * True while the queue may still hold the chunk's message, so it can still arrive: it was sent, and the queue holds
 * unacknowledged messages sent no later than the chunk's last activity (+ `BACKLOG_SLACK_MS`) — a message waiting
 * behind other jobs' messages, or for a retry. Once the queue has moved past that time (or is empty), a message the
 * chunk has not heard of is lost. An unknown backlog (`null`: the metrics could not be read) may still hold it.
 */
export function mayStillArrive(chunk: Pick<ChunkRecord, "sent" | "touchedAt">, backlog: Backlog | null): boolean {
  if (!chunk.sent) return false;
  if (backlog === null) return true;
  return backlog.count > 0 && backlog.oldestAt !== null && backlog.oldestAt <= chunk.touchedAt + BACKLOG_SLACK_MS;
}

/**
 * What the watchdog does with the pending chunks of a stalled job. A chunk whose message may still arrive
 * (`mayStillArrive`) waits: it is neither sent again nor given up on, however long the queue takes. The others are
 * lost: sent again while re-sent fewer than JOBS_STALL_RESENDS times, else marked dead with the reason, so the job
 * ends instead of hanging.
 */
export function watchdogPlan(
  pending: readonly ChunkRecord[],
  stall: { seconds: number; resends: number },
  backlog: Backlog | null,
): { waiting: ChunkRecord[]; resend: ChunkRecord[]; lost: LostChunk[] } {
  const waiting = pending.filter((c) => mayStillArrive(c, backlog));
  const gone = pending.filter((c) => !mayStillArrive(c, backlog));
  const resend = gone.filter((c) => c.resends < stall.resends);
  const lost = gone
    .filter((c) => c.resends >= stall.resends)
    .map((c) => ({
      idx: c.idx,
      error:
        `chunk ${c.idx}: its queue message was lost (nothing heard of it for JOBS_STALL_SECONDS = ` +
        `${stall.seconds} s, and the queue holds nothing sent that early, after ${c.resends} re-send(s), ` +
        `JOBS_STALL_RESENDS)` +
        (c.error ? `; before that: ${c.error}` : ""),
    }));
  return { waiting, resend, lost };
}

/**
 * When a finished job's storage is deleted: JOBS_RETENTION_HOURS after it ended (its last change), or after its
 * completion callback settled (delivered or given up) if that was later.
 */
export const retentionEnd = (job: JobRecord, retentionHours: number): number =>
  Math.max(job.updatedAt, job.cbSettledAt ?? 0) + retentionHours * 3_600_000;

/** True while the job's completion callback is due or being retried: its retention has not started. */
export const callbackUnsettled = (job: Pick<JobRecord, "cbState">): boolean =>
  job.cbState === "pending" || job.cbState === "failing";

/**
 * What a job's callback becomes when the job ends in `state`: due (`pending`) when its `on` names the state, else
 * `skipped`. Nothing for a job without one, or whose callback is not waiting for an end.
 *
 * @example
 * callbackOnEnd({ ...job, callback: '{"url":"…","on":["failed"]}', cbState: "waiting" }, "succeeded") // "skipped"
 */
export function callbackOnEnd(job: Pick<JobRecord, "callback" | "cbState">, state: JobState): CallbackState | null {
  if (!job.callback || job.cbState !== "waiting") return null;
  const spec = JSON.parse(job.callback) as CallbackSpec;
  return (spec.on as JobState[]).includes(state) ? "pending" : "skipped";
}

/**
 * What the callback does after an attempt at `now`: delivered; given up (an answer that cannot change, such as a
 * 404 or a blocked URL, or its JOBS_CALLBACK_ATTEMPTS spent); or failing, tried again after `retryInMs`.
 */
export function callbackAfter(
  attempt: { delivered: true } | { delivered: false; final: boolean; error: string },
  attemptsBefore: number,
  maxAttempts: number,
  retryInMs: (attempts: number) => number,
  now: number,
): { state: CallbackState; attempts: number; error: string | null; nextAt: number | null; settledAt: number | null } {
  const attempts = attemptsBefore + 1;
  if (attempt.delivered) return { state: "delivered", attempts, error: null, nextAt: null, settledAt: now };
  if (attempt.final || attempts >= maxAttempts) {
    return { state: "given-up", attempts, error: attempt.error, nextAt: null, settledAt: now };
  }
  return { state: "failing", attempts, error: attempt.error, nextAt: now + retryInMs(attempts), settledAt: null };
}

/** The row the job's owner's index should hold (the version aside). */
export function indexEntryOf(job: JobRecord, retentionHours: number): Omit<JobIndexEntry, "version"> {
  const ended = isTerminal(job.state);
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    total: job.total,
    createdAt: job.createdAt,
    runAt: job.runAt,
    endedAt: ended ? job.updatedAt : null,
    expiresAt: ended && !callbackUnsettled(job) ? retentionEnd(job, retentionHours) : null,
  };
}

/** What of an index row changes over a job's life: the index holds the job's row when these agree. */
export const indexSignature = (e: Pick<JobIndexEntry, "state" | "endedAt" | "expiresAt">): string =>
  `${e.state}|${e.endedAt ?? ""}|${e.expiresAt ?? ""}`;

/** How long a Job waits before it tries again to update its index: doubling from 1 s, at most 5 minutes. */
export const indexRetryMs = (failures: number): number => Math.min(300_000, 1_000 * 2 ** Math.min(failures - 1, 20));

/**
 * The job's one alarm: a failed index update's retry; then a delayed job's start; a finished job's callback attempt,
 * or else the end of its retention; a running job's stall deadline (not before `notBefore`). Null: none.
 *
 * @example
 * nextAlarm({ ...job, state: "scheduled", runAt: t }, null, 168) // t
 */
export function nextAlarm(job: JobRecord, stall: number | null, retentionHours: number, notBefore = 0): number | null {
  const times: number[] = [];
  if (job.idxRetryAt !== null) times.push(job.idxRetryAt);
  if (job.state === "scheduled") times.push(job.runAt ?? 0);
  else if (isTerminal(job.state)) {
    // Deleting waits for the index to let the job go: a failed removal is tried again at idxRetryAt, not at once.
    const end = Math.max(retentionEnd(job, retentionHours), job.idxRetryAt ?? 0);
    times.push(callbackUnsettled(job) ? (job.cbNextAt ?? 0) : end);
  } else if (stall !== null) times.push(Math.max(stall, notBefore));
  return times.length > 0 ? Math.min(...times) : null;
}

/** The tombstone of `job`, deleted at `now`. */
export const tombstoneOf = (job: JobRecord, now: number, tombstoneDays: number): JobTombstone => ({
  id: job.id,
  state: job.state,
  endedAt: job.updatedAt,
  deletedAt: now,
  forgetAt: now + tombstoneDays * 86_400_000,
});

/** The queue messages of these chunks: each carries its items when they fit in a message. */
export const messagesOf = (job: JobRecord, chunks: readonly ChunkRecord[]): JobMessage[] =>
  chunks.map((c) =>
    chunkMessage(job.id, c.idx, c.requests === "null" ? undefined : (JSON.parse(c.requests) as unknown[])),
  );

/** The policies in force for a job (`policy.ts`), as its status shows them. */
export type PolicyInForce = Pick<JobStatus, "retry" | "timeoutMs">;

/** The status a client reads, from the job, its chunks' counts and the policies in force. */
export function statusOf(
  job: JobRecord,
  chunks: { dead: number; count: number; resends: number },
  policy: PolicyInForce,
): JobStatus {
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    total: job.total,
    done: job.done,
    failed: job.failed + chunks.dead,
    dead: chunks.dead,
    attempts: job.attempts,
    resends: chunks.resends,
    chunks: chunks.count,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    ...(job.error ? { error: job.error } : {}),
    ...(job.runAt === null ? {} : { runAt: new Date(job.runAt).toISOString() }),
    ...policy,
    ...(job.callback ? { callback: callbackStatusOf(job, JSON.parse(job.callback) as CallbackSpec) } : {}),
  };
}

function callbackStatusOf(job: JobRecord, spec: CallbackSpec): CallbackStatus {
  return {
    url: spec.url,
    on: spec.on,
    state: job.cbState ?? "waiting",
    attempts: job.cbAttempts,
    ...(job.cbError ? { lastError: job.cbError } : {}),
  };
}

/** The progress update a status is published as. */
export { progressOf } from "./protocol";

/**
 * A page of results from rows in index order (the store reads `limit + 1`, to know whether more follow): at most
 * `limit` items and about `maxBytes`, never none while any is left.
 */
export function pageOf(rows: readonly { idx: number; data: string }[], limit: number, maxBytes: number): ResultsPage {
  const items: string[] = [];
  let bytes = 0;
  let last: number | null = null;
  for (const row of rows.slice(0, limit)) {
    if (items.length > 0 && bytes + row.data.length > maxBytes) break;
    items.push(row.data);
    bytes += row.data.length;
    last = row.idx;
  }
  const more = rows.length > items.length;
  return { items, next: more ? last : null };
}
