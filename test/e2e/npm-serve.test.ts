/**
 * `npm run serve` (scripts/serve.ts), the production-like local server: started as a user starts it, it answers to
 * `npm start`'s dev token, serves the static assets, and keeps Durable Object state on disk across a restart.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../bench/lib/worker.ts";

const root = new URL("../../", import.meta.url).pathname;
// The dev token `npm start` passes (package.json), which `npm run serve` takes from there.
const AUTH = { authorization: "Bearer edgeloop-dev-token", "content-type": "application/json" };

interface Served {
  url: string;
  stop(): Promise<void>;
}

/** `npm run serve` on a free port with state under `persistTo`; resolves once it prints that it is ready. */
async function serve(persistTo: string): Promise<Served> {
  const port = await freePort();
  const child: ChildProcess = spawn("npm", ["run", "serve", "--", "--port", String(port), "--persist-to", persistTo], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that stopping it stops npm, node and workerd together.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /edgeloop ready on (http:\/\/\S+)/.exec(output);
      if (ready) resolve(ready[1] as string);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(() => reject(new Error(`npm run serve exited before it was ready:\n${output}`)));
  });
  return {
    url,
    stop: async () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
      await exited;
    },
  };
}

let state: string;
let server: Served | undefined;

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
