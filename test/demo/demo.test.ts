/**
 * The demo routes (/demo/api/…): on only with DEMO_MODE, they make the demo page's few calls server-side, so the page
 * never holds the API token; what they answer does not depend on the Host or the caller's address.
 */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../../functions/index";
import { DEMO_SCOPE, jobIdFor } from "../../src/jobs/ids";

const TOKEN = env.API_TOKEN as string;

/**
 * The worker with DEMO_MODE on (and these settings) over the test bindings. The demo limit is one bucket for every
 * caller, so it is off except in the test of that limit (which would otherwise inherit the others' calls).
 */
function demoWorker(vars: Record<string, string> = {}) {
  const e = { ...env, DEMO_MODE: "true", DEMO_RATE_LIMIT: "0", ...vars };
  return (url: string, init: RequestInit = {}) => worker.fetch(new Request(url, init), e, createExecutionContext());
}

const json = { "content-type": "application/json" };
const fresh = () => crypto.randomUUID().slice(0, 8);

describe("the demo routes with DEMO_MODE off (the default)", () => {
  it("answers 404 problem+json on every demo route, and /demo/config is gone", async () => {
    for (const [method, path] of [
      ["GET", "/demo/config"],
      ["POST", "/demo/api/rooms/demo-lobby/tickets"],
      ["GET", "/demo/api/counters/demo-visits"],
      ["POST", "/demo/api/counters/demo-visits/increment"],
    ] as const) {
      const res = await exports.default.fetch(`http://127.0.0.1${path}`, {
        method,
        headers: json,
        body: method === "POST" ? JSON.stringify({ user: "ada" }) : undefined,
      });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.text()).not.toContain(TOKEN);
    }
  });
});

