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

  it("is described in the OpenAPI document as needing no token, with an example answer", async () => {
    const doc = await (await exports.default.fetch("http://edgeloop.test/openapi.json")).json<{
      security: unknown[];
      paths: Record<string, { get: { security?: unknown[]; responses: Record<string, unknown> } }>;
    }>();
    expect(doc.security).toEqual([{ bearer: [] }]);
    const op = doc.paths["/healthz"]?.get;
    expect(op?.security).toEqual([]);
    expect(op?.responses["200"]).toMatchObject({
      content: {
        "application/json": {
          example: { status: "ok", name: "edgeloop", auth: "configured", bindings: expect.any(Object) },
        },
      },
    });
  });
});
