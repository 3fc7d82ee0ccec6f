/**
 * The access sweep, generated from the route table (the served OpenAPI document and the router), so that a route
 * mounted later is swept as soon as it exists, and one that declares no scope fails here (and stops the app from
 * being built at all):
 *  - every /v1 operation declares the scope it needs (or is listed with what guards it instead), every path
 *    parameter of a scoped operation is the name the token's patterns check (or listed as an id), and the router
 *    serves nothing under /v1 that the document does not declare;
 *  - for every scoped operation, a token holding every other scope gets 403 `scope-missing` naming the scope for its
 *    valid request, and nothing changes (no object, no upstream call, no token); a token holding just that scope
 *    gets past; a token whose patterns refuse the name gets 403 `name-refused` naming it, and nothing changes;
 *  - for every scoped operation, a token of tenant A, sending its valid request under a name, is never answered 5xx
 *    (a route that forgot objectName fails on its confined bindings), creates no object under the plain name, and
 *    leaves the name's state as tenant B and the root token read it exactly as if untouched.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createRoute, z } from "@hono/zod-openapi";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { app } from "../../functions/index";
import { createApp } from "../../src/http/app";
import { jobIdFor } from "../../src/jobs/ids";
import { call } from "../helpers/api";
import { freshParam, type Operation, operations, opName, readerOf, send, validRequest } from "../helpers/operations";
import { bearer, mint } from "../helpers/tokens";

const UPSTREAM = inject("upstream");
const ops = await operations();
const v1 = ops.filter((op) => op.path.startsWith("/v1/"));
const scoped = v1.filter((op) => op.scope !== undefined);
const scopes = [...new Set(scoped.map((op) => op.scope as string))].sort();

/** /v1 operations the bearer token does not guard, each with what does. */
const GUARDED_OTHERWISE: Record<string, string> = {
  "GET /v1/rooms/{room}/ws":
    "the WebSocket upgrade: its signed ticket, which carries the namespace the room is looked up in",
};

/** Path parameters of scoped operations that are ids, not names: what keeps a tenant to its own. */
const IDS: Record<string, string> = {
  "jobs id": "a job answers only its owner (and the root token): another tenant's id is 404",
  "tokens id": "the token routes are the root token's alone",
};

const canary = (key: string) => `${UPSTREAM}/r?key=${key}`;
const upstreamHits = async (key: string) =>
  (await (await fetch(`${UPSTREAM}/__stats?key=${encodeURIComponent(key)}`)).json<{ hits: number }>()).hits;

/** Every Durable Object namespace bound to the worker. */
const namespaces = Object.entries(env).filter(
  (entry): entry is [string, DurableObjectNamespace] =>
    typeof entry[1] === "object" && entry[1]?.constructor.name === "DurableObjectNamespace",
);

/** Objects that exist under any of `names` (raw, as a rate-limit key, as a shard) or `jobIds`. */
async function objectsUnder(names: string[], jobIds: string[] = []): Promise<string[]> {
  const found: string[] = [];
  for (const [binding, ns] of namespaces) {
    const existing = new Set((await listDurableObjectIds(ns)).map((id) => id.toString()));
    const candidates = names.flatMap((n) => [n, `user:${n}`, `${n}#1`]).concat(binding === "JOB" ? jobIds : []);
    for (const name of candidates) if (existing.has(ns.idFromName(name).toString())) found.push(`${binding}:${name}`);
  }
  return found;
}

const tokenIds = async () =>
  (await call<{ tokens: { id: string; revokedAt?: string; rotatedAt?: string }[] }>("GET", "/v1/tokens")).body.tokens
    .map((t) => `${t.id} ${t.revokedAt} ${t.rotatedAt}`)
    .sort();

