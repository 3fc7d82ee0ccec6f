/**
 * The wire schemas of /v1/locks: what acquire, renew and release take and what the lock answers. The routes
 * (functions/locks.ts) validate with them and the OpenAPI document is built from them; the typed client
 * (src/client/) takes its types from them (`import type`, so no zod reaches it).
 */
import { z } from "@hono/zod-openapi";

const Owner = z.string().min(1).max(256).openapi({ example: "worker-7" });
export const LockToken = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ example: 42 });
const TtlMs = z
  .number()
  .int()
  .min(1)
  .openapi({ example: 10_000, description: "Lease length, LEASE_MIN_TTL_MS to LEASE_MAX_TTL_MS" });

export const LockAcquireBody = z
  .object({
    owner: Owner,
    ttlMs: TtlMs,
    waitMs: z.number().int().min(0).default(0).openapi({ example: 5_000, description: "Long-poll up to this long" }),
  })
  .strict();
export const LockGrant = z
  .object({
    name: z.string(),
    token: LockToken,
    owner: z.string(),
    grantedAt: z.number(),
    expiresAt: z.number(),
    fence: z.object({ lock: z.string(), token: LockToken, sig: z.string() }).optional().openapi({
      description:
        "Pass as is to what the lock protects (`fence` on counters): the token with the lock's signature. Absent when FENCE_SECRET is not configured.",
    }),
  })
  .openapi("LockGrant");
export const LockRenewBody = z.object({ owner: Owner, token: LockToken, ttlMs: TtlMs }).strict();
export const LockRenewed = z
  .object({ name: z.string(), token: LockToken, expiresAt: z.number() })
  .openapi("LockRenewed");
export const LockReleaseBody = z.object({ owner: Owner, token: LockToken }).strict();
export const LockReleased = z
  .object({ name: z.string(), released: z.boolean(), releasedAt: z.number() })
  .openapi("LockReleased", { description: "released is false when this token had been released already" });
export const LockStatus = z
  .object({
    name: z.string(),
    holder: z.string().nullable(),
    token: z.number().nullable(),
    expiresAt: z.number().nullable(),
    waiters: z.number().int(),
    lastToken: z.number().int(),
  })
  .openapi("LockStatus");
