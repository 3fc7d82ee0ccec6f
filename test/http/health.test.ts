import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /healthz", () => {
  it("answers without auth with the version and the bindings present", async () => {
    const res = await exports.default.fetch("http://edgeloop.test/healthz");
    expect(res.status).toBe(200);
    const body = await res.json<{
      status: string;
      name: string;
      version: string;
      bindings: Record<string, boolean>;
      auth: string;
    }>();
    expect(body).toMatchObject({ status: "ok", name: "edgeloop", version: "0.1.0", auth: "configured" });
    expect(body.bindings.ASSETS).toBe(true);
  });
});