/** What a read answers, with the names it was asked for and the times it carries made neutral. */
async function read(reader: Operation, params: Record<string, string>, headers: Record<string, string>) {
  const { status, body } = await send({ path: validRequest(reader, UPSTREAM, {}, params).path, init: { headers } });
  const text = Object.values(params).reduce((s, v) => s.replaceAll(v, "<name>"), JSON.stringify(body));
  return { status, body: text.replace(/"(updatedAt|createdAt|expiresAt)":("[^"]*"|\d+)/g, '"$1":"<time>"') };
}

describe("the route table declares every route's access", () => {
  it("finds the families' operations in the document", () => {
    const families = new Set(scoped.map((op) => op.scope?.split(":")[0]));
    for (const f of ["counters", "locks", "semaphores", "ratelimits", "rooms", "fanout", "pages", "jobs", "tokens"]) {
      expect(families).toContain(f);
    }
  });

  it("gives every /v1 operation a scope, but the ones listed with what guards them instead", () => {
    const unscoped = v1.filter((op) => op.scope === undefined).map(opName);
    expect(unscoped.sort()).toEqual(Object.keys(GUARDED_OTHERWISE).sort());
  });

  it("checks every path parameter of a scoped operation against the token's names, but the ids listed", () => {
    const unchecked = scoped.flatMap((op) =>
      op.pathParams
        .filter((p) => p.name !== op.nameParam)
        .map((p) => `${op.scope?.split(":")[0]} ${p.name}`)
        .filter((key) => !(key in IDS)),
    );
    expect(unchecked).toEqual([]);
    // And a name parameter is a path parameter.
    for (const op of scoped.filter((o) => o.nameParam))
      expect(op.pathParams.map((p) => p.name)).toContain(op.nameParam);
  });

  it("serves nothing under /v1 that the document does not declare", () => {
    const documented = new Set(ops.map((op) => `${op.method} ${op.path.replace(/\{(\w+)\}/g, ":$1")}`));
    const served = app.routes
      .filter((r) => r.path.startsWith("/v1/") && !r.path.endsWith("*"))
      .map((r) => `${r.method} ${r.path}`);
    // The rooms upgrade answers other methods itself with 405 (mounted before the bearer auth).
    const undeclared = [...new Set(served)].filter((r) => !documented.has(r) && r !== "ALL /v1/rooms/:room/ws");
    expect(served.length).toBeGreaterThan(scoped.length);
    expect(undeclared).toEqual([]);
  });

  it("refuses to build an app with a route that declares no scope, naming what to add", () => {
    const undeclared = createRoute({
      method: "post",
      path: "/{name}/fire",
      operationId: "fireSchedule",
      request: { params: z.object({ name: z.string() }) },
      responses: { 200: { description: "Fired" } },
    });
    expect(() => createApp().openapi(undeclared, (c) => c.json({}, 200))).toThrow(
      /POST \/\{name\}\/fire \(fireSchedule\) declares no scope: spread scope\(/,
    );
    const two = { ...undeclared, security: [{ bearer: ["a:read", "a:write"] }] };
    expect(() => createApp().openapi(two, (c) => c.json({}, 200))).toThrow(/exactly one bearer scope/);
  });
});

describe("a token without the route's scope", () => {
  for (const op of scoped) {
    it(`${opName(op)} (${op.scope}): 403 scope-missing for every other scope, nothing changed; its own scope gets past`, async () => {
      const required = op.scope as string;
      const others = await mint({ scopes: scopes.filter((s) => s !== required && s !== "tokens") });
      const key = `scope-${crypto.randomUUID()}`;
      const before = await tokenIds();
      const request = validRequest(op, canary(key), bearer(others.secret));
      const refused = await send(request);
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(refused.body).toMatchObject({ type: "urn:edgeloop:problem:scope-missing", scope: required });
      expect(refused.body.detail).toContain(required);
      // Nothing changed: no object for its names or its job key, no upstream call, no token.
      const jobIds = await Promise.all(request.headerValues.map((k) => jobIdFor(`token:${others.id}`, k)));
      expect(await objectsUnder(Object.values(request.params), jobIds)).toEqual([]);
      expect(await upstreamHits(key)).toBe(0);
      expect(await tokenIds()).toEqual(before);

      if (required === "tokens") {
        // The root token's alone: not even `*` opens it.
        const everything = await mint({ scopes: ["*"] });
        expect((await send(validRequest(op, canary(key), bearer(everything.secret)))).status).toBe(403);
        return;
      }
      const exactly = await mint({ scopes: [required] });
      // Without a body: past the scope check, it is refused by validation (or served, for reads), never 403.
      const past = await send({ path: request.path, init: { method: op.method, headers: bearer(exactly.secret) } });
      expect(past.status, JSON.stringify(past.body)).not.toBe(403);
      expect(past.status).toBeLessThan(500);
    });
  }
});

describe("a token whose names do not include the route's name", () => {
  for (const op of scoped.filter((o) => o.nameParam)) {
    it(`${opName(op)}: 403 name-refused naming the name, nothing changed; a name its patterns match gets past`, async () => {
      const family = (op.scope as string).split(":")[0] as string;
      const token = await mint({ scopes: [op.scope as string], names: { [family]: ["allowed-*"] } });
      const param = op.nameParam as string;
      const pattern = op.pathParams.find((p) => p.name === param)?.pattern;
      const refusedName = freshParam(pattern, "refused-");
      const key = `names-${crypto.randomUUID()}`;
      const request = validRequest(op, canary(key), bearer(token.secret), { [param]: refusedName });
      const refused = await send(request);
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(refused.body).toMatchObject({ type: "urn:edgeloop:problem:name-refused", name: refusedName, family });
      expect(await objectsUnder(Object.values(request.params))).toEqual([]);
      expect(await upstreamHits(key)).toBe(0);
      const allowed = validRequest(op, canary(key), bearer(token.secret), { [param]: freshParam(pattern, "allowed-") });
      const past = await send({ path: allowed.path, init: { method: op.method, headers: bearer(token.secret) } });
      expect(past.status, JSON.stringify(past.body)).not.toBe(403);
    });
  }
});

describe("tenants: a token of one namespace never reaches another's state, nor the plain names", () => {
  let a: Awaited<ReturnType<typeof mint>>;
  let b: Awaited<ReturnType<typeof mint>>;
  beforeAll(async () => {
    a = await mint({ scopes: ["*"], namespace: `tenant-a-${crypto.randomUUID()}` });
    b = await mint({ scopes: ["*"], namespace: `tenant-b-${crypto.randomUUID()}` });
  });

  for (const op of scoped.filter((o) => o.scope !== "tokens")) {
    it(`${opName(op)}: tenant A's valid request is served in A's namespace; B and the root token read the name untouched`, async () => {
      const key = `tenant-${crypto.randomUUID()}`;
      const request = validRequest(op, canary(key), bearer(a.secret));
      const answer = await send(request);
      // Never a 5xx: a route that addressed a plain name would trip its confined bindings.
      expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
      expect([401, 403]).not.toContain(answer.status);
      const names = Object.entries(request.params)
        .filter(([param]) => param === op.nameParam)
        .map(([, value]) => value);
      expect(await objectsUnder(names)).toEqual([]);
      const reader = readerOf(op, scoped);
      if (!reader || !op.nameParam) return;
      const untouched = { [reader.nameParam as string]: freshParam(undefined) };
      const same = { [reader.nameParam as string]: request.params[op.nameParam] as string };
      expect(await read(reader, same, bearer(b.secret))).toEqual(await read(reader, untouched, bearer(b.secret)));
      expect(await read(reader, same, bearer("test-token"))).toEqual(
        await read(reader, untouched, bearer("test-token")),
      );
    });
  }
});
