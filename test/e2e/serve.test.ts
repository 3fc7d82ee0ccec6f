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
});
