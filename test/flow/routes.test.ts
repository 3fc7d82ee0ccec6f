import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { FanoutResult } from "../../src/fanout/engine";
import type { FlowStatusData } from "../../src/flow";
import { flowName } from "../../src/flow";
import type { JobStatus } from "../../src/jobs/types";
import type { Page, PagesSummary } from "../../src/pages/schema";
import { BASE, call, until } from "../helpers/api";
import { newGate, newKey, stats, UPSTREAM, up } from "../helpers/upstream";

/** The test token's scope: the SHA-256 of "test-token", as the routes name its keys' objects. */
const SCOPE = Array.from(
  new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("test-token"))),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

type Status = FlowStatusData & { key: string };
type Fanout = { results: FanoutResult[]; summary: { fulfilled: number; rejected: number } };

const status = async (key: string) => (await call<Status>("GET", `/v1/flow/${key}`)).body;
const flowKey = () => `k-${crypto.randomUUID()}`;

/** Hold `permits` of the key (as another holder would) until the returned function is called. */
async function hold(key: string, permits: number, parallelism: number): Promise<() => Promise<number>> {
  const stub = env.FLOW.getByName(flowName(SCOPE, key));
  const leaseId = crypto.randomUUID();
  const taken = await stub.take({
    leaseId,
    holder: "other",
    want: permits,
    give: 0,
    held: 0,
    limits: { parallelism, rate: null },
    ttlMs: 60_000,
    waitMs: 0,
    waiterId: crypto.randomUUID(),
    maxParallelism: 1_000,
    maxWaiters: 100,
  });
  expect(taken).toMatchObject({ ok: true, permits });
  return () => stub.release(leaseId);
}

describe("/v1/flow/:key", () => {
  it("reads a key never used as empty, pauses and resumes it", async () => {
    const key = flowKey();
    expect(await status(key)).toEqual({
      key,
      inFlight: 0,
      waiting: 0,
      holders: 0,
      rateUsed: null,
      parallelism: null,
      rate: null,
      paused: false,
    });
    const paused = await call<Status>("POST", `/v1/flow/${key}/pause`);
    expect(paused).toMatchObject({ status: 200, body: { key, paused: true } });
    expect(await status(key)).toMatchObject({ paused: true });
    const resumed = await call<Status>("POST", `/v1/flow/${key}/resume`);
    expect(resumed).toMatchObject({ status: 200, body: { key, paused: false } });
  });
});

