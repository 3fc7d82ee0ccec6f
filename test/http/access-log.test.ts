/**
 * The access log: a structured line (request id, method, path, status, duration) for each answer of 400 or more by
 * default, for every request with ACCESS_LOG=all.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../functions/index";

const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
const AUTH = { authorization: "Bearer test-token" };

/** The access-log lines printed (console.log, .warn or .error) while `run` ran. */
async function linesOf(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: unknown[] = [];
  const spies = (["log", "warn", "error"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((line: unknown) => {
      lines.push(line);
    }),
  );
  try {
    await run();
    return lines.map((line) => JSON.parse(String(line)) as Record<string, unknown>).filter((l) => l.msg === "request");
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

const get = (path: string, vars: Record<string, string> = {}) =>
  app.fetch(
    new Request(`http://edgeloop.test${path}`, { headers: { ...AUTH, "x-request-id": "trace-7" } }),
    {
      ...env,
      ...vars,
    },
    ctx,
  );

describe("the access log", () => {
  afterEach(() => vi.restoreAllMocks());

  it("logs an answer of 400 or more with its request id, and not a success, by default", async () => {
    const lines = await linesOf(async () => {
      expect((await get("/healthz")).status).toBe(200);
      expect((await get("/v1/nothing-here")).status).toBe(404);
    });
    expect(lines).toEqual([
      expect.objectContaining({ requestId: "trace-7", method: "GET", path: "/v1/nothing-here", status: 404 }),
    ]);
  });

  it("does not log the demo upstream's deliberate error answers as errors: they are what the caller asked for", async () => {
    const lines = await linesOf(async () => {
      expect((await get("/demo/api/upstream/delay?status=503", { DEMO_MODE: "true" })).status).toBe(503);
      expect((await get("/demo/api/upstream/delay?status=500", { DEMO_MODE: "true", ACCESS_LOG: "all" })).status).toBe(
        500,
      );
    });
    // By default not at all; with ACCESS_LOG=all as the request it is, at info.
    expect(lines).toEqual([expect.objectContaining({ level: "info", path: "/demo/api/upstream/delay", status: 500 })]);
  });

  it("logs every request with ACCESS_LOG=all", async () => {
    const lines = await linesOf(async () => {
      await get("/healthz", { ACCESS_LOG: "all" });
      await get("/v1/nothing-here", { ACCESS_LOG: "all" });
    });
    expect(lines.map((l) => [l.path, l.status])).toEqual([
      ["/healthz", 200],
      ["/v1/nothing-here", 404],
    ]);
  });
});
