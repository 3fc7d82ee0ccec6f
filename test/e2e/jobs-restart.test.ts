/**
 * A delayed job survives a hard restart of the service: `npm start` (wrangler dev, state under --persist-to) takes a
 * job due a few seconds later, then its whole process group (npm, node scripts/start.ts, wrangler, workerd) is killed
 * with SIGKILL (`kill -9`) while the job waits, with nothing shut down cleanly; `npm start` is started again on the
 * same state and the job runs once, not before its time, through its Job object's alarm (kept on disk). A loopback
 * receiver records when each call arrived.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStatus } from "../../src/jobs/types.ts";
import { type NpmStart, npmStart, stopGroup } from "./support/npm-start.ts";
import { until } from "./support/until.ts";

// The dev token `npm start` passes (scripts/lib/dev-vars.ts).
const AUTH = { authorization: "Bearer edgeloop-dev-token", "content-type": "application/json" };

let state: string;
let receiver: Server;
let receiverUrl: string;
const arrivals: { path: string; at: number }[] = [];
let running: NpmStart | undefined;

/** `npm start` on the test's state, allowed to call the receiver. */
const start = () => npmStart({ persistTo: state, args: ["--var", `FANOUT_ALLOW_HOSTS:${new URL(receiverUrl).host}`] });

beforeAll(async () => {
  state = mkdtempSync(join(tmpdir(), "edgeloop-restart-"));
  receiver = createServer((req, res) => {
    arrivals.push({ path: req.url ?? "", at: Date.now() });
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (running) await stopGroup(running, "SIGTERM");
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  rmSync(state, { recursive: true, force: true });
});

describe("a delayed job across a kill -9 of npm start", () => {
  it("runs once, not before its time, after the service is killed while it waits and started again", async () => {
    running = await start();
    const run = crypto.randomUUID();
    const res = await fetch(`${running.url}/v1/jobs`, {
      method: "POST",
      headers: { ...AUTH, "idempotency-key": `restart-${run}` },
      body: JSON.stringify({ type: "fanout", requests: [{ url: `${receiverUrl}/${run}` }], delayMs: 8_000 }),
    });
    expect(res.status).toBe(202);
    const { id, state: created } = (await res.json()) as { id: string; state: string };
    expect(created).toBe("scheduled");
    const status = (await (await fetch(`${running.url}/v1/jobs/${id}`, { headers: AUTH })).json()) as JobStatus;
    const runAt = Date.parse(status.runAt ?? "");

    // kill -9 of the whole process group: nothing gets to shut down, flush or say goodbye.
    await stopGroup(running, "SIGKILL");
    expect(arrivals.filter((a) => a.path === `/${run}`)).toEqual([]);

    running = await start();
    const after = (await (await fetch(`${running.url}/v1/jobs/${id}`, { headers: AUTH })).json()) as JobStatus;
    // Its state outlived the process: still waiting (or already started, if the restart took past its time).
    expect(after).toMatchObject({ id, runAt: status.runAt });
    let final: JobStatus | undefined;
    await until(
      async () => {
        final = (await (await fetch(`${running?.url}/v1/jobs/${id}`, { headers: AUTH })).json()) as JobStatus;
        return final.state === "succeeded" || final.state === "failed";
      },
      `job ${id} to run after the restart`,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(final).toMatchObject({ state: "succeeded", done: 1, attempts: 1 });
    const calls = arrivals.filter((a) => a.path === `/${run}`);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.at).toBeGreaterThanOrEqual(runAt);
    const listed = (await (await fetch(`${running.url}/v1/jobs?state=succeeded`, { headers: AUTH })).json()) as {
      items: { id: string }[];
    };
    expect(listed.items.map((j) => j.id)).toContain(id);
  }, 240_000);
});
