/**
 * The wire schemas of /v1/semaphores: what acquire, renew and release take and what the semaphore answers. The routes
 * (functions/semaphores.ts) validate with them and the OpenAPI document is built from them; the typed client
 * (src/client/) takes its types from them (`import type`, so no zod reaches it).
 */
import { z } from "@hono/zod-openapi";

const Holder = z.string().min(1).max(256).openapi({ example: "crawler-3" });
export const LEASE_ID_EXAMPLE = "0b6c2f9e-4a1d-4c3e-9f7a-2d5e8b1c6a40";
const LeaseId = z.string().uuid().openapi({ example: LEASE_ID_EXAMPLE });
const TtlMs = z.number().int().min(1).openapi({ example: 30_000 });

export const SemaphoreAcquireBody = z
  .object({
    holder: Holder,
    permits: z.number().int().min(1).default(1),
    limit: z.number().int().min(1).openapi({ example: 5, description: "At most SEMAPHORE_MAX_LIMIT" }),
    ttlMs: TtlMs,
    waitMs: z.number().int().min(0).default(0),
  })
  .strict();
export const SemaphoreLease = z
  .object({
    name: z.string(),
    leaseId: z.string(),
    holder: z.string(),
    permits: z.number().int(),
    grantedAt: z.number(),
    expiresAt: z.number(),
  })
  .openapi("SemaphoreLease");
export const SemaphoreRenewBody = z.object({ leaseId: LeaseId, holder: Holder, ttlMs: TtlMs }).strict();
export const SemaphoreRenewed = z.object({ name: z.string(), leaseId: z.string(), expiresAt: z.number() });
export const SemaphoreReleaseBody = z.object({ leaseId: LeaseId, holder: Holder }).strict();
export const SemaphoreReleased = z.object({
  name: z.string(),
  leaseId: z.string(),
  released: z.boolean(),
  releasedAt: z.number(),
});
export const SemaphoreStatus = z
  .object({
    name: z.string(),
    inUse: z.number().int(),
    limit: z.number().int().nullable(),
    leases: z.number().int(),
    waiters: z.number().int(),
  })
  .openapi("SemaphoreStatus");
