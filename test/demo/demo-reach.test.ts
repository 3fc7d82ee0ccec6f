/**
 * What the demo routes may reach: only what demo routes created. A job created through /v1 is not a demo job: the demo
 * routes neither read its status nor mint tickets to its `job:<id>` room; a demo job's idempotency key lives apart
 * from every /v1 caller's (a /v1 key spelled `demo-K` is not the demo's key `K`); and a demo ticket's socket counts
 * against DEMO_RATE_LIMIT like every other demo call. (In a file of its own: the demo limit is one bucket.)
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import worker from "../../functions/index";

const upstream = inject("upstream");
const json = { "content-type": "application/json" };
const fresh = () => crypto.randomUUID().slice(0, 8);

/** The worker with DEMO_MODE on and the loopback upstream listed, over the test bindings. */
function demoWorker(vars: Record<string, string> = {}) {
  const e = {
    ...env,
    DEMO_MODE: "true",
    DEMO_RATE_LIMIT: "0",
    FANOUT_ALLOW_HOSTS: `127.0.0.1:${new URL(upstream).port}`,
    ...vars,
  };
  return (path: string, init: RequestInit = {}) =>
    worker.fetch(new Request(`http://127.0.0.1${path}`, init), e, createExecutionContext());
}

const jobBody = (key: string) =>
  JSON.stringify({ type: "fanout", requests: [{ url: `${upstream}/demo/api/upstream/delay?key=${key}` }] });

/** A job created through /v1 with the API token (what a demo caller must not reach). */
async function apiJob(call: ReturnType<typeof demoWorker>, key: string): Promise<string> {
  const res = await call("/v1/jobs", {
    method: "POST",
    headers: { ...json, authorization: `Bearer ${env.API_TOKEN}`, "idempotency-key": key },
    body: jobBody(key),
  });
  expect(res.status).toBe(202);
  return (await res.json<{ id: string }>()).id;
}

async function demoJob(call: ReturnType<typeof demoWorker>, key: string) {
  const res = await call("/demo/api/jobs", {
    method: "POST",
    headers: { ...json, "idempotency-key": key },
    body: jobBody(key),
  });
  expect(res.status).toBe(202);
  return res.json<{ id: string; room: string; statusUrl: string }>();
}

const ticket = (call: ReturnType<typeof demoWorker>, room: string, user = "watcher") =>
  call(`/demo/api/rooms/${encodeURIComponent(room)}/tickets`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ user }),
  });

