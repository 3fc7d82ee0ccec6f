import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle, type RunningWorker, startMiniflare } from "../../bench/lib/worker.ts";

let worker: RunningWorker;

beforeAll(async () => {
  worker = await startMiniflare(buildBundle());
}, 120_000);

afterAll(async () => {
  await worker?.stop();
});

describe("the built bundle served locally", () => {
  it("answers /healthz over real HTTP on loopback", async () => {
    const res = await fetch(`${worker.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", auth: "configured" });
  });

  it("requires the bearer token on /v1 over real HTTP", async () => {
    const res = await fetch(`${worker.url}/v1/anything`);
    expect(res.status).toBe(401);
    const ok = await fetch(`${worker.url}/v1/anything`, { headers: { authorization: `Bearer ${worker.token}` } });
    expect(ok.status).toBe(404);
  });

  it("explains invalid input in English although the bundle keeps only zod's English locale", async () => {
    const res = await fetch(`${worker.url}/v1/counters/e2e-locale/increment`, {
      method: "POST",
      headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
      body: JSON.stringify({ by: "two" }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "urn:edgeloop:problem:invalid-request",
      errors: [{ path: "by", message: "Invalid input: expected number, received string" }],
    });
  });
});
