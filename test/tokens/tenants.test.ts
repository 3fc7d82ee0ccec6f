/**
 * Tenants beyond what the generated sweep reads back: jobs belong to their tenant (another's id is 404, never 403,
 * for every call; the same Idempotency-Key is another job; the root token sees all, and acts as the tenant with
 * Edgeloop-Namespace), a job's progress goes to its namespace's room; tickets carry the namespace and the minting
 * token, and a socket joins its namespace's room only; a lock's fence proves nothing in another namespace; and no
 * name can spell another namespace's.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RoomMessage } from "../../src/rooms/protocol";
import { call, unique } from "../helpers/api";
import { RoomSocket } from "../helpers/room-socket";
import { type Minted, mint } from "../helpers/tokens";
import { UPSTREAM } from "../helpers/upstream";

let a: Minted;
let b: Minted;
let nsA: string;
let loner: Minted;

beforeAll(async () => {
  nsA = unique("ns-a");
  a = await mint({ scopes: ["*"], namespace: nsA });
  b = await mint({ scopes: ["*"], namespace: unique("ns-b") });
  loner = await mint({ scopes: ["*"] });
});

const job = { type: "fanout", requests: [{ url: `${UPSTREAM}/r?key=${crypto.randomUUID()}` }] };

async function ended(who: Minted, id: string) {
  return vi.waitFor(
    async () => {
      const { body } = await who.call<{ state: string }>("GET", `/v1/jobs/${id}`);
      if (body.state === "queued" || body.state === "running") throw new Error(`still ${body.state}`);
      return body;
    },
    { timeout: 20_000, interval: 100 },
  );
}

describe("jobs belong to their tenant", () => {
  it("answers another tenant 404 for every call on a job's id, and changes nothing; the root token sees it", async () => {
    const key = unique("key");
    const created = await a.call<{ id: string; room: string }>("POST", "/v1/jobs", job, { "idempotency-key": key });
    expect(created.status).toBe(202);
    const { id } = created.body;
    expect(created.body.room).toBe(`job:${id}`);
    for (const other of [b, loner]) {
      for (const [method, path] of [
        ["GET", `/v1/jobs/${id}`],
        ["GET", `/v1/jobs/${id}/results`],
        ["DELETE", `/v1/jobs/${id}`],
        ["POST", `/v1/jobs/${id}/retry`],
      ] as const) {
        const res = await other.call(method, path);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body).toMatchObject({ type: "urn:edgeloop:problem:job-not-found", detail: `No job with id ${id}.` });
      }
    }
    const status = await ended(a, id);
    expect(status.state).toBe("succeeded");
    expect((await call("GET", `/v1/jobs/${id}`)).body).toMatchObject({ id, state: "succeeded" });
    expect((await a.call<{ items: unknown[] }>("GET", `/v1/jobs/${id}/results`)).body.items).toHaveLength(1);
  });

  it("keeps idempotency keys per tenant: the same key is another tenant's own job, and the root token in the namespace replays the tenant's", async () => {
    const key = unique("key");
    const first = await a.call<{ id: string }>("POST", "/v1/jobs", job, { "idempotency-key": key });
    const other = await b.call<{ id: string }>("POST", "/v1/jobs", job, { "idempotency-key": key });
    const plain = await call<{ id: string }>("POST", "/v1/jobs", job, { headers: { "idempotency-key": key } });
    expect(new Set([first.body.id, other.body.id, plain.body.id]).size).toBe(3);
    const asTenant = await call<{ id: string }>("POST", "/v1/jobs", job, {
      headers: { "idempotency-key": key, "edgeloop-namespace": nsA },
    });
    expect(asTenant.status).toBe(202);
    expect(asTenant.body.id).toBe(first.body.id);
    expect(asTenant.headers.get("idempotent-replayed")).toBe("true");
  });

  it("publishes a job's progress into its namespace's room job:<id>, never the plain one", async () => {
    const created = await a.call<{ id: string }>("POST", "/v1/jobs", job, { "idempotency-key": unique("key") });
    const { id } = created.body;
    await ended(a, id);
    await vi.waitFor(
      async () => {
        const { body } = await a.call<{ lastSeq: number }>("GET", `/v1/rooms/job:${id}`);
        expect(body.lastSeq).toBeGreaterThan(0);
      },
      { timeout: 5_000, interval: 50 },
    );
    const rooms = new Set((await listDurableObjectIds(env.ROOM)).map((x) => x.toString()));
    expect(rooms.has(env.ROOM.idFromName(`${nsA}/job:${id}`).toString())).toBe(true);
    expect(rooms.has(env.ROOM.idFromName(`job:${id}`).toString())).toBe(false);
    expect((await b.call("GET", `/v1/rooms/job:${id}`)).body).toMatchObject({ lastSeq: 0 });
  });
});

describe("rooms belong to their tenant", () => {
  it("signs the namespace and the minting token into a ticket; its socket joins that namespace's room only", async () => {
    const room = unique("room");
    const ticketA = await a.call<{ ticket: string }>("POST", `/v1/rooms/${room}/tickets`, { user: "ada" });
    const claims = JSON.parse(
      atob(ticketA.body.ticket.split(".")[0]?.replace(/-/g, "+").replace(/_/g, "/") ?? ""),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({ room, user: "ada", ns: nsA, by: a.id });
    const ticketB = await b.call<{ ticket: string }>("POST", `/v1/rooms/${room}/tickets`, { user: "bob" });
    using inA = await RoomSocket.open(room, ticketA.body.ticket);
    using inB = await RoomSocket.open(room, ticketB.body.ticket);
    await Promise.all([inA, inB].map((socket) => socket.next((f) => f.type === "welcome")));
    expect((await a.call("GET", `/v1/rooms/${room}`)).body).toMatchObject({ members: ["ada"], count: 1 });
    expect((await b.call("GET", `/v1/rooms/${room}`)).body).toMatchObject({ members: ["bob"], count: 1 });
    expect((await call("GET", `/v1/rooms/${room}`)).body).toMatchObject({ members: [], count: 0 });
    await b.call("POST", `/v1/rooms/${room}/messages`, { data: "for b" });
    await a.call("POST", `/v1/rooms/${room}/messages`, { data: "for a" });
    const isMessage = (f: { type: string }) => f.type === "message";
    const [toB] = await inB.all<RoomMessage & { type: "message" }>(isMessage, 1);
    const [toA] = await inA.all<RoomMessage & { type: "message" }>(isMessage, 1);
    expect(toB).toMatchObject({ data: "for b", server: true, seq: 1 });
    // A's room got its own message only, as its first.
    expect(toA).toMatchObject({ data: "for a", server: true, seq: 1 });
    expect(inA.frames.filter(isMessage)).toHaveLength(1);
  });
});

describe("rate limits belong to their tenant", () => {
  it("counts a key per namespace: A's spent budget is not B's, nor the plain key's", async () => {
    const key = unique("key");
    const take = (who: (m: string, p: string, body?: unknown) => Promise<{ body: Record<string, unknown> }>) =>
      who("POST", `/v1/ratelimits/${key}`, { limit: 1, periodMs: 60_000 });
    expect((await take(a.call)).body).toMatchObject({ key, allowed: true });
    expect((await take(a.call)).body).toMatchObject({ key, allowed: false });
    expect((await take(b.call)).body).toMatchObject({ key, allowed: true });
    expect((await take((m, p, body) => call(m, p, body))).body).toMatchObject({ key, allowed: true });
  });
});

describe("fences and names", () => {
  it("refuses a fence of another namespace's lock (or of the plain one) in a tenant's counter: 403 fence-invalid", async () => {
    const lock = unique("lock");
    const counter = unique("counter");
    const grant = (who: (m: string, p: string, body?: unknown) => Promise<{ body: Record<string, unknown> }>) =>
      who("POST", `/v1/locks/${lock}/acquire`, { owner: "w", ttlMs: 10_000 });
    const own = (await grant(a.call)).body.fence;
    const theirs = (await grant(b.call)).body.fence;
    const plain = (await grant((m, p, body) => call(m, p, body))).body.fence;
    expect(own).toMatchObject({ lock, token: 1 });
    expect(theirs).toMatchObject({ lock, token: 1 });
    expect(plain).toMatchObject({ lock, token: 1 });
    expect((await a.call("POST", `/v1/counters/${counter}/increment`, { by: 1, fence: own })).status).toBe(200);
    for (const fence of [theirs, plain]) {
      const res = await a.call("POST", `/v1/counters/${counter}/increment`, { by: 1, fence });
      expect(res.status).toBe(403);
      expect(res.body.type).toBe("urn:edgeloop:problem:fence-invalid");
    }
    expect((await a.call("GET", `/v1/counters/${counter}`)).body).toMatchObject({ value: 1 });
  });

  it("lets no name spell another namespace's: a slash, encoded or not, is refused before any object", async () => {
    const name = unique("c");
    await b.call("POST", `/v1/counters/${name}/increment`, { by: 1 });
    const nsB = (await call<{ namespace: string }>("GET", `/v1/tokens/${b.id}`)).body.namespace;
    for (const path of [`/v1/counters/${nsB}%2F${name}`, `/v1/counters/${nsB}/${name}`]) {
      const res = await a.call("GET", path);
      expect([400, 404]).toContain(res.status);
    }
    expect((await b.call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 1 });
  });
});
