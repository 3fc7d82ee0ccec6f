/**
 * The Job object's decisions, called directly on plain records with a chosen clock: chunking, what a delivery runs,
 * how a job ends, the stall deadline and the watchdog's plan, the status a client reads, and result pages.
 */
import { describe, expect, it } from "vitest";
import type { ChunkRecord, JobRecord } from "../../src/jobs/job-state";
import * as state from "../../src/jobs/job-state";
import { jobRecord as job } from "./records";

const POLICY = { retry: { attempts: 6, baseMs: 2_000, maxMs: 300_000 }, timeoutMs: 5_000 };

const chunk = (over: Partial<ChunkRecord> = {}): ChunkRecord => ({
  idx: 0,
  start: 0,
  count: 2,
  requests: '[{"url":"https://a.example/"},{"url":"https://b.example/"}]',
  state: "pending",
  error: null,
  resends: 0,
  sent: 1,
  touchedAt: 1_000_000,
  ...over,
});

const none = () => new Set<number>();

describe("planJob", () => {
  it("cuts a fan-out job into chunks of chunkSize requests, each with its own requests", () => {
    const requests = [{ url: "u0" }, { url: "u1" }, { url: "u2" }];
    const plan = state.planJob({
      id: "j",
      type: "fanout",
      bodyHash: "h",
      requestsJson: JSON.stringify(requests),
      optionsJson: '{"concurrency":3}',
      chunkSize: 2,
    });
    expect(plan).toEqual({
      total: 3,
      spec: '{"concurrency":3}',
      chunks: [
        { index: 0, start: 0, count: 2, requests: JSON.stringify(requests.slice(0, 2)) },
        { index: 1, start: 2, count: 1, requests: JSON.stringify(requests.slice(2)) },
      ],
    });
  });

  it("makes a webhook job one chunk of its one item, with its options as the spec", () => {
    const plan = state.planJob({
      id: "j",
      type: "webhook",
      bodyHash: "h",
      requestsJson: '[{"url":"u"}]',
      optionsJson: '{"timeoutMs":500}',
      chunkSize: 1,
    });
    expect(plan).toEqual({
      total: 1,
      spec: '{"timeoutMs":500}',
      chunks: [{ index: 0, start: 0, count: 1, requests: '[{"url":"u"}]' }],
    });
  });

  it("gives a job without options or webhook the empty spec {}", () => {
    expect(state.planJob({ id: "j", type: "webhook", bodyHash: "h", chunkSize: 1 }).spec).toBe("{}");
    const plan = state.planJob({ id: "j", type: "fanout", bodyHash: "h", requestsJson: "[{}]", chunkSize: 2 });
    expect([plan.total, plan.spec]).toEqual([1, "{}"]);
  });
});

describe("claimOf", () => {
  it("skips unknown jobs and chunks, canceled jobs, and chunks that are done or dead", () => {
    expect(state.claimOf(null, chunk(), none, false)).toEqual({ action: "skip", reason: "unknown-job" });
    expect(state.claimOf(job({ state: "canceled" }), chunk(), none, false)).toEqual({
      action: "skip",
      reason: "canceled",
    });
    expect(state.claimOf(job(), null, none, false)).toEqual({ action: "skip", reason: "unknown-chunk" });
    expect(state.claimOf(job(), chunk({ state: "done" }), none, false)).toEqual({ action: "skip", reason: "done" });
    expect(state.claimOf(job(), chunk({ state: "dead" }), none, false)).toEqual({ action: "skip", reason: "dead" });
  });

  it("reads which results exist only for a chunk it runs", () => {
    let reads = 0;
    const recorded = () => {
      reads++;
      return new Set<number>();
    };
    state.claimOf(job(), chunk({ state: "done" }), recorded, false);
    expect(reads).toBe(0);
    state.claimOf(job(), chunk(), recorded, false);
    expect(reads).toBe(1);
  });

  it("runs only the requests of the chunk that have no result, with the job's options", () => {
    const claim = state.claimOf(job(), chunk({ start: 10, count: 4 }), () => new Set([10, 12]), false);
    expect(claim).toEqual({ action: "run", type: "fanout", pending: [11, 13], start: 10, optionsJson: job().spec });
  });

  it("hands over the chunk's requests only when the message did not carry them", () => {
    const claim = state.claimOf(job(), chunk(), none, true);
    expect(claim).toMatchObject({ action: "run", requestsJson: chunk().requests });
  });

  it("hands over the job's own retry policy with the claim, and none without one", () => {
    const retry = '{"attempts":6,"baseMs":2000}';
    expect(state.claimOf(job({ retry }), chunk(), none, false)).toMatchObject({ action: "run", retryJson: retry });
    expect(state.claimOf(job(), chunk(), none, false)).not.toHaveProperty("retryJson");
  });

  it("gives a webhook stored before job types (its item in its spec, its chunk null) its spec as item and options", () => {
    const hook = job({ type: "webhook", spec: '{"url":"u","timeoutMs":500}', total: 1 });
    const claim = state.claimOf(hook, chunk({ count: 1, requests: "null" }), none, false);
    expect(claim).toEqual({
      action: "run",
      type: "webhook",
      pending: [0],
      start: 0,
      optionsJson: '{"url":"u","timeoutMs":500}',
      requestsJson: '[{"url":"u","timeoutMs":500}]',
    });
  });
});

