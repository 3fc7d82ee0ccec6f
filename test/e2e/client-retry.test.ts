/**
 * The typed client's one retry rule against the built worker: a 429 or 503 is tried again after its Retry-After
 * (plus jitter) within the attempts and the total wait the caller allows; with `retry: false`, or a Retry-After
 * longer than that wait, it is the caller's EdgeloopError at once. A 503 may come after the call was applied, so it
 * is retried only for a call that applying twice cannot change. The worker runs with a /v1 rate limit of one
 * request a second (exact); a loopback stand-in answers the 503 of an overloaded Durable Object.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createClient, EdgeloopError, type RetryPolicy } from "../../src/client/index.ts";
import { useWorker } from "./support/worker.ts";

const worker = useWorker({
  API_RATE_LIMIT: "1",
  API_RATE_PERIOD_MS: "1000",
  API_RATE_LEASE_MAX: "1",
});

/** A client with its own token's limit, counting the requests it sends and their statuses. */
function client(retry?: RetryPolicy | false) {
  const statuses: number[] = [];
  const c = createClient({
    baseUrl: worker.url,
    token: worker.token,
    retry,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    },
  });
  return { client: c, statuses };
}

const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

describe("the client's retry rule", () => {
  it("retries a 429 after its Retry-After and succeeds", async () => {
    const { client: c, statuses } = client({ attempts: 3, maxWaitMs: 10_000 });
    const counter = c.counter(fresh("retried"));
    await counter.increment();
    expect((await counter.increment()).value).toBe(2);
    expect(statuses).toEqual([200, 429, 200]);
  });

  it("answers the 429 as an EdgeloopError with its Retry-After when retrying is off or the wait is too long", async () => {
    for (const policy of [false, { attempts: 5, maxWaitMs: 50 }] as const) {
      const { client: c, statuses } = client(policy);
      const counter = c.counter(fresh("limited"));
      // The token's bucket holds one request a second: of two in a row, the second at least is over the limit.
      const answers: unknown[] = [];
      for (let i = 0; i < 2; i++) answers.push(await counter.increment().catch((e: unknown) => e));
      const error = answers.find((a) => a instanceof EdgeloopError);
      expect(error, JSON.stringify(policy)).toMatchObject({
        status: 429,
        type: "urn:edgeloop:problem:rate-limited",
        retryAfterMs: expect.any(Number),
      });
      expect((error as EdgeloopError).retryAfterMs).toBeGreaterThanOrEqual(1_000);
      // Each request was sent once: none was retried.
      expect(statuses).toHaveLength(2);
      expect(statuses.filter((s) => s === 429).length).toBe(answers.filter((a) => a instanceof EdgeloopError).length);
    }
  });

  it("retries a 503 the same way, and never another status", async () => {
    // A stand-in for an overloaded Durable Object's answer (503 + Retry-After: 1), then the real answer; and a 500.
    let calls = 0;
    const server = createServer((req, res) => {
      calls++;
      const problem = (status: number) =>
        res
          .writeHead(status, { "content-type": "application/problem+json", "retry-after": "1" })
          .end(JSON.stringify({ type: "urn:edgeloop:problem:unavailable", title: "x", status, detail: "busy" }));
      if (req.url?.startsWith("/v1/counters/broken")) return problem(500);
      if (calls === 1) return problem(503);
      res.writeHead(200, { "content-type": "application/json" }).end('{"name":"c","value":1,"updatedAt":1}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const c = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t" });
      expect((await c.counter("c").get()).value).toBe(1);
      expect(calls).toBe(2);
      await expect(c.counter("broken").get()).rejects.toMatchObject({ status: 500 });
      expect(calls).toBe(3);
    } finally {
      server.close();
    }
  });

  it("never sends a call that is not idempotent twice after a 503: an increment answered 503 once it was applied counts once", async () => {
    const sent: string[] = [];
    let replaced = false;
    const c = createClient({
      baseUrl: worker.url,
      token: worker.token,
      retry: { attempts: 3, maxWaitMs: 10_000 },
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        sent.push(`${init?.method} ${new URL(String(input)).pathname} ${res.status}`);
        if (!res.ok || replaced || !String(input).endsWith("/increment")) return res;
        // The service applied it; the answer is lost to a Durable Object reset on the way back.
        replaced = true;
        await res.text();
        const body = {
          type: "urn:edgeloop:problem:unavailable",
          title: "Service Unavailable",
          status: 503,
          detail: "x",
        };
        return new Response(JSON.stringify(body), {
          status: 503,
          headers: { "content-type": "application/problem+json", "retry-after": "1" },
        });
      },
    });
    const name = fresh("once");
    await expect(c.counter(name).increment()).rejects.toMatchObject({
      status: 503,
      type: "urn:edgeloop:problem:unavailable",
    });
    expect((await c.counter(name).get()).value).toBe(1);
    // Applied once: only a 429 (refused before anything ran) was sent again.
    expect(sent.filter((s) => s === `POST /v1/counters/${name}/increment 200`)).toHaveLength(1);
  });

  it("retries on 503 only what applying twice cannot change, and on 429 everything", async () => {
    // A stand-in service: the first request to each path gets `first` (503 unavailable unless the path says
    // otherwise), every later one `then` (200 {} unless the path says otherwise).
    const requests: { path: string; key: string | undefined }[] = [];
    const server = createServer((req, res) => {
      const path = req.url ?? "";
      requests.push({ path, key: req.headers["idempotency-key"] as string | undefined });
      const first = requests.filter((r) => r.path === path).length === 1;
      const [status, type] = first
        ? path.includes("waiters")
          ? [503, "too-many-waiters"]
          : path.includes("limited")
            ? [429, "rate-limited"]
            : [503, "unavailable"]
        : path.includes("/acquire")
          ? [409, "lock-held"]
          : [200, ""];
      if (status === 200) return res.writeHead(200, { "content-type": "application/json" }).end("{}");
      res
        .writeHead(status, { "content-type": "application/problem+json", "retry-after": "0" })
        .end(JSON.stringify({ type: `urn:edgeloop:problem:${type}`, title: "x", status, detail: "x" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const c = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t" });
      const calls: Record<string, () => Promise<unknown>> = {
        "/v1/counters/get": () => c.counter("get").get(),
        "/v1/counters/set": () => c.counter("set").set(5),
        "/v1/counters/cas": () => c.counter("cas").set(5, { ifValue: 4 }),
        "/v1/counters/reset": () => c.counter("reset").reset(),
        "/v1/counters/inc/increment": () => c.counter("inc").increment(),
        "/v1/counters/limited/increment": () => c.counter("limited").increment(),
        "/v1/ratelimits/take": () => c.rateLimit("take", { limit: 1, periodMs: 1_000 }).take(),
        "/v1/locks/lock/acquire": () => c.lock("lock").acquire(),
        "/v1/locks/waiters/acquire": () => c.lock("waiters").acquire(),
        "/v1/jobs": () => c.jobs.create({ type: "fanout", requests: [{ url: "https://example.com/" }] }),
        "/v1/pages": async () => {
          for await (const _ of c.pages({ url: "https://example.com/", next: "link" })) break;
        },
      };
      const sent: Record<string, number> = {};
      for (const [path, call] of Object.entries(calls)) {
        await call().catch(() => undefined);
        sent[path] = requests.filter((r) => r.path === path).length;
      }
      expect(sent).toEqual({
        "/v1/counters/get": 2,
        "/v1/counters/set": 2,
        "/v1/counters/cas": 1,
        "/v1/counters/reset": 2,
        "/v1/counters/inc/increment": 1,
        "/v1/counters/limited/increment": 2,
        "/v1/ratelimits/take": 1,
        "/v1/locks/lock/acquire": 1,
        "/v1/locks/waiters/acquire": 2,
        "/v1/jobs": 2,
        "/v1/pages": 2,
      });
      // The job was asked for twice with one idempotency key: one job.
      const keys = requests.filter((r) => r.path === "/v1/jobs").map((r) => r.key);
      expect(new Set(keys).size).toBe(1);
      expect(keys[0]).toEqual(expect.any(String));
      // A fan-out is as idempotent as its requests.
      const fanouts = [
        [{ url: "https://example.com/a" }, { url: "https://example.com/b", method: "PUT" }],
        [{ url: "https://example.com/a" }, { url: "https://example.com/b", method: "POST" }],
        [{ url: "https://example.com/b", method: "POST", idempotent: true }],
      ] as const;
      const fanoutSent = [];
      for (const list of fanouts) {
        requests.length = 0; // each fan-out's first request is a 503 again
        await c.fanout(list).catch(() => undefined);
        fanoutSent.push(requests.length);
      }
      expect(fanoutSent).toEqual([2, 1, 2]);
    } finally {
      server.close();
    }
  });
});
