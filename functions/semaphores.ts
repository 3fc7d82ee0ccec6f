/**
 * /v1/semaphores: weighted, leased permits under a limit, with FIFO long-poll waiters (asyncio.Semaphore for every
 * client). One Semaphore Durable Object per name; see src/semaphores/semaphore.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp, scope } from "../src/http/app";
import { checkLeaseBounds, tooManyWaiters, untilAnswered } from "../src/http/leases";
import { objectName } from "../src/http/principal";
import { overLimit, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import type { SemaphoreAcquireResult } from "../src/semaphores";
import {
  SemaphoreAcquireBody as AcquireBody,
  LEASE_ID_EXAMPLE,
  SemaphoreLease as Lease,
  SemaphoreReleaseBody as ReleaseBody,
  SemaphoreRenewBody as RenewBody,
  SemaphoreReleased,
  SemaphoreRenewed,
  SemaphoreStatus as Status,
} from "../src/semaphores";
import { settings } from "../src/settings";

const route = routesOf("semaphores");

const Params = z.object({ name: Name });
const json = jsonBody;
const ok = jsonResponse;
const conflict = problemDoc("Conflict");

const acquireRoute = createRoute({
  ...route("post", "/{name}/acquire", "acquireSemaphore", "Take permits, waiting in FIFO order up to waitMs"),
  ...scope("semaphores:write", "name"),
  request: {
    params: Params,
    body: json(AcquireBody, { holder: "crawler-3", permits: 1, limit: 5, ttlMs: 30_000, waitMs: 5_000 }),
  },
  responses: {
    200: ok(Lease, "Granted"),
    409: { ...conflict, description: "No room when waitMs ran out ({inUse, waiters}), or another limit in force" },
    503: { ...conflict, description: "Too many waiters (LEASE_MAX_WAITERS)" },
    ...problemDocs,
  },
});
const renewRoute = createRoute({
  ...route("post", "/{name}/renew", "renewSemaphore", "Extend a lease"),
  ...scope("semaphores:write", "name"),
  request: { params: Params, body: json(RenewBody, { leaseId: LEASE_ID_EXAMPLE, holder: "crawler-3", ttlMs: 30_000 }) },
  responses: {
    200: ok(SemaphoreRenewed, "Renewed"),
    409: conflict,
    ...problemDocs,
  },
});
const releaseRoute = createRoute({
  ...route("post", "/{name}/release", "releaseSemaphore", "Give the permits back (waiters get them in FIFO order)"),
  ...scope("semaphores:write", "name"),
  request: { params: Params, body: json(ReleaseBody, { leaseId: LEASE_ID_EXAMPLE, holder: "crawler-3" }) },
  responses: {
    200: ok(
      SemaphoreReleased,
      "Released; released is false when this lease had been released already (a repeated release is harmless)",
    ),
    409: conflict,
    ...problemDocs,
  },
});
const statusRoute = createRoute({
  ...route("get", "/{name}", "getSemaphore", "Permits in use, limit, leases and waiters"),
  ...scope("semaphores:read", "name"),
  request: { params: Params },
  responses: { 200: ok(Status, "The semaphore"), ...problemDocs },
});

export const semaphores = createApp()
  .openapi(acquireRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { holder, permits, limit, ttlMs, waitMs } = c.req.valid("json");
    checkLeaseBounds(c.env, ttlMs, waitMs);
    const maxLimit = settings(c.env).SEMAPHORE_MAX_LIMIT;
    if (limit > maxLimit) {
      throw overLimit("SEMAPHORE_MAX_LIMIT", maxLimit, `limit ${limit} is above SEMAPHORE_MAX_LIMIT (${maxLimit}).`);
    }
    if (permits > limit) {
      throw problem(400, `permits ${permits} is above limit ${limit}: it could never be granted.`, {
        type: "invalid-request",
      });
    }
    const stub = c.env.SEMAPHORE.getByName(objectName(c, name));
    const waiterId = crypto.randomUUID();
    const result = await untilAnswered<SemaphoreAcquireResult>(
      c,
      stub.acquire({
        holder,
        permits,
        limit,
        ttlMs,
        waitMs,
        waiterId,
        maxWaiters: settings(c.env).LEASE_MAX_WAITERS,
      }),
      () => stub.cancel(waiterId),
    );
    if (result.ok) {
      const { ok: _, ...lease } = result;
      return c.json({ name, ...lease }, 200);
    }
    if (result.reason === "queue-full") {
      throw tooManyWaiters("Semaphore", name, result.waiters);
    }
    if (result.reason === "limit-mismatch") {
      throw problem(409, `Semaphore ${name} is in use with limit ${result.limit}, not ${limit}.`, {
        type: "semaphore-limit-mismatch",
        extensions: { limit: result.limit, inUse: result.inUse, waiters: result.waiters },
      });
    }
    throw problem(409, `Semaphore ${name} has no ${permits} permit(s) free.`, {
      type: "semaphore-full",
      extensions: { inUse: result.inUse, waiters: result.waiters },
    });
  })
  .openapi(renewRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { leaseId, holder, ttlMs } = c.req.valid("json");
    checkLeaseBounds(c.env, ttlMs);
    const result = await c.env.SEMAPHORE.getByName(objectName(c, name)).renew(leaseId, holder, ttlMs);
    if (!result.ok) throw problem(409, `Cannot renew on semaphore ${name}: ${result.detail}.`, { type: "lease-lost" });
    return c.json({ name, leaseId, expiresAt: result.expiresAt }, 200);
  })
  .openapi(releaseRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { leaseId, holder } = c.req.valid("json");
    const result = await c.env.SEMAPHORE.getByName(objectName(c, name)).release(leaseId, holder);
    if (!result.ok)
      throw problem(409, `Cannot release on semaphore ${name}: ${result.detail}.`, { type: "lease-lost" });
    return c.json({ name, leaseId, released: result.released, releasedAt: result.releasedAt }, 200);
  })
  .openapi(statusRoute, async (c) => {
    const { name } = c.req.valid("param");
    return c.json({ name, ...(await c.env.SEMAPHORE.getByName(objectName(c, name)).status()) }, 200);
  });
