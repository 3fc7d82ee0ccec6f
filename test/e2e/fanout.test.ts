import { describe, expect, it } from "vitest";
import { startUpstream } from "../../bench/lib/upstream.ts";
import { FrameReader } from "../helpers/frames.ts";
import { useUpstream } from "./support/upstream.ts";
import { useWorker } from "./support/worker.ts";

const upstream = useUpstream(startUpstream);

// Registered after the upstream's hooks: started after it, stopped before it (after-hooks run in reverse).
const worker = useWorker({ FANOUT_ALLOW_HOSTS: "127.0.0.1" });

const call = (body: unknown, accept = "application/json") =>
  worker.api("/v1/fanout", { method: "POST", headers: { accept }, json: body });

describe("POST /v1/fanout in the built bundle over real HTTP", () => {
  it("fans out to a loopback upstream and answers in request order", async () => {
    const key = crypto.randomUUID();
    const gate = crypto.randomUUID();
    const pending = call({
      concurrency: 2,
      requests: Array.from({ length: 5 }, (_, i) => ({
        id: `r${i}`,
        url: `${upstream.url}/r?key=${key}&gate=${gate}`,
      })),
    });
    // Held at a gate until two calls are in flight at once.
    try {
      const held = await fetch(`${upstream.url}/__gates/${gate}?waiting=2`);
      expect(await held.json()).toMatchObject({ waiting: 2 });
    } finally {
      upstream.openGate(gate);
    }
    const res = await pending;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Array<{ id: string; status: number }>; summary: unknown };
    expect(body.results.map((r) => [r.id, r.status])).toEqual([0, 1, 2, 3, 4].map((i) => [`r${i}`, 200]));
    expect(body.summary).toMatchObject({ fulfilled: 5, rejected: 0, concurrency: 2 });
    expect(upstream.stats(key)).toMatchObject({ hits: 5, maxInFlight: 2 });
  });

  it("streams NDJSON in completion order over a real socket", async () => {
    const gate = crypto.randomUUID();
    try {
      const res = await call(
        { requests: [{ url: `${upstream.url}/r?gate=${gate}` }, { url: `${upstream.url}/r` }] },
        "application/x-ndjson",
      );
      expect(res.headers.get("content-type")).toBe("application/x-ndjson");
      const frames = new FrameReader(res.body as ReadableStream<Uint8Array>);
      const first = JSON.parse((await frames.next()) as string);
      // The first request is still held at its gate: the second's line came first.
      expect(upstream.openGate(gate)).toBe(1);
      const lines = [first, ...(await frames.rest()).map((l) => JSON.parse(l))];
      expect(lines.map((l) => l.index)).toEqual([1, 0, undefined]);
      expect(lines[2]).toMatchObject({ summary: { fulfilled: 2, rejected: 0 } });
    } finally {
      upstream.openGate(gate);
    }
  });

  it("blocks a loopback spelling that is not on the allowlist, without a connection", async () => {
    const key = crypto.randomUUID();
    const res = await call({ requests: [{ url: `http://localhost:${upstream.port}/r?key=${key}` }] });
    const body = (await res.json()) as { results: Array<{ error: { kind: string } }> };
    expect(body.results[0]?.error.kind).toBe("blocked");
    expect(upstream.stats(key).hits).toBe(0);
  });
});
