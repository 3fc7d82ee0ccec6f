import { env, exports } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DOCS_CSP } from "../../functions/docs";
import { app } from "../../functions/index";
import { onError } from "../../src/http/problem";

const BASE = "http://edgeloop.test";

describe("the /v1 HTTP layer", () => {
  it("refuses a request without a bearer token with 401 problem+json and a challenge", async () => {
    const res = await exports.default.fetch(`${BASE}/v1/nothing-here`);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
    expect(await res.json()).toMatchObject({ status: 401, title: "Unauthorized" });
  });

  it("refuses a wrong bearer token with 401", async () => {
    const res = await exports.default.fetch(`${BASE}/v1/nothing-here`, { headers: { authorization: "Bearer nope" } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ detail: "The bearer token is not valid." });
  });

  it("answers an unknown route with 404 problem+json once authenticated", async () => {
    const res = await exports.default.fetch(`${BASE}/v1/nothing-here`, {
      headers: { authorization: "Bearer test-token" },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 404, detail: "No route for GET /v1/nothing-here" });
  });

  it("gives every response a request id, and keeps a well-formed one the client sent", async () => {
    const res = await exports.default.fetch(`${BASE}/healthz`, { headers: { "x-request-id": "abc-123" } });
    expect(res.headers.get("x-request-id")).toBe("abc-123");
    const fresh = await exports.default.fetch(`${BASE}/healthz`);
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("serves an OpenAPI 3.1 document and a docs page", async () => {
    const doc = await exports.default.fetch(`${BASE}/openapi.json`);
    expect(doc.status).toBe(200);
    const body = await doc.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(body.openapi).toBe("3.1.0");
    expect(Object.keys(body.paths)).toContain("/healthz");
    const page = await exports.default.fetch(`${BASE}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toBe(DOCS_CSP);
    const html = await page.text();
    // Scalar from our own assets, configured by our own script: nothing inline, nothing from elsewhere.
    expect(html.match(/<script[^>]*>/g)).toEqual([
      '<script src="/docs.js">',
      '<script src="/build/scalar/standalone.js">',
    ]);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("fails closed with 503 when no API_TOKEN is configured, whatever token is sent", async () => {
    const sent = [
      undefined,
      "",
      "Bearer test-token",
      "Bearer wrong",
      "Bearer ",
      "Bearer undefined",
      "bearer test-token",
      "Basic dGVzdDp0ZXN0",
    ];
    for (const API_TOKEN of [undefined, ""]) {
      for (const authorization of sent) {
        const res = await app.fetch(
          new Request(`${BASE}/v1/nothing-here`, { headers: authorization === undefined ? {} : { authorization } }),
          { ...env, API_TOKEN },
        );
        const what = `API_TOKEN ${JSON.stringify(API_TOKEN)}, authorization ${JSON.stringify(authorization)}`;
        expect(res.status, what).toBe(503);
        expect(await res.json(), what).toMatchObject({ status: 503, type: "urn:edgeloop:problem:not-configured" });
      }
    }
  });

  it("refuses a body over MAX_BODY_BYTES with 413 naming the setting", async () => {
    const res = await exports.default.fetch(`${BASE}/v1/nothing-here`, {
      method: "POST",
      headers: { authorization: "Bearer test-token", "content-type": "application/json" },
      body: "x".repeat(1_048_577),
    });
    expect(res.status).toBe(413);
    const body = await res.json<{ detail: string; limit: string }>();
    expect(body.limit).toBe("MAX_BODY_BYTES");
    expect(body.detail).toContain("MAX_BODY_BYTES");
  });
});

describe("the error handler", () => {
  const failing = (err: Error) => {
    const app = new Hono();
    app.onError(onError);
    app.get("/", () => {
      throw err;
    });
    return app.request("/");
  };

  it("turns a Durable Object's overloaded or reset error into 503 problem+json with Retry-After", async () => {
    for (const flag of ["overloaded", "retryable"] as const) {
      const res = await failing(
        Object.assign(new Error("Durable Object reset because its code was updated."), { [flag]: true }),
      );
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject({ status: 503, type: "urn:edgeloop:problem:unavailable" });
    }
  });

  it("answers any other error with a generic 500 that carries no message or stack", async () => {
    const res = await failing(new TypeError("secret internals at /work/src/x.ts:1"));
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("secret internals");
    expect(text).not.toContain(".ts");
    expect(JSON.parse(text)).toMatchObject({ status: 500, title: "Internal Server Error" });
  });
});
