/**
 * Error responses carry the request id too: a problem+json answer is the one a caller most needs to quote.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const BASE = "http://edgeloop.test";
const AUTH = { authorization: "Bearer test-token" };

describe("request ids on problem+json answers", () => {
  const cases: [string, string, RequestInit][] = [
    ["401 without a token", "/v1/counters/x", {}],
    ["404 for an unknown route", "/v1/nothing-here", { headers: AUTH }],
    [
      "400 for an invalid body",
      "/v1/counters/x/increment",
      {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: '{"by":"two"}',
      },
    ],
    [
      "400 for malformed JSON",
      "/v1/counters/x/increment",
      {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: "{",
      },
    ],
  ];
  for (const [what, path, init] of cases) {
    it(`echoes the client's request id on a ${what}, and mints one when none is sent`, async () => {
      const res = await exports.default.fetch(`${BASE}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), "x-request-id": "trace-42" },
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.headers.get("x-request-id")).toBe("trace-42");
      const fresh = await exports.default.fetch(`${BASE}${path}`, init);
      expect(fresh.status).toBe(res.status);
      expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });
  }
});
