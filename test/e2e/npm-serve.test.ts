/**
 * `npm run serve` (scripts/serve.ts), the production-like local server: started as a user starts it, it answers to
 * `npm start`'s dev token, serves the static assets, and keeps Durable Object state on disk across a restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningWorker, startServe } from "../../scripts/lib/worker.ts";

// The dev token `npm start` and `npm run serve` pass (scripts/lib/dev-vars.ts).
const AUTH = { authorization: "Bearer edgeloop-dev-token", "content-type": "application/json" };

let state: string;
let server: RunningWorker | undefined;

/** `npm run serve` as a user starts it: npm start's dev values, state under `persistTo`. */
const serve = async (persistTo: string) => startServe(await freePort(), persistTo);

beforeAll(() => {
  state = mkdtempSync(join(tmpdir(), "edgeloop-serve-"));
});

afterAll(async () => {
  await server?.stop();
  rmSync(state, { recursive: true, force: true });
});

describe("npm run serve", () => {
  it("serves the worker with npm start's dev values, its assets, and keeps a counter across a restart", async () => {
    const counter = `e2e-serve-${crypto.randomUUID()}`;
    server = await serve(state);
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toMatchObject({ status: "ok", auth: "configured", bindings: { JOBS_QUEUE: true } });
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const first = await fetch(`${server.url}/v1/counters/${counter}/increment`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ by: 5 }),
    });
    expect(await first.json()).toMatchObject({ value: 5 });
    await server.stop();

    server = await serve(state);
    const read = await fetch(`${server.url}/v1/counters/${counter}`, { headers: AUTH });
    expect(await read.json()).toMatchObject({ name: counter, value: 5 });
    const next = await fetch(`${server.url}/v1/counters/${counter}/increment`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ by: 1 }),
    });
    expect(await next.json()).toMatchObject({ value: 6 });
  }, 240_000);
});
