import { describe, expect, it } from "vitest";
import { useWorker } from "./support/worker.ts";

const worker = useWorker();

describe("the built bundle served locally", () => {
  it("answers /healthz over real HTTP on loopback", async () => {
    const res = await fetch(`${worker.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", auth: "configured" });
  });

  it("requires the bearer token on /v1 over real HTTP", async () => {
    const res = await fetch(`${worker.url}/v1/anything`);
    expect(res.status).toBe(401);
    const ok = await worker.api("/v1/anything");
    expect(ok.status).toBe(404);
  });

  it("explains invalid input in English although the bundle keeps only zod's English locale", async () => {
    const res = await worker.api("/v1/counters/e2e-locale/increment", { method: "POST", json: { by: "two" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "urn:edgeloop:problem:invalid-request",
      errors: [{ path: "by", message: "Invalid input: expected number, received string" }],
    });
  });
});
