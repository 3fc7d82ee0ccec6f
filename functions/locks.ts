/**
 * /v1/locks: leased locks with fencing tokens and FIFO long-poll waiters (asyncio.Lock for every client).
 * One Lock Durable Object per name; see src/locks/lock.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp, scope } from "../src/http/app";
import { checkLeaseBounds, tooManyWaiters, untilAnswered } from "../src/http/leases";
import { objectName } from "../src/http/principal";
import { problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import type { AcquireResult } from "../src/locks";
import {
  LockAcquireBody as AcquireBody,
  LockGrant as Grant,
  LockReleaseBody as ReleaseBody,
  LockReleased as Released,
  LockRenewBody as RenewBody,
  LockRenewed as Renewed,
  LockStatus as Status,
  signFence,
} from "../src/locks";
import { settings } from "../src/settings";

const Params = z.object({ name: Name });
const json = jsonBody;
const ok = jsonResponse;
const conflict = problemDoc("Conflict");

const route = routesOf("locks");

const acquire = createRoute({
  ...route("post", "/{name}/acquire", "acquireLock", "Acquire the lock, waiting in FIFO order up to waitMs"),
  ...scope("locks:write", "name"),
  request: { params: Params, body: json(AcquireBody, { owner: "worker-7", ttlMs: 10_000, waitMs: 5_000 }) },
  responses: {
    200: ok(Grant, "Granted: the token is a fencing token"),
    409: { ...conflict, description: "Still held when waitMs ran out ({waiters})" },
    503: { ...conflict, description: "Too many waiters (LEASE_MAX_WAITERS)" },
    ...problemDocs,
  },
});
const renewRoute = createRoute({
  ...route("post", "/{name}/renew", "renewLock", "Extend the lease"),
  ...scope("locks:write", "name"),
  request: { params: Params, body: json(RenewBody, { owner: "worker-7", token: 42, ttlMs: 10_000 }) },
  responses: { 200: ok(Renewed, "Renewed"), 409: conflict, ...problemDocs },
});
const releaseRoute = createRoute({
  ...route("post", "/{name}/release", "releaseLock", "Release the lock (the oldest waiter gets it)"),
  ...scope("locks:write", "name"),
  request: { params: Params, body: json(ReleaseBody, { owner: "worker-7", token: 42 }) },
  responses: { 200: ok(Released, "Released"), 409: conflict, ...problemDocs },
});
const statusRoute = createRoute({
  ...route("get", "/{name}", "getLock", "Holder, token, expiry and waiters"),
  ...scope("locks:read", "name"),
  request: { params: Params },
  responses: { 200: ok(Status, "The lock"), ...problemDocs },
});

export const locks = createApp()
  .openapi(acquire, async (c) => {
    const { name } = c.req.valid("param");
    const { owner, ttlMs, waitMs } = c.req.valid("json");
    checkLeaseBounds(c.env, ttlMs, waitMs);
    const stub = c.env.LOCK.getByName(objectName(c, name));
    const waiterId = crypto.randomUUID();
    const result = await untilAnswered<AcquireResult>(
      c,
      stub.acquire({ owner, ttlMs, waitMs, waiterId, maxWaiters: settings(c.env).LEASE_MAX_WAITERS }),
      () => stub.cancel(waiterId),
    );
    if (result.ok) {
      const { ok: _, ...grant } = result;
      const secret = c.env.FENCE_SECRET;
      if (!secret) return c.json({ name, ...grant }, 200);
      // Signed over the object's name: a fence of one namespace's lock proves nothing in another's.
      const sig = await signFence(secret, objectName(c, name), grant.token);
      const fence = { lock: name, token: grant.token, sig };
      return c.json({ name, ...grant, fence }, 200);
    }
    if (result.reason === "queue-full") {
      throw tooManyWaiters("Lock", name, result.waiters);
    }
    throw problem(409, `Lock ${name} is held${waitMs > 0 ? ` (waited ${waitMs} ms)` : ""}.`, {
      type: "lock-held",
      extensions: { waiters: result.waiters },
    });
  })
  .openapi(renewRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { owner, token, ttlMs } = c.req.valid("json");
    checkLeaseBounds(c.env, ttlMs);
    const result = await c.env.LOCK.getByName(objectName(c, name)).renew(owner, token, ttlMs);
    if (!result.ok) throw problem(409, `Cannot renew lock ${name}: ${result.detail}.`, { type: "lease-lost" });
    return c.json({ name, token, expiresAt: result.expiresAt }, 200);
  })
  .openapi(releaseRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { owner, token } = c.req.valid("json");
    const result = await c.env.LOCK.getByName(objectName(c, name)).release(owner, token);
    if (!result.ok) throw problem(409, `Cannot release lock ${name}: ${result.detail}.`, { type: "lease-lost" });
    return c.json({ name, released: result.released, releasedAt: result.releasedAt }, 200);
  })
  .openapi(statusRoute, async (c) => {
    const { name } = c.req.valid("param");
    return c.json({ name, ...(await c.env.LOCK.getByName(objectName(c, name)).status()) }, 200);
  });
