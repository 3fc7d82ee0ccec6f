/**
 * /v1/tokens and what a scoped token may do: the secret answered once and only its hash stored; scopes and names
 * refused with 403 naming them; the token routes the root token's alone; revocation (at once in the isolate that
 * revoked, within TOKENS_CACHE_SECONDS elsewhere), rotation with a grace period, expiry, the token's own rate limit,
 * TOKENS_MAX, retention, the coarse lastUsedAt, and the secrets' check sparing the Tokens object made-up secrets.
 * Time is the test's: `vi.setSystemTime` moves the clock of the worker and of its objects (one isolate).
 */
import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import { BASE, call, unique, until } from "../helpers/api";
import { as, bearer, mint } from "../helpers/tokens";

const tokensObject = () => env.TOKENS.getByName("tokens");

const sha256Hex = async (text: string) =>
  Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");

/** The clock of the worker and its objects, moved by the test (Date only: timers and I/O run as usual). */
function clock() {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now());
  return { advance: (ms: number) => vi.setSystemTime(Date.now() + ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("creating and reading tokens", () => {
  it("answers the secret once; lists and reads the token without it; stores only the secret's SHA-256", async () => {
    const made = await call<Record<string, unknown>>("POST", "/v1/tokens", {
      name: "orders service",
      scopes: ["counters:*", "locks:write"],
      names: { "*": ["orders-*"] },
      namespace: "acme",
      expiresInSeconds: 3_600,
      rate: { limit: 50, periodMs: 1_000 },
    });
    expect(made.status).toBe(201);
    const { token: secret, id } = made.body as { token: string; id: string };
    expect(secret).toMatch(/^elk_[A-Za-z0-9_-]{65}$/);
    expect(id).toMatch(/^tok_[0-9a-f]{24}$/);
    expect(made.body).toMatchObject({
      name: "orders service",
      state: "active",
      scopes: ["counters:*", "locks:write"],
      names: { "*": ["orders-*"] },
      namespace: "acme",
      rate: { limit: 50, periodMs: 1_000 },
      lastUsedAt: null,
    });
    const expiresAt = Date.parse(made.body.expiresAt as string) - Date.parse(made.body.createdAt as string);
    expect(expiresAt).toBe(3_600_000);

    const one = await call("GET", `/v1/tokens/${id}`);
    expect(one.status).toBe(200);
    const { token: _, ...shown } = made.body;
    expect(one.body).toEqual(shown);
    const list = await call<{ tokens: Record<string, unknown>[] }>("GET", "/v1/tokens");
    expect(list.body.tokens.find((t) => t.id === id)).toEqual(shown);
    expect(JSON.stringify(list.body)).not.toContain(secret);

    const stored = await runInDurableObject(tokensObject(), (_, state) =>
      state.storage.sql.exec("SELECT * FROM tokens WHERE id = ?", id).toArray(),
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]?.hash).toBe(await sha256Hex(secret));
    expect(JSON.stringify(stored)).not.toContain(secret.slice(4, 40));
  });

  it("refuses scopes and name families no route declares, and the root token's own scope (400, nothing stored)", async () => {
    const before = (await call<{ tokens: unknown[] }>("GET", "/v1/tokens")).body.tokens.length;
    for (const body of [
      { name: "t", scopes: ["counter:write"] },
      { name: "t", scopes: ["tokens"] },
      { name: "t", scopes: ["counters:delete"] },
      { name: "t", scopes: ["*"], names: { fanout: ["a-*"] } },
    ]) {
      const res = await call("POST", "/v1/tokens", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.type).toBe("urn:edgeloop:problem:invalid-request");
    }
    expect((await call<{ tokens: unknown[] }>("GET", "/v1/tokens")).body.tokens).toHaveLength(before);
  });

  it("answers 404 for a token that does not exist", async () => {
    for (const [method, path, body] of [
      ["GET", "/v1/tokens/tok_000000000000000000000000"],
      ["DELETE", "/v1/tokens/tok_000000000000000000000000"],
      ["POST", "/v1/tokens/tok_000000000000000000000000/rotate", { graceSeconds: 1 }],
    ] as const) {
      const res = await call(method, path, body);
      expect(res.status).toBe(404);
      expect(res.body.type).toBe("urn:edgeloop:problem:token-not-found");
    }
  });
});

describe("what a scoped token may do", () => {
  it("opens the routes its scopes grant; any other is 403 scope-missing naming the scope, and changes nothing", async () => {
    const name = unique("c");
    const reader = await mint({ scopes: ["counters:read"] });
    expect((await reader.call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });
    const refused = await reader.call("POST", `/v1/counters/${name}/increment`, { by: 5 });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.body).toMatchObject({
      type: "urn:edgeloop:problem:scope-missing",
      status: 403,
      scope: "counters:write",
    });
    expect(refused.body.detail).toContain("counters:write");
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });

    const writer = await mint({ scopes: ["counters:*"] });
    expect((await writer.call("POST", `/v1/counters/${name}/increment`, { by: 5 })).body).toMatchObject({ value: 5 });
    const allReaders = await mint({ scopes: ["*:read"] });
    expect((await allReaders.call("GET", `/v1/locks/${name}`)).status).toBe(200);
    expect((await allReaders.call("POST", `/v1/counters/${name}/increment`, { by: 1 })).status).toBe(403);
  });

  it("uses only the names its patterns allow (per family, `*` for the rest): 403 name-refused names the name", async () => {
    const token = await mint({ scopes: ["*"], names: { counters: ["orders-*"], "*": ["shared"] } });
    const ok = await token.call("POST", "/v1/counters/orders-7/increment", { by: 1 });
    expect(ok.status).toBe(200);
    const other = await token.call("POST", "/v1/counters/billing-7/increment", { by: 1 });
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({
      type: "urn:edgeloop:problem:name-refused",
      name: "billing-7",
      family: "counters",
    });
    expect((await call("GET", "/v1/counters/billing-7")).body).toMatchObject({ value: 0 });
    // Locks have no patterns of their own: the `*` entry's apply.
    expect((await token.call("GET", "/v1/locks/shared")).status).toBe(200);
    expect((await token.call("GET", "/v1/locks/orders-7")).status).toBe(403);
    // Families without names (fan-out, jobs) are not restricted by them.
    expect((await token.call("GET", "/v1/jobs/0123456789abcdef0123456789abcdef")).status).toBe(404);
  });

  it("never opens the token routes, even with `*`: they are the root token's", async () => {
    const everything = await mint({ scopes: ["*"] });
    for (const [method, path, body] of [
      ["GET", "/v1/tokens"],
      ["POST", "/v1/tokens", { name: "escalate", scopes: ["*"] }],
      ["GET", `/v1/tokens/${everything.id}`],
      ["POST", `/v1/tokens/${everything.id}/rotate`, { graceSeconds: 0 }],
      ["DELETE", `/v1/tokens/${everything.id}`],
    ] as const) {
      const res = await everything.call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body).toMatchObject({ type: "urn:edgeloop:problem:scope-missing", scope: "tokens" });
    }
    expect((await call("GET", `/v1/tokens/${everything.id}`)).body).toMatchObject({ state: "active" });
  });

  it("is limited by its own rate, under its id: a rotation keeps the count", async () => {
    const token = await mint({ scopes: ["counters:read"], rate: { limit: 2, periodMs: 60_000 } });
    const name = unique("c");
    const first = await token.call("GET", `/v1/counters/${name}`);
    expect(first.headers.get("ratelimit-limit")).toBe("2");
    const rotated = await call<{ token: string }>("POST", `/v1/tokens/${token.id}/rotate`, { graceSeconds: 0 });
    expect((await as(rotated.body.token)("GET", `/v1/counters/${name}`)).status).toBe(200);
    const refused = await as(rotated.body.token)("GET", `/v1/counters/${name}`);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ type: "urn:edgeloop:problem:rate-limited", limit: "rate" });
    // The root token's budget is its own.
    expect((await call("GET", `/v1/counters/${name}`)).status).toBe(200);
  });
});