describe("the demo routes with DEMO_MODE on", () => {
  it("give a spoofed Host on another address nothing a loopback caller would not get, and never the API token", async () => {
    const call = demoWorker();
    const callers = {
      spoofed: { base: "http://localhost", headers: { host: "localhost", "cf-connecting-ip": "203.0.113.7" } },
      loopback: { base: "http://127.0.0.1:8787", headers: { "cf-connecting-ip": "127.0.0.1" } },
    };
    const seen: Record<string, unknown> = {};
    for (const [who, { base, headers }] of Object.entries(callers)) {
      const config = await call(`${base}/demo/config`, { headers });
      expect(config.status, who).toBe(404);
      const api = await call(`${base}/v1/counters/demo-visits`, { headers });
      expect(api.status, who).toBe(401);
      const ticket = await call(`${base}/demo/api/rooms/demo-lobby/tickets`, {
        method: "POST",
        headers: { ...headers, ...json },
        body: JSON.stringify({ user: "ada" }),
      });
      expect(ticket.status, who).toBe(201);
      const text = await ticket.text();
      expect(text).not.toContain(TOKEN);
      const body = JSON.parse(text) as Record<string, unknown>;
      seen[who] = { keys: Object.keys(body).sort(), room: body.room, user: body.user };
    }
    expect(seen.spoofed).toEqual(seen.loopback);
    expect(seen.loopback).toEqual({ keys: ["expiresAt", "room", "ticket", "user"], room: "demo-lobby", user: "ada" });
  });

  it("mints a ticket that joins its demo- room as the user asked for, valid for 60 s, with DEMO_MODE on", async () => {
    const call = demoWorker();
    const room = `demo-${fresh()}`;
    const res = await call(`http://127.0.0.1/demo/api/rooms/${room}/tickets`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ user: "ada" }),
    });
    expect(res.status).toBe(201);
    const { ticket, expiresAt } = await res.json<{ ticket: string; expiresAt: string }>();
    const ttl = Date.parse(expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const ws = `http://127.0.0.1/v1/rooms/${room}/ws?ticket=${encodeURIComponent(ticket)}`;
    // A demo ticket opens a socket only while DEMO_MODE is on (it then counts against DEMO_RATE_LIMIT).
    const off = await exports.default.fetch(ws, { headers: { upgrade: "websocket" } });
    expect(off.status).toBe(404);
    expect(await off.json()).toMatchObject({ type: "urn:edgeloop:problem:demo-off" });
    const join = await call(ws, { headers: { upgrade: "websocket" } });
    expect(join.status).toBe(101);
    join.webSocket?.accept();
    join.webSocket?.close(1000, "done");
  });

  it("mints tickets only for demo- rooms and job rooms, for names that are not reserved", async () => {
    const call = demoWorker();
    const ticket = (room: string, user: string) =>
      call(`http://127.0.0.1/demo/api/rooms/${room}/tickets`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ user }),
      });
    expect((await ticket(`job:${await jobIdFor(DEMO_SCOPE, fresh())}`, "watcher")).status).toBe(201);
    for (const [room, user] of <[string, string][]>[
      ["lobby", "ada"],
      [`demo-${"x".repeat(33)}`, "ada"],
      ["job:not-a-job-id", "ada"],
      ["demo-lobby", "server"],
      ["demo-lobby", "jobs"],
    ]) {
      const res = await ticket(room, user);
      expect(res.status, `${room} ${user}`).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("reads and increments demo- counters by one, and no other counter", async () => {
    const call = demoWorker();
    const name = `demo-${fresh()}`;
    expect(await (await call(`http://127.0.0.1/demo/api/counters/${name}`)).json()).toMatchObject({ name, value: 0 });
    for (const expected of [1, 2]) {
      const res = await call(`http://127.0.0.1/demo/api/counters/${name}/increment`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ by: 1 }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name, value: expected });
    }
    const viaApi = await exports.default.fetch(`http://127.0.0.1/v1/counters/${name}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await viaApi.json()).toMatchObject({ name, value: 2 });
    const other = `orders-${fresh()}`;
    const refused = await call(`http://127.0.0.1/demo/api/counters/${other}/increment`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ by: 1 }),
    });
    expect(refused.status).toBe(400);
    const untouched = await exports.default.fetch(`http://127.0.0.1/v1/counters/${other}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await untouched.json()).toMatchObject({ value: 0, updatedAt: null });
  });

  it("limits all demo calls together to DEMO_RATE_LIMIT per DEMO_RATE_PERIOD_MS, with Retry-After", async () => {
    const call = demoWorker({ DEMO_RATE_LIMIT: "3", DEMO_RATE_PERIOD_MS: "3600000" });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call(`http://127.0.0.1/demo/api/counters/demo-${fresh()}`)).status);
    const over = await call("http://127.0.0.1/demo/api/counters/demo-visits", {
      headers: { "cf-connecting-ip": "203.0.113.8" },
    });
    expect(statuses).toEqual([200, 200, 200]);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await over.json()).toMatchObject({ type: "urn:edgeloop:problem:rate-limited", limit: "DEMO_RATE_LIMIT" });
  });

  it("fans out only to the demo upstream on a host FANOUT_ALLOW_HOSTS lists by name, and streams like /v1/fanout", async () => {
    const upstream = inject("upstream");
    const port = new URL(upstream).port;
    const key = `demo-${fresh()}`;
    const body = (url: string) => JSON.stringify({ requests: [{ id: "a", url }], concurrency: 1 });
    const demoPath = `/demo/api/upstream/delay?key=${key}`;
    const listed = demoWorker({ FANOUT_ALLOW_HOSTS: `127.0.0.1:${port}` });
    const res = await listed("http://127.0.0.1/demo/api/fanout", {
      method: "POST",
      headers: { ...json, accept: "application/x-ndjson" },
      body: body(`${upstream}${demoPath}`),
    });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const streamed = await res.text();
    expect(streamed).not.toContain(TOKEN);
    const lines = streamed
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ id: "a", outcome: "fulfilled", status: 200, startedMs: expect.any(Number) });
    expect(lines[1]).toMatchObject({ summary: { fulfilled: 1 } });
    // Another port of the same host, or a public host, is not listed: refused before any call.
    for (const url of [`http://127.0.0.1:1${demoPath}`, `https://example.com${demoPath}`]) {
      const refused = await listed("http://127.0.0.1/demo/api/fanout", {
        method: "POST",
        headers: json,
        body: body(url),
      });
      expect(refused.status, url).toBe(400);
    }
    const stats = await (await fetch(`${upstream}/__stats?key=${key}`)).json<{ hits: number }>();
    expect(stats.hits).toBe(1);
  });

  it("acquires, reads and releases demo- locks through /v1/locks", async () => {
    const call = demoWorker();
    const name = `demo-${fresh()}`;
    const post = (action: string, body: unknown) =>
      call(`http://127.0.0.1/demo/api/locks/${name}/${action}`, {
        method: "POST",
        headers: json,
        body: JSON.stringify(body),
      });
    const grant = await (await post("acquire", { owner: "holder-a", ttlMs: 5_000 })).json<{ token: number }>();
    expect(grant).toMatchObject({ name, token: 1, owner: "holder-a" });
    const busy = await post("acquire", { owner: "holder-b", ttlMs: 5_000 });
    expect(busy.status).toBe(409);
    expect(await (await call(`http://127.0.0.1/demo/api/locks/${name}`)).json()).toMatchObject({
      holder: "holder-a",
      token: 1,
    });
    expect(await (await post("release", { owner: "holder-a", token: 1 })).json()).toMatchObject({ released: true });
  });

  it("creates demo jobs in the demo's own key scope, and reads their status", async () => {
    const upstream = inject("upstream");
    const call = demoWorker({ FANOUT_ALLOW_HOSTS: `127.0.0.1:${new URL(upstream).port}` });
    const key = fresh();
    const res = await call("http://127.0.0.1/demo/api/jobs", {
      method: "POST",
      headers: { ...json, "idempotency-key": key },
      body: JSON.stringify({ type: "fanout", requests: [{ url: `${upstream}/demo/api/upstream/delay?key=${key}` }] }),
    });
    expect(res.status).toBe(202);
    const job = await res.json<{ id: string; statusUrl: string }>();
    expect(job.id).toBe(await jobIdFor(DEMO_SCOPE, key));
    expect(job.statusUrl).toBe(`/demo/api/jobs/${job.id}`);
    expect(await (await call(`http://127.0.0.1${job.statusUrl}`)).json()).toMatchObject({ id: job.id, total: 1 });
  });

  it("serves the demo upstream: the status asked for, after the wait asked for", async () => {
    const call = demoWorker();
    const res = await call("http://127.0.0.1/demo/api/upstream/delay?ms=20&status=503");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ms: 20, status: 503 });
  });
});