describe("what the demo routes may reach", () => {
  it("reads the status of a demo job, and answers 404 for a job created through /v1", async () => {
    const call = demoWorker();
    const own = await demoJob(call, fresh());
    expect(await (await call(own.statusUrl)).json()).toMatchObject({ id: own.id, total: 1 });
    const id = await apiJob(call, `api-${fresh()}`);
    const res = await call(`/demo/api/jobs/${id}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const body = await res.text();
    expect(body).not.toContain('"state"');
    expect(JSON.parse(body)).toMatchObject({ type: "urn:edgeloop:problem:demo-job-not-found" });
  });

  it("mints tickets to a demo job's room, and refuses the room of a job created through /v1 (or of no job)", async () => {
    const call = demoWorker();
    const own = await demoJob(call, fresh());
    expect((await ticket(call, own.room)).status).toBe(201);
    const id = await apiJob(call, `api-${fresh()}`);
    for (const room of [`job:${id}`, `job:${crypto.randomUUID().replaceAll("-", "")}`]) {
      const res = await ticket(call, room);
      expect(res.status, room).toBe(404);
      expect(await res.json()).toMatchObject({ type: "urn:edgeloop:problem:demo-job-not-found" });
    }
  });

  it("keeps demo idempotency keys apart from /v1 keys: a /v1 key demo-K is not the demo's key K", async () => {
    const call = demoWorker();
    const key = fresh();
    const demo = await demoJob(call, key);
    const api = await apiJob(call, `demo-${key}`);
    expect(api).not.toBe(demo.id);
    // And the demo's key K is not the /v1 key K.
    const plain = await apiJob(call, key);
    expect(plain).not.toBe(demo.id);
  });
});

describe("a demo fan-out's redirects", () => {
  it("stay on the demo upstream's path: a redirect elsewhere is blocked, even to a host FANOUT_ALLOW_HOSTS lists", async () => {
    // Both loopback upstreams listed (any port of 127.0.0.1): only the demo path keeps them apart.
    const call = demoWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1" });
    const key = fresh();
    const other = inject("otherUpstream");
    const away = (target: string) =>
      `${upstream}/demo/api/upstream/delay?redirect=${encodeURIComponent(target)}&key=${key}`;
    const res = await call("/demo/api/fanout", {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        requests: [
          { id: "origin", url: away(`${other}/r?key=${key}`) },
          { id: "path", url: away(`${upstream}/r?key=${key}`) },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const { results } = await res.json<{ results: { id: string; outcome: string; error?: { kind: string } }[] }>();
    expect(results.map((r) => [r.id, r.outcome, r.error?.kind])).toEqual([
      ["origin", "rejected", "blocked"],
      ["path", "rejected", "blocked"],
    ]);
    const hits = async (base: string) =>
      (await (await fetch(`${base}/__stats?key=${key}`)).json<{ hits: number }>()).hits;
    // The two demo-path calls, and nothing past their redirects.
    expect(await hits(upstream)).toBe(2);
    expect(await hits(other)).toBe(0);
  });
});

describe("a demo job's redirects", () => {
  it("stay on the demo upstream's path too: the consumer blocks a hop elsewhere", async () => {
    const call = demoWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1" });
    const key = fresh();
    const other = inject("otherUpstream");
    const url = `${upstream}/demo/api/upstream/delay?redirect=${encodeURIComponent(`${other}/r?key=${key}`)}&key=${key}`;
    const res = await call("/demo/api/jobs", {
      method: "POST",
      headers: { ...json, "idempotency-key": key },
      body: JSON.stringify({ type: "fanout", requests: [{ url }] }),
    });
    expect(res.status).toBe(202);
    const { id, statusUrl } = await res.json<{ id: string; statusUrl: string }>();
    await vi.waitFor(
      async () => expect(await (await call(statusUrl)).json()).toMatchObject({ state: "failed", done: 1, failed: 1 }),
      { timeout: 20_000, interval: 50 },
    );
    const results = await call(`/v1/jobs/${id}/results`, { headers: { authorization: `Bearer ${env.API_TOKEN}` } });
    expect(await results.json()).toMatchObject({
      items: [{ index: 0, outcome: "rejected", error: { kind: "blocked" } }],
    });
    expect((await (await fetch(`${other}/__stats?key=${key}`)).json<{ hits: number }>()).hits).toBe(0);
  });
});

describe("demo sockets", () => {
  it("count against DEMO_RATE_LIMIT: the upgrade of a demo ticket past it is 429 and opens nothing", async () => {
    const call = demoWorker({ DEMO_RATE_LIMIT: "3", DEMO_RATE_PERIOD_MS: "3600000" });
    const room = `demo-${fresh()}`;
    const first = (await (await ticket(call, room, "ada")).json<{ ticket: string }>()).ticket;
    const second = (await (await ticket(call, room, "bob")).json<{ ticket: string }>()).ticket;
    const join = (t: string) =>
      call(`/v1/rooms/${room}/ws?ticket=${encodeURIComponent(t)}`, { headers: { upgrade: "websocket" } });
    const opened = await join(first);
    expect(opened.status).toBe(101);
    opened.webSocket?.accept();
    const refused = await join(second);
    expect(refused.status).toBe(429);
    expect(refused.webSocket).toBeNull();
    expect(await refused.json()).toMatchObject({ type: "urn:edgeloop:problem:rate-limited", limit: "DEMO_RATE_LIMIT" });
    opened.webSocket?.close();
  });
});
