import { describe, expect, it } from "vitest";
import type { JobStatus as Status } from "../../src/jobs/types.ts";
import { startJobsUpstream } from "../setup/jobs-upstream.ts";
import { until } from "./support/until.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const upstream = useUpstream(startJobsUpstream);

// Registered after the upstream's hooks: started after it, stopped before it (after-hooks run in reverse).
const worker = useWorker({
  FANOUT_ALLOW_HOSTS: "127.0.0.1",
  // Retries come back after about a second instead of two.
  JOBS_RETRY_BASE_SECONDS: "1",
});

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
    const res = await worker.api("/v1/jobs", {
      method: "POST",
      headers: { "idempotency-key": `e2e-${run}` },
      json: { type: "fanout", requests, concurrency: 10 },
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
      const page = await worker.api(`/v1/jobs/${id}/results?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
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
      const res = await worker.api("/v1/jobs", {
        method: "POST",
        headers: k === null ? {} : { "idempotency-key": k },
        json: body,
      });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    const unknown = await worker.api(`/v1/jobs/${"0".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(res404(await unknown.json())).toBe(true);
    // The key used by the refused requests is still free: nothing was created under it.
    const fresh = await worker.api("/v1/jobs", {
      method: "POST",
      headers: { "idempotency-key": key },
      json: { type: "fanout", requests: [{ url: `${upstream.url}/fresh` }] },
    });
    expect(fresh.status).toBe(202);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    // Let it finish, so that stopping the worker does not cut a delivery short.
    const { id } = (await fresh.json()) as { id: string };
    expect((await waitForEnd(id)).state).toBe("succeeded");
  });
});

async function waitForEnd(id: string, timeoutMs = 50_000): Promise<Status> {
  let status: Status | undefined;
  await until(
    async () => {
      status = (await (await worker.api(`/v1/jobs/${id}`)).json()) as Status;
      return status.state !== "queued" && status.state !== "running";
    },
    `job ${id} to end`,
    { timeoutMs, intervalMs: 250 },
  );
  return status as Status;
}

function res404(body: unknown): boolean {
  return (body as { status?: number }).status === 404;
}
