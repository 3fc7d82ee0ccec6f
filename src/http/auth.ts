/**
 * Bearer-token auth for /v1. Fails closed: with no token configured nothing under /v1 is served.
 *
 * Per request it hashes the presented token once (SHA-256) and compares digests in constant time; the expected
 * token's digest is computed once per isolate. The presented token's digest stays with the request
 * (`bearerDigest`), so the per-token rate limit keys by it without hashing again.
 */
import type { MiddlewareHandler } from "hono";
import { problem } from "./problem";

const encoder = new TextEncoder();

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/** The SHA-256 of the bearer token of each request that passed `bearerAuth`. */
const verified = new WeakMap<Request, ArrayBuffer>();

/** The SHA-256 digest of this request's bearer token, if `bearerAuth` accepted it. */
export const bearerDigest = (req: Request): ArrayBuffer | undefined => verified.get(req);

/**
 * Require `Authorization: Bearer <token>` matching the token `expected` returns for the request.
 *
 * @example
 * app.use("/v1/*", bearerAuth((c) => c.env.API_TOKEN))
 */
export const bearerAuth = (expected: (env: Env) => string | undefined): MiddlewareHandler<{ Bindings: Env }> => {
  // The expected token's digest, computed again only if the token changes (another env, as in tests).
  let known: { token: string; digest: Promise<ArrayBuffer> } | undefined;
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
    if (known?.token !== token) known = { token, digest: digest(token) };
    const [presented, wanted] = await Promise.all([digest(match[1]), known.digest]);
    if (!crypto.subtle.timingSafeEqual(presented, wanted)) {
      throw problem(401, "The bearer token is not valid.", {
        type: "unauthorized",
        headers: { "www-authenticate": 'Bearer realm="edgeloop", error="invalid_token"' },
      });
    }
    verified.set(c.req.raw, presented);
    await next();
  };
};