describe("resultsOf", () => {
  it("keeps only the results whose index lies in the chunk", () => {
    const results = [-1, 3, 4, 5, 6, 7].map((index) => ({ index, ok: true }));
    expect(state.resultsOf(chunk({ start: 4, count: 3 }), results).map((r) => r.index)).toEqual([4, 5, 6]);
  });
});

describe("endOf", () => {
  it("ends succeeded when nothing failed, keeping the job's own error", () => {
    expect(state.endOf(job({ done: 4, error: "x" }), { requests: 0, errors: [] })).toEqual({
      state: "succeeded",
      error: "x",
    });
  });

  it("ends partial when some requests failed and some succeeded", () => {
    expect(state.endOf(job({ done: 4, failed: 1 }), { requests: 0, errors: [] })).toEqual({
      state: "partial",
      error: null,
    });
  });

  it("ends failed when no request succeeded, counting dead chunks' requests as failed and saying why they died", () => {
    const end = state.endOf(job({ done: 1, failed: 1 }), { requests: 3, errors: ["timeout", "HTTP 503"] });
    expect(end).toEqual({
      state: "failed",
      error: "2 chunk(s) ran out of retries (3 request(s) without a result); last error: HTTP 503",
    });
    expect(state.endOf(job({ done: 2 }), { requests: 2, errors: [null] })).toEqual({
      state: "partial",
      error: "1 chunk(s) ran out of retries (2 request(s) without a result); last error: unknown",
    });
  });

  it("adds the dead chunks' requests to the failed ones, and quotes the last of several errors", () => {
    const end = state.endOf(job({ done: 3, failed: 1 }), { requests: 1, errors: ["first", "second", "third"] });
    expect(end).toEqual({
      state: "partial",
      error: "3 chunk(s) ran out of retries (1 request(s) without a result); last error: third",
    });
  });

  it("knows which states are final", () => {
    expect(["queued", "running"].map((s) => state.isTerminal(s as JobRecord["state"]))).toEqual([false, false]);
    for (const s of ["succeeded", "partial", "failed", "canceled"] as const) expect(state.isTerminal(s)).toBe(true);
  });
});

