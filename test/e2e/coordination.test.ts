import { describe, expect, it } from "vitest";
import { until } from "./support/until.ts";
import { useWorker } from "./support/worker.ts";

const worker = useWorker();

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await worker.api(path, { method: "POST", json: body });
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
    // The second acquire is queued in the lock and still unanswered: what follows is a long-poll, not a retry.
    let waiters = 0;
    await until(async () => {
      waiters = ((await (await worker.api(`/v1/locks/${lock}`)).json()) as { waiters: number }).waiters;
      return waiters === 1;
    }, "the second acquire to wait in the lock");
    expect(waiters).toBe(1);
    expect(answered).toBe(false);
    expect((await post(`/v1/locks/${lock}/release`, { owner: "a", token: 1 })).status).toBe(200);
    expect(await waiting).toMatchObject({ status: 200, body: { owner: "b", token: 2 } });
  });

  it("answers /v1 with RateLimit headers and increments a counter", async () => {
    const res = await worker.api(`/v1/counters/e2e-${crypto.randomUUID()}/increment`, {
      method: "POST",
      json: { by: 2 },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-limit")).toBe("100000");
    expect(await res.json()).toMatchObject({ value: 2 });
  });
});
