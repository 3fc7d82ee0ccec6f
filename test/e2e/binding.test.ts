/**
 * The binding example (examples/binding/) against the real objects: the example Worker and edgeloop, both the bundles
 * `wrangler deploy` builds, served on one Miniflare with the service binding between them (scripts/lib/example.ts,
 * what `npm run example:binding` runs), the binding's props read from the example's own wrangler.toml. Driven over
 * HTTP as a user drives it: orders numbered under the lock by a fenced counter, each told to a loopback upstream in a
 * fan-out, the counter read back over RPC, everything in the props' namespace, a refusal arriving as its problem.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startUpstream, type Upstream } from "../../bench/lib/upstream.ts";
import { buildExample, startExample } from "../../scripts/lib/example.ts";
import type { RunningWorker } from "../../scripts/lib/worker.ts";
import { until } from "./support/until.ts";

let upstream: Upstream;
let example: RunningWorker;
let exampleBundle: string;
const key = `notify-${crypto.randomUUID()}`;

beforeAll(async () => {
  upstream = await startUpstream();
  exampleBundle = buildExample();
  example = await startExample(inject("e2eBundle"), exampleBundle, {
    vars: { FANOUT_ALLOW_HOSTS: "127.0.0.1" },
    exampleVars: { NOTIFY_URLS: `${upstream.url}/warehouse?key=${key},${upstream.url}/mail?key=${key}` },
  });
}, 60_000);

afterAll(async () => {
  await example?.stop();
  await upstream?.close();
  if (exampleBundle) rmSync(dirname(exampleBundle), { recursive: true, force: true });
});

/** edgeloop itself, beside the example (not on a URL: only the example's binding and this test reach it). */
async function edgeloop(path: string, init: RequestInit & { namespace?: string } = {}): Promise<Response> {
  const worker = await example.miniflare?.getWorker("edgeloop");
  if (!worker) throw new Error("edgeloop is not running");
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${example.token}`);
  if (init.namespace) headers.set("edgeloop-namespace", init.namespace);
  const res = await worker.fetch(`http://edgeloop${path}`, { ...init, headers } as never);
  return res as unknown as Response;
}

const order = () => fetch(`${example.url}/orders`, { method: "POST" });

interface Placed {
  order: number;
  lockToken: number;
  notified: { url: string; outcome: string; status: number | null }[];
}

describe("the binding example", () => {
  it("numbers concurrent orders one at a time under the lock, and tells each to every NOTIFY_URL", async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, order));
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const placed = (await Promise.all(answers.map((r) => r.json()))) as Placed[];
    expect(placed.map((p) => p.order).sort()).toEqual([1, 2, 3, 4, 5]);
    // Each order held its own grant: the fencing tokens are as many and as distinct as the orders.
    expect(new Set(placed.map((p) => p.lockToken)).size).toBe(5);
    for (const p of placed) {
      expect(p.notified.map((n) => [new URL(n.url).pathname, n.outcome, n.status])).toEqual([
        ["/warehouse", "fulfilled", 200],
        ["/mail", "fulfilled", 200],
      ]);
    }
    expect((await upstream.stats(key)).hits).toBe(10);
  });

  it("reads the counter back over RPC, and everything it touched lives in the props' namespace", async () => {
    const res = await fetch(`${example.url}/orders`);
    expect(await res.json()).toMatchObject({ name: "orders", value: 5 });
    const inShop = await (await edgeloop("/v1/counters/orders", { namespace: "shop" })).json();
    expect(inShop).toMatchObject({ value: 5 });
    expect(await (await edgeloop("/v1/counters/orders")).json()).toMatchObject({ value: 0, updatedAt: null });
    const lock = await (await edgeloop("/v1/locks/orders", { namespace: "shop" })).json();
    expect(lock).toMatchObject({ holder: null, lastToken: 5 });
  });

  it("waits in the lock's line while another holds it, and goes on when it is released", async () => {
    const acquire = await edgeloop("/v1/locks/orders/acquire", {
      namespace: "shop",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ owner: "admin", ttlMs: 30_000 }),
    });
    const grant = (await acquire.json()) as { token: number };
    const pending = order();
    await until(
      async () =>
        ((await (await edgeloop("/v1/locks/orders", { namespace: "shop" })).json()) as { waiters: number }).waiters ===
        1,
      "the example's order to wait for the lock",
    );
    await edgeloop("/v1/locks/orders/release", {
      namespace: "shop",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ owner: "admin", token: grant.token }),
    });
    const placed = (await (await pending).json()) as Placed;
    expect(placed).toMatchObject({ order: 6, lockToken: grant.token + 1 });
  });

  it("answers edgeloop's refusal as its problem: a lock held past the order's waitMs is 409 lock-held", async () => {
    const acquire = await edgeloop("/v1/locks/orders/acquire", {
      namespace: "shop",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ owner: "admin", ttlMs: 30_000 }),
    });
    expect(acquire.status).toBe(200);
    const res = await order();
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ type: "urn:edgeloop:problem:lock-held", status: 409 });
    const counter = await (await edgeloop("/v1/counters/orders", { namespace: "shop" })).json();
    expect(counter).toMatchObject({ value: 6 });
  });

  it("runs a service job on the example's own handle: edgeloop's queue delivers each order back to it, answered once", async () => {
    const orders = Array.from({ length: 25 }, (_, i) => i + 1);
    const created = await fetch(`${example.url}/receipts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orders: [...orders, "not an order"] }),
    });
    expect(created.status).toBe(202);
    const { job } = (await created.json()) as { job: string };
    interface Receipts {
      state: string;
      done: number;
      failed: number;
      total: number;
      receipts: ({ order: number; key: string; sha256: string } | { error: { kind: string; message: string } })[];
    }
    let read: Receipts | undefined;
    await until(async () => {
      read = (await (await fetch(`${example.url}/receipts/${job}`)).json()) as Receipts;
      return read.state === "partial";
    }, "the receipts job to end");
    expect(read).toMatchObject({ done: 26, failed: 1, total: 26 });
    const receipts = read?.receipts ?? [];
    expect(receipts.slice(0, 25).map((r) => ("order" in r ? [r.order, r.key] : r))).toEqual(
      orders.map((order, index) => [order, `${job}:${index}`]),
    );
    expect(receipts[25]).toEqual({ error: { kind: "handler", message: "an item is {order: <number>}" } });
    // The job belongs to the binding's namespace: listed there, not among the plain names' jobs.
    const listed = async (namespace?: string) =>
      ((await (await edgeloop("/v1/jobs", namespace ? { namespace } : {})).json()) as { items: { id: string }[] }).items
        .map((j) => j.id)
        .includes(job);
    expect([await listed("shop"), await listed()]).toEqual([true, false]);
  });
});