describe("the watchdog's decisions", () => {
  it("puts the stall deadline JOBS_STALL_SECONDS after the latest activity, and none without pending chunks", () => {
    expect(state.stallDeadline({ pending: 2, last: 5_000 }, 60)).toBe(65_000);
    expect(state.stallDeadline({ pending: 0, last: 5_000 }, 60)).toBeNull();
    expect(state.stallDeadline({ pending: 0, last: null }, 60)).toBeNull();
    expect(state.stallDeadline({ pending: 2, last: null }, 60)).toBeNull();
  });

  it("takes a job as stalled from its deadline on, never without one", () => {
    expect(state.isStalled(65_000, 64_999)).toBe(false);
    expect(state.isStalled(65_000, 65_000)).toBe(true);
    expect(state.isStalled(null, 1e15)).toBe(false);
  });

  it("re-sends lost chunks with re-sends left and gives up on the others with the reason", () => {
    const fresh = chunk({ idx: 0, resends: 0 });
    const tried = chunk({ idx: 1, resends: 2, error: "HTTP 503" });
    const spent = chunk({ idx: 2, resends: 3 });
    const empty = { count: 0, oldestAt: null };
    const plan = state.watchdogPlan([fresh, tried, spent], { seconds: 60, resends: 3 }, empty);
    expect(plan.waiting).toEqual([]);
    expect(plan.resend.map((c) => c.idx)).toEqual([0, 1]);
    expect(plan.lost).toEqual([
      {
        idx: 2,
        error:
          "chunk 2: its queue message was lost (nothing heard of it for JOBS_STALL_SECONDS = 60 s, and the queue " +
          "holds nothing sent that early, after 3 re-send(s), JOBS_STALL_RESENDS)",
      },
    ]);
    const withCause = state.watchdogPlan([tried], { seconds: 60, resends: 2 }, empty).lost[0];
    expect(withCause?.error).toMatch(/after 2 re-send\(s\), JOBS_STALL_RESENDS\); before that: HTTP 503$/);
  });

  it("leaves a quiet chunk alone while the queue still holds messages sent as early as its last activity", () => {
    const sent = chunk({ idx: 0, touchedAt: 1_000_000, resends: 3 });
    const stall = { seconds: 60, resends: 3 };
    // The queue's oldest unacknowledged message is older than the chunk's last activity: it may be the chunk's own.
    const behind = { count: 500, oldestAt: 990_000 };
    expect(state.watchdogPlan([sent], stall, behind)).toEqual({ waiting: [sent], resend: [], lost: [] });
    // Stamped a little later than the chunk's activity (its send was still under way; another clock): still maybe.
    expect(state.mayStillArrive(sent, { count: 1, oldestAt: 1_000_000 + state.BACKLOG_SLACK_MS })).toBe(true);
    // The queue has moved past it, or holds nothing: lost.
    expect(state.mayStillArrive(sent, { count: 1, oldestAt: 1_000_001 + state.BACKLOG_SLACK_MS })).toBe(false);
    expect(state.mayStillArrive(sent, { count: 0, oldestAt: null })).toBe(false);
    // An empty queue holds nothing, whatever date it gives; a backlog without a date is not taken as early enough.
    expect(state.mayStillArrive(sent, { count: 0, oldestAt: 1_000 })).toBe(false);
    expect(state.mayStillArrive(sent, { count: 3, oldestAt: null })).toBe(false);
    expect(state.watchdogPlan([sent], stall, { count: 0, oldestAt: null }).lost.map((c) => c.idx)).toEqual([0]);
    // An unknown backlog may hold it; a chunk never sent is in nobody's hands.
    expect(state.mayStillArrive(sent, null)).toBe(true);
    expect(state.mayStillArrive(chunk({ sent: 0 }), null)).toBe(false);
    expect(state.mayStillArrive(chunk({ sent: 0 }), behind)).toBe(false);
  });

  it("sends fan-out chunks with their requests and webhook chunks bare", () => {
    expect(state.messagesOf(job(), [chunk({ idx: 3 })])).toEqual([
      { jobId: "j1", chunk: 3, requests: JSON.parse(chunk().requests) },
    ]);
    expect(state.messagesOf(job({ type: "webhook" }), [chunk({ requests: "null" })])).toEqual([
      { jobId: "j1", chunk: 0 },
    ]);
  });
});

describe("statusOf", () => {
  it("counts dead chunks' requests as failed, dates in ISO, and an error only when there is one", () => {
    const status = state.statusOf(
      job({ done: 2, failed: 1, attempts: 5, createdAt: 0, updatedAt: 1_000 }),
      { dead: 2, count: 3, resends: 1 },
      POLICY,
    );
    expect(status).toEqual({
      id: "j1",
      type: "fanout",
      state: "running",
      total: 4,
      done: 2,
      failed: 3,
      dead: 2,
      attempts: 5,
      resends: 1,
      chunks: 3,
      createdAt: "1970-01-01T00:00:00.000Z",
      updatedAt: "1970-01-01T00:00:01.000Z",
      ...POLICY,
    });
    expect(state.statusOf(job({ error: "boom" }), { dead: 0, count: 1, resends: 0 }, POLICY).error).toBe("boom");
    expect(state.progressOf(status)).toEqual({
      kind: "job-progress",
      id: "j1",
      state: "running",
      total: 4,
      done: 2,
      failed: 3,
    });
  });
});