describe("the root token in a namespace", () => {
  it("acts in the namespace Edgeloop-Namespace names; a scoped token may name only its own; a bad one is 400", async () => {
    const name = unique("c");
    const tenant = await mint({ scopes: ["counters:*"], namespace: "ns-a" });
    await tenant.call("POST", `/v1/counters/${name}/increment`, { by: 3 });
    const inA = { "edgeloop-namespace": "ns-a" };
    expect((await call("GET", `/v1/counters/${name}`, undefined, { headers: inA })).body).toMatchObject({ value: 3 });
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });
    expect((await tenant.call("GET", `/v1/counters/${name}`, undefined, inA)).body).toMatchObject({ value: 3 });
    const elsewhere = await tenant.call("GET", `/v1/counters/${name}`, undefined, { "edgeloop-namespace": "ns-b" });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.type).toBe("urn:edgeloop:problem:namespace-refused");
    const bad = await call("GET", `/v1/counters/${name}`, undefined, { headers: { "edgeloop-namespace": "a/b" } });
    expect(bad.status).toBe(400);
  });
});

describe("revocation, rotation and expiry", () => {
  it("refuses a revoked token at once in the isolate that revoked it", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    const revoked = await call("DELETE", `/v1/tokens/${token.id}`);
    expect(revoked.body).toMatchObject({ state: "revoked", revokedAt: expect.any(String) });
    const refused = await token.call("GET", `/v1/counters/${unique("c")}`);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({
      type: "urn:edgeloop:problem:unauthorized",
      detail: "The bearer token was revoked.",
    });
    expect(refused.headers.get("www-authenticate")).toContain("invalid_token");
    // Again: harmless, the same record.
    expect((await call("DELETE", `/v1/tokens/${token.id}`)).body).toEqual(revoked.body);
  });

  it("refuses a token revoked elsewhere within TOKENS_CACHE_SECONDS, and serves it from the cache until then", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    const { advance } = clock();
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    // Another isolate revokes it: the object knows, this isolate's cache does not yet.
    await tokensObject().revoke(token.id);
    advance(29_000);
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(1_000);
    const refused = await token.call("GET", `/v1/counters/${unique("c")}`);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toBe("The bearer token was revoked.");
  });

  it("keeps a rotated token's old secret working for its grace period, and not a moment after", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    const { advance } = clock();
    const rotated = await call<{ token: string; previousValidUntil: string; rotatedAt: string }>(
      "POST",
      `/v1/tokens/${token.id}/rotate`,
      { graceSeconds: 600 },
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.token).not.toBe(token.secret);
    expect(Date.parse(rotated.body.previousValidUntil) - Date.parse(rotated.body.rotatedAt)).toBe(600_000);
    const fresh = as(rotated.body.token);
    expect((await fresh("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(599_000);
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(1_000);
    const refused = await token.call("GET", `/v1/counters/${unique("c")}`);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toContain("rotated");
    expect((await fresh("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    // A second rotation ends the first one's grace at once: one previous secret at most.
    const again = await call<{ token: string }>("POST", `/v1/tokens/${token.id}/rotate`, { graceSeconds: 600 });
    expect((await fresh("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(600_000);
    expect((await fresh("GET", `/v1/counters/${unique("c")}`)).status).toBe(401);
    expect((await as(again.body.token)("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
  });

  it("refuses graceSeconds above TOKENS_MAX_GRACE_SECONDS, and rotating a revoked token", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    const tooLong = await call("POST", `/v1/tokens/${token.id}/rotate`, { graceSeconds: 604_801 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ limit: "TOKENS_MAX_GRACE_SECONDS", max: 604_800 });
    await call("DELETE", `/v1/tokens/${token.id}`);
    const revoked = await call("POST", `/v1/tokens/${token.id}/rotate`, { graceSeconds: 0 });
    expect(revoked.status).toBe(409);
    expect(revoked.body.type).toBe("urn:edgeloop:problem:token-revoked");
  });

  it("refuses an expired token, and lists it as expired", async () => {
    const { advance } = clock();
    const token = await mint({ scopes: ["counters:read"], expiresInSeconds: 60 });
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(59_999);
    expect((await token.call("GET", `/v1/counters/${unique("c")}`)).status).toBe(200);
    advance(1);
    const refused = await token.call("GET", `/v1/counters/${unique("c")}`);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/^The bearer token expired at \d{4}-/);
    expect((await call("GET", `/v1/tokens/${token.id}`)).body).toMatchObject({ state: "expired" });
  });
});

describe("bounds and retention", () => {
  it("stores at most TOKENS_MAX: past it 409 naming it; revoked tokens give way to new ones", async () => {
    const limited = { ...env, TOKENS_MAX: "2" };
    const create = async () => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`${BASE}/v1/tokens`, {
          method: "POST",
          headers: { ...bearer("test-token"), "content-type": "application/json" },
          body: JSON.stringify({ name: "bounded", scopes: ["fanout"] }),
        }),
        limited,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: await res.json<Record<string, unknown>>() };
    };
    // The tokens of this file's earlier tests fill it: revoke all of them first.
    const { tokens } = (await call<{ tokens: { id: string }[] }>("GET", "/v1/tokens")).body;
    for (const t of tokens) await call("DELETE", `/v1/tokens/${t.id}`);
    const first = await create();
    const second = await create();
    expect([first.status, second.status]).toEqual([201, 201]);
    const full = await create();
    expect(full.status).toBe(409);
    expect(full.body).toMatchObject({ type: "urn:edgeloop:problem:tokens-full", limit: "TOKENS_MAX", max: 2 });
    const listed = (await call<{ tokens: { id: string; state: string }[] }>("GET", "/v1/tokens")).body.tokens;
    expect(listed.map((t) => t.id)).toEqual([first.body.id, second.body.id]);
    await call("DELETE", `/v1/tokens/${first.body.id}`);
    const third = await create();
    expect(third.status).toBe(201);
    const after = (await call<{ tokens: { id: string }[] }>("GET", "/v1/tokens")).body.tokens;
    expect(after.map((t) => t.id)).toEqual([second.body.id, third.body.id]);
  });

  it("holds TOKENS_MAX under 20 concurrent creations", async () => {
    const { tokens } = (await call<{ tokens: { id: string }[] }>("GET", "/v1/tokens")).body;
    const stub = tokensObject();
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stub.create({ name: `c${i}`, scopes: ["fanout"] }, tokens.length + 5)),
    );
    expect(made.filter((m) => m !== null)).toHaveLength(5);
    expect((await stub.list()).length).toBe(tokens.length + 5);
  });

  it("deletes a revoked or expired token's record TOKENS_RETENTION_DAYS after, by alarm", async () => {
    const revoked = await mint({ scopes: ["fanout"] });
    const expiring = await mint({ scopes: ["fanout"], expiresInSeconds: 1 });
    const live = await mint({ scopes: ["fanout"] });
    await call("DELETE", `/v1/tokens/${revoked.id}`);
    const { advance } = clock();
    const ids = async () =>
      (await call<{ tokens: { id: string }[] }>("GET", "/v1/tokens")).body.tokens.map((t) => t.id);
    advance(30 * 86_400_000 - 60_000);
    await runDurableObjectAlarm(tokensObject());
    expect(await ids()).toEqual(expect.arrayContaining([revoked.id, expiring.id, live.id]));
    advance(120_000);
    await runDurableObjectAlarm(tokensObject());
    const left = await ids();
    expect(left).toContain(live.id);
    expect(left).not.toContain(revoked.id);
    expect(left).not.toContain(expiring.id);
    expect((await revoked.call("GET", "/v1/counters/x")).status).toBe(401);
  });
});

describe("cost", () => {
  it("notes lastUsedAt at most once per five minutes per token and isolate, after the answer", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    const { advance } = clock();
    const usedAt = async () => (await call("GET", `/v1/tokens/${token.id}`)).body.lastUsedAt as string | null;
    const t0 = Date.now();
    await token.call("GET", `/v1/counters/${unique("c")}`);
    await until(async () => (await usedAt()) !== null);
    expect(await usedAt()).toBe(new Date(t0).toISOString());
    advance(299_000);
    await token.call("GET", `/v1/counters/${unique("c")}`);
    await token.call("GET", `/v1/counters/${unique("c")}`);
    expect(await usedAt()).toBe(new Date(t0).toISOString());
    advance(1_000);
    const t1 = Date.now();
    await token.call("GET", `/v1/counters/${unique("c")}`);
    await until(async () => (await usedAt()) === new Date(t1).toISOString());
  });

  it("asks the Tokens object once per TOKENS_CACHE_SECONDS per token, and never for a made-up secret once it knows the key", async () => {
    const token = await mint({ scopes: ["counters:read"] });
    const { advance } = clock();
    advance(31_000); // whatever this isolate kept has gone stale
    let lookups = 0;
    const counted = {
      ...env,
      TOKENS: {
        getByName: (name: string) => {
          const stub = env.TOKENS.getByName(name);
          return {
            lookup: (hash: string) => {
              lookups++;
              return stub.lookup(hash);
            },
            touch: (id: string, at: number) => stub.touch(id, at),
          };
        },
      },
    } as unknown as Env;
    const send = async (secret: string) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`${BASE}/v1/counters/${unique("c")}`, { headers: bearer(secret) }),
        counted,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res.status;
    };
    expect(await send(token.secret)).toBe(200);
    expect(await send(token.secret)).toBe(200);
    expect(lookups).toBe(1);
    // Made-up secrets of the right shape, and one with a digit of the check changed.
    const forged = `elk_${"A".repeat(65)}`;
    const altered = `${token.secret.slice(0, -1)}${token.secret.endsWith("A") ? "B" : "A"}`;
    expect([await send(forged), await send(altered), await send("elk_short")]).toEqual([401, 401, 401]);
    expect(lookups).toBe(1);
    advance(30_000);
    expect(await send(token.secret)).toBe(200);
    expect(lookups).toBe(2);
  });
});