describe("flow on POST /v1/fanout", () => {
  it("keeps at most `parallelism` calls in flight at the upstream, whatever the fan-out's concurrency", async () => {
    const key = flowKey();
    const count = newKey();
    const gate = newGate();
    const pending = call<Fanout>("POST", "/v1/fanout", {
      concurrency: 6,
      flow: { key, parallelism: 2 },
      requests: Array.from({ length: 8 }, () => ({ url: up({ key: count, gate: gate.name }) })),
    });
    try {
      expect(await gate.waiting(2)).toMatchObject({ waiting: 2 });
      // Two in flight, the fan-out's next ask waiting in the key's line for the rest.
      await until(async () => (await status(key)).waiting === 1);
      expect(await status(key)).toMatchObject({ inFlight: 2, holders: 1, parallelism: 2 });
    } finally {
      await gate.open();
    }
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({ fulfilled: 8, rejected: 0 });
    expect((await stats(count)).maxInFlight).toBe(2);
    expect(await status(key)).toMatchObject({ inFlight: 0, waiting: 0, holders: 0 });
  });

  it("waits within its deadline, then rejects the calls that got no permit with flow_timeout", async () => {
    const key = flowKey();
    const count = newKey();
    const release = await hold(key, 1, 1);
    const res = await call<Fanout>("POST", "/v1/fanout", {
      concurrency: 2,
      deadlineMs: 300,
      flow: { key, parallelism: 1 },
      requests: Array.from({ length: 3 }, () => ({ url: up({ key: count }) })),
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({ fulfilled: 0, rejected: 3 });
    for (const r of res.body.results) {
      expect(r).toMatchObject({ outcome: "rejected", attempts: 0, startedMs: null, error: { kind: "flow_timeout" } });
      expect(r.error?.message).toMatch(/deadline of 300 ms exceeded while the call waited for its flow key's permit/);
    }
    expect((await stats(count)).hits).toBe(0);
    expect(await status(key)).toMatchObject({ inFlight: 1, waiting: 0, holders: 1 });
    expect(await release()).toBe(1);
  });

  it("starts nothing under a paused key, and the calls end with flow_timeout at the deadline", async () => {
    const key = flowKey();
    const count = newKey();
    await call("POST", `/v1/flow/${key}/pause`);
    const res = await call<Fanout>("POST", "/v1/fanout", {
      deadlineMs: 200,
      flow: { key, rate: { limit: 10, periodMs: 1_000 } },
      requests: [{ url: up({ key: count }) }],
    });
    expect(res.body.results[0]).toMatchObject({ outcome: "rejected", error: { kind: "flow_timeout" } });
    expect((await stats(count)).hits).toBe(0);
    // The pause stays; a call's limits became the key's.
    expect(await status(key)).toMatchObject({ paused: true, waiting: 0, rate: { limit: 10, periodMs: 1_000 } });
  });

  it("streams the results and gives the permits back when the stream ends", async () => {
    const key = flowKey();
    const res = await exports.default.fetch(`${BASE}/v1/fanout`, {
      method: "POST",
      headers: {
        authorization: "Bearer test-token",
        "content-type": "application/json",
        accept: "application/x-ndjson",
      },
      body: JSON.stringify({
        flow: { key, parallelism: 3 },
        requests: Array.from({ length: 5 }, () => ({ url: up({ latency: 5 }) })),
      }),
    });
    expect(res.status).toBe(200);
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    expect(lines.at(-1)).toMatchObject({ summary: { fulfilled: 5 } });
    // The gate is closed when the stream ends: its permits are back.
    await until(async () => (await status(key)).holders === 0);
    expect(await status(key)).toMatchObject({ inFlight: 0, parallelism: 3 });
  });

  it("refuses a flow without limits, or above FLOW_MAX_PARALLELISM, before calling anything", async () => {
    const count = newKey();
    const requests = [{ url: up({ key: count }) }];
    const none = await call<{ detail: string }>("POST", "/v1/fanout", { flow: { key: flowKey() }, requests });
    expect(none.status).toBe(400);
    expect(none.body.detail).toMatch(/needs parallelism or rate/);
    const max = Number(env.FLOW_MAX_PARALLELISM);
    const over = await call<{ detail: string; limit: string }>("POST", "/v1/fanout", {
      flow: { key: flowKey(), parallelism: max + 1 },
      requests,
    });
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ limit: "FLOW_MAX_PARALLELISM" });
    expect(over.body.detail).toMatch(/FLOW_MAX_PARALLELISM/);
    expect((await stats(count)).hits).toBe(0);
  });
});

describe("flow on POST /v1/pages", () => {
  it("fetches a page-number crawl's pages one at a time under parallelism 1, prefetch or not", async () => {
    const key = flowKey();
    const count = newKey();
    const url = new URL("/pages", UPSTREAM);
    for (const [k, v] of Object.entries({ style: "page", total: 4, key: count, latency: 20 })) {
      url.searchParams.set(k, String(v));
    }
    const res = await call<{ pages: Page[]; summary: PagesSummary }>("POST", "/v1/pages", {
      url: url.href,
      next: { page: "page" },
      items: "/data",
      prefetch: 3,
      flow: { key, parallelism: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({ pages: 4, stop: "end" });
    expect((await stats(count)).maxInFlight).toBe(1);
    expect(await status(key)).toMatchObject({ inFlight: 0, holders: 0 });
  });

  it("stops at the deadline with a flow_timeout error when a page waited for its permit", async () => {
    const key = flowKey();
    await call("POST", `/v1/flow/${key}/pause`);
    const res = await call<{ pages: Page[]; summary: PagesSummary }>("POST", "/v1/pages", {
      url: up(),
      next: "link",
      deadlineMs: 200,
      flow: { key, parallelism: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({ pages: 0, stop: "deadline", error: { kind: "flow_timeout", page: 1 } });
  });
});

describe("flow on jobs", () => {
  async function waitForEnd(id: string): Promise<JobStatus> {
    return vi.waitFor(
      async () => {
        const s = (await call<JobStatus>("GET", `/v1/jobs/${id}`)).body;
        if (s.state === "queued" || s.state === "running") throw new Error(`still ${s.state}`);
        return s;
      },
      { timeout: 20_000, interval: 100 },
    );
  }

  it("defers a chunk whose key is full without using an attempt, and runs it once the key frees", async () => {
    const key = flowKey();
    const count = newKey();
    const release = await hold(key, 1, 1);
    const created = await call<{ id: string }>(
      "POST",
      "/v1/jobs",
      {
        type: "fanout",
        flow: { key, parallelism: 1 },
        requests: [{ url: up({ key: count }) }, { url: up({ key: count }) }],
      },
      { headers: { "idempotency-key": crypto.randomUUID() } },
    );
    expect(created.status).toBe(202);
    // The chunk waited FLOW_JOB_WAIT_MS in the key's line, then was deferred: nothing called, no attempt counted.
    await until(async () => (await status(key)).waiting === 1, 400);
    await until(async () => (await status(key)).waiting === 0, 400);
    expect((await call<JobStatus>("GET", `/v1/jobs/${created.body.id}`)).body).toMatchObject({ done: 0, attempts: 0 });
    expect((await stats(count)).hits).toBe(0);
    expect(await release()).toBe(1);
    const ended = await waitForEnd(created.body.id);
    expect(ended).toMatchObject({ state: "succeeded", done: 2, attempts: 1 });
    const s = await stats(count);
    expect(s).toMatchObject({ hits: 2, maxInFlight: 1 });
  });

  it("refuses a job whose flow asks for more than FLOW_MAX_PARALLELISM, storing nothing", async () => {
    const res = await call<{ limit: string }>(
      "POST",
      "/v1/jobs",
      {
        type: "webhook",
        url: up(),
        payload: {},
        flow: { key: flowKey(), parallelism: Number(env.FLOW_MAX_PARALLELISM) + 1 },
      },
      { headers: { "idempotency-key": crypto.randomUUID() } },
    );
    expect(res).toMatchObject({ status: 400, body: { limit: "FLOW_MAX_PARALLELISM" } });
  });
});