describe("a job's status: start time and callback", () => {
  const counts = { dead: 0, count: 1, resends: 0 };

  it("shows a delayed job's start in ISO, and none for a job that started when created", () => {
    expect(state.statusOf(job({ state: "scheduled", runAt: 60_000 }), counts, POLICY)).toMatchObject({
      state: "scheduled",
      runAt: "1970-01-01T00:01:00.000Z",
    });
    expect(state.statusOf(job(), counts, POLICY)).not.toHaveProperty("runAt");
  });

  it("shows the callback's URL, states, delivery state (waiting before the job ends), attempts and last error", () => {
    const callback = '{"url":"https://hooks.example/done","on":["failed","partial"]}';
    expect(state.statusOf(job({ callback }), counts, POLICY).callback).toEqual({
      url: "https://hooks.example/done",
      on: ["failed", "partial"],
      state: "waiting",
      attempts: 0,
    });
    const failing = job({ state: "failed", callback, cbState: "failing", cbAttempts: 2, cbError: "HTTP 502" });
    expect(state.statusOf(failing, counts, POLICY).callback).toEqual({
      url: "https://hooks.example/done",
      on: ["failed", "partial"],
      state: "failing",
      attempts: 2,
      lastError: "HTTP 502",
    });
    expect(state.statusOf(job(), counts, POLICY)).not.toHaveProperty("callback");
  });
});

describe("the job's index row", () => {
  it("has one signature per state, end and expiry: the row is written again when any of them changes", () => {
    const entries = [
      { state: "running", endedAt: null, expiresAt: null },
      { state: "succeeded", endedAt: null, expiresAt: null },
      { state: "succeeded", endedAt: 5_000, expiresAt: null },
      { state: "succeeded", endedAt: 6_000, expiresAt: null },
      { state: "succeeded", endedAt: 5_000, expiresAt: 9_000 },
      { state: "succeeded", endedAt: 5_000, expiresAt: 9_001 },
      { state: "succeeded", endedAt: null, expiresAt: 9_000 },
      { state: "succeeded", endedAt: 0, expiresAt: 0 },
    ] as const;
    const signatures = entries.map(state.indexSignature);
    expect(new Set(signatures).size).toBe(entries.length);
    expect(entries.map((e) => state.indexSignature({ ...e }))).toEqual(signatures);
  });

  it("tries a failed index update again after 1 s, doubling each failure, at most 5 minutes", () => {
    expect([1, 2, 3, 4, 8, 9, 10, 30, 1_000].map(state.indexRetryMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 128_000, 256_000, 300_000, 300_000, 300_000,
    ]);
  });
});

describe("pageOf", () => {
  const rows = [0, 1, 2, 3].map((idx) => ({ idx, data: `{"index":${idx}}` }));

  it("gives at most limit items and the index to continue after when more follow", () => {
    expect(state.pageOf(rows.slice(0, 3), 2, 1_000)).toEqual({ items: [rows[0]?.data, rows[1]?.data], next: 1 });
    expect(state.pageOf(rows.slice(0, 2), 2, 1_000)).toEqual({ items: [rows[0]?.data, rows[1]?.data], next: null });
  });

  it("stops at about maxBytes, but never gives an empty page while results are left", () => {
    const size = rows[0]?.data.length ?? 0;
    expect(state.pageOf(rows, 10, size + 1)).toEqual({ items: [rows[0]?.data], next: 0 });
    expect(state.pageOf(rows, 10, 1)).toEqual({ items: [rows[0]?.data], next: 0 });
    // Exactly maxBytes still fits.
    expect(state.pageOf(rows, 10, 2 * size)).toEqual({ items: [rows[0]?.data, rows[1]?.data], next: 1 });
  });
});

describe("retention", () => {
  it("deletes a finished job JOBS_RETENTION_HOURS after its last change, and forgets its tombstone days after", () => {
    const ended = job({ state: "partial", updatedAt: 1_000 });
    expect(state.retentionEnd(ended, 2)).toBe(1_000 + 2 * 3_600_000);
    expect(state.tombstoneOf(ended, 50_000, 3)).toEqual({
      id: "j1",
      state: "partial",
      endedAt: 1_000,
      deletedAt: 50_000,
      forgetAt: 50_000 + 3 * 86_400_000,
    });
  });
});
