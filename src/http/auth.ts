/**
 * Bearer-token auth for /v1. Fails closed: with no token configured nothing under /v1 is served.
 */
import type { MiddlewareHandler } from "hono";
import { problem } from "./problem";

const encoder = new TextEncoder();

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/** Constant-time string comparison (both sides hashed first so their lengths do not leak). */
export async function safeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/**
 * Require `Authorization: Bearer <token>` matching the token `expected` returns for the request.
 *
 * @example
 * app.use("/v1/*", bearerAuth((c) => c.env.API_TOKEN))
 */
export const bearerAuth = (expected: (env: Env) => string | undefined): MiddlewareHandler<{ Bindings: Env }> => {
  return async function bearerAuth(c, next) {
    const token = expected(c.env);
    if (!token) {
      throw problem(
        503,
        "API_TOKEN is not configured: /v1 refuses to serve until it is set (wrangler secret put API_TOKEN).",
        {
          type: "not-configured",
        },
      );
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const challenge = { "www-authenticate": 'Bearer realm="edgeloop"' };
    if (!match?.[1]) {
      throw problem(401, "Missing bearer token: send Authorization: Bearer <API_TOKEN>.", {
        type: "unauthorized",
        headers: challenge,
      });
    }
    if (!(await safeEqual(match[1], token))) {
      throw problem(401, "The bearer token is not valid.", {
        type: "unauthorized",
        headers: { "www-authenticate": 'Bearer realm="edgeloop", error="invalid_token"' },
      });
    }
    await next();
  };
};
