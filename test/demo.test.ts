import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../functions/index";

const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

describe("GET /demo/config", () => {
  it("is not served with DEMO_MODE off (the default)", async () => {
    const res = await exports.default.fetch("http://127.0.0.1/demo/config");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.text()).not.toContain("test-token");
  });

  it("hands the demo page the API token with DEMO_MODE on, on a loopback host only", async () => {
    const demoEnv = { ...env, DEMO_MODE: "true" };
    const local = await app.fetch(new Request("http://127.0.0.1:8787/demo/config"), demoEnv, ctx);
    expect(local.status).toBe(200);
    expect(local.headers.get("cache-control")).toBe("no-store");
    expect(await local.json()).toEqual({ token: "test-token" });
    const remote = await app.fetch(new Request("https://edgeloop.example.com/demo/config"), demoEnv, ctx);
    expect(remote.status).toBe(404);
    expect(await remote.text()).not.toContain("test-token");
  });
});
