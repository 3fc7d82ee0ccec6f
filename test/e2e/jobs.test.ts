import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle, type RunningWorker, startMiniflare } from "../../bench/lib/worker.ts";
import type { JobStatus as Status } from "../../src/jobs/types.ts";
import { type JobsUpstream, startJobsUpstream } from "../setup/jobs-upstream.ts";

let worker: RunningWorker;
let upstream: JobsUpstream;

beforeAll(async () => {
  upstream = await startJobsUpstream();
  worker = await startMiniflare(buildBundle(), {
    FANOUT_ALLOW_HOSTS: "127.0.0.1",
    // Retries come back after about a second instead of two.
    JOBS_RETRY_BASE_SECONDS: "1",
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await upstream?.close();
});

const headers = () => ({ authorization: `Bearer ${worker.token}`, "content-type": "application/json" });

describe("jobs on the built worker, with the queue consumer running in Miniflare", () => {
  it("runs a 2,000-URL job through transient 503s to exactly 2,000 results with the 404s reported", async () => {
    const N = 2_000;
    // 30% of the URLs answer 503 to their first request; every 97th one is always 404.
    const flaky = (i: number) => i % 10 < 3;
    const missing = (i: number) => i % 97 === 5;
    const run = crypto.randomUUID();
    const requests = Array.from({ length: N }, (_, i) => ({
      url: `${upstream.url}/${run}/${i}?${missing(i) ? "status=404" : flaky(i) ? "failFirst=1" : "ok=1"}`,
    }));
    const res = await fetch(`${worker.url}/v1/jobs`, {
      method: "POST",
      headers: { ...headers(), "idempotency-key": `e2e-${run}` },
      body: JSON.stringify({ type: "fanout", requests, concurrency: 10 }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    const status = await waitForEnd(id);
    const expected404 = Array.from({ length: N }, (_, i) => i).filter(missing);
    expect(status).toMatchObject({
      state: "partial",
      total: N,
      done: N,
      failed: expected404.length,
      dead: 0,
      chunks: 40,
    });
    // Every chunk holds flaky URLs: each ran twice (the first delivery and one retry).
    expect(status.attempts).toBe(80);

    const results: { index: number; status: number; ok: boolean }[] = [];
    let cursor: string | null = null;
    do {
      const page = await fetch(`${worker.url}/v1/jobs/${id}/results?limit=1000${cursor ? `&cursor=${cursor}` : ""}`, {
        headers: headers(),
      });
      const body = (await page.json()) as { items: typeof results; next: string | null };
      results.push(...body.items);
      cursor = body.next;
    } while (cursor);
    expect(results).toHaveLength(N);
    expect(new Set(results.map((r) => r.index)).size).toBe(N);
    expect(results.filter((r) => r.status === 404).map((r) => r.index)).toEqual(expected404);
    expect(results.filter((r) => r.status === 200)).toHaveLength(N - expected404.length);
    // Each URL was fetched once, flaky ones twice: a retried chunk re-ran only its unfinished requests.
    const flakyCount = Array.from({ length: N }, (_, i) => i).filter((i) => flaky(i) && !missing(i)).length;
    let total = 0;
    for (const [url, n] of upstream.hits) if (url.startsWith(`/${run}/`)) total += n;
    expect(total).toBe(N + flakyCount);
  }, 60_000);

  it("refuses bad input with 4xx problem+json over real HTTP and queues nothing", async () => {
    const key = `bad-${crypto.randomUUID()}`;
    const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ url: `${upstream.url}/x/${i}` }));
    const cases: [unknown, string | null, number][] = [
      [{ type: "fanout", requests: tooMany }, key, 413],
      [{ type: "mystery" }, key, 400],
      [{ type: "fanout", requests: [{ url: `${upstream.url}/x` }] }, "bad key!", 400],
      [{ type: "fanout", requests: [{ url: `${upstream.url}/x` }] }, null, 400],
    ];
    for (const [body, k, status] of cases) {
      const res = await fetch(`${worker.url}/v1/jobs`, {
        method: "POST",
        headers: k === null ? headers() : { ...headers(), "idempotency-key": k },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    const unknown = await fetch(`${worker.url}/v1/jobs/${"0".repeat(32)}`, { headers: headers() });
    expect(unknown.status).toBe(404);
    expect(res404(await unknown.json())).toBe(true);
    // The key used by the refused requests is still free: nothing was created under it.
    const fresh = await fetch(`${worker.url}/v1/jobs`, {
      method: "POST",
      headers: { ...headers(), "idempotency-key": key },
      body: JSON.stringify({ type: "fanout", requests: [{ url: `${upstream.url}/fresh` }] }),
    });
    expect(fresh.status).toBe(202);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    // Let it finish, so that stopping the worker does not cut a delivery short.
    const { id } = (await fresh.json()) as { id: string };
    expect((await waitForEnd(id)).state).toBe("succeeded");
  });
});

async function waitForEnd(id: string, timeoutMs = 50_000): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await (await fetch(`${worker.url}/v1/jobs/${id}`, { headers: headers() })).json()) as Status;
    if ((status.state !== "queued" && status.state !== "running") || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function res404(body: unknown): boolean {
  return (body as { status?: number }).status === 404;
}
