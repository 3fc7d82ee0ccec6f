import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle, type RunningWorker, startMiniflare } from "../../bench/lib/worker.ts";

let worker: RunningWorker;

beforeAll(async () => {
  worker = await startMiniflare(buildBundle());
}, 120_000);

afterAll(async () => {
  await worker?.stop();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${worker.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("coordination over real HTTP", () => {
  it("holds a long-polling acquire open and grants it when the holder releases", async () => {
    const lock = `e2e-${crypto.randomUUID()}`;
    const first = await post(`/v1/locks/${lock}/acquire`, { owner: "a", ttlMs: 30_000 });
    expect(first.status).toBe(200);
    let answered = false;
    const waiting = post(`/v1/locks/${lock}/acquire`, { owner: "b", ttlMs: 30_000, waitMs: 10_000 }).finally(() => {
      answered = true;
    });
    let waiters = 0;
    for (let i = 0; i < 100 && waiters !== 1; i++) {
      const res = await fetch(`${worker.url}/v1/locks/${lock}`, {
        headers: { authorization: `Bearer ${worker.token}` },
      });
      waiters = ((await res.json()) as { waiters: number }).waiters;
      if (waiters !== 1) await new Promise((r) => setTimeout(r, 20));
    }
    // The second acquire is queued in the lock and still unanswered: what follows is a long-poll, not a retry.
    expect(waiters).toBe(1);
    expect(answered).toBe(false);
    expect((await post(`/v1/locks/${lock}/release`, { owner: "a", token: 1 })).status).toBe(200);
    expect(await waiting).toMatchObject({ status: 200, body: { owner: "b", token: 2 } });
  });

  it("answers /v1 with RateLimit headers and increments a counter", async () => {
    const res = await fetch(`${worker.url}/v1/counters/e2e-${crypto.randomUUID()}/increment`, {
      method: "POST",
      headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
      body: JSON.stringify({ by: 2 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-limit")).toBe("100000");
    expect(await res.json()).toMatchObject({ value: 2 });
  });
});
