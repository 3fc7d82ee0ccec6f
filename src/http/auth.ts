/**
 * Bearer-token auth for /v1. Fails closed: with no token configured nothing under /v1 is served.
 *
 * Per request it hashes the presented token once (SHA-256) and compares digests in constant time; the expected
 * token's digest is computed once per isolate. The presented token's digest stays with the request (`callerScope`),
 * so the per-token rate limit and the jobs' idempotency scope key by it without hashing again. With a
 * `FailedAuthLimit`, a missing or wrong token counts against its client address (auth-failures.ts); an accepted one
 * costs nothing more and is accepted whatever its address's failures.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { FailedAuthLimit } from "./auth-failures";
import { problem } from "./problem";

const encoder = new TextEncoder();

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/**
 * The SHA-256 of the bearer token of each request that passed `bearerAuth`, by the request's hono Context (not its
 * Request: the body limit swaps `c.req.raw` for a wrapper when a body has no content-length).
 */
const verified = new WeakMap<Context, ArrayBuffer>();

/**
 * The verified caller of a request behind `bearerAuth` (its Context), as the hex SHA-256 of its token: the same
 * however the `Authorization` header was spelled (`bearer`, extra spaces). Keys the per-token rate limit and scopes
 * what a caller names (idempotency keys).
 *
 * @example
 * const scope = callerScope(c); // "5e88…" (64 hex characters)
 */
// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its identity is used
export function callerScope(c: Context<any>): string {
  const digest = verified.get(c);
  if (!digest) throw new Error("callerScope needs a request bearerAuth accepted");
  let hex = scopes.get(digest);
  if (hex === undefined) {
    hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    scopes.set(digest, hex);
  }
  return hex;
}

/** The hex of each verified digest: a request keeps the expected token's digest, so this is computed once. */
const scopes = new WeakMap<ArrayBuffer, string>();

/**
 * Require `Authorization: Bearer <token>` matching the token `expected` returns for the request; `failures` limits
 * the failed attempts per client address.
 *
 * @example
 * app.use("/v1/*", bearerAuth((env) => env.API_TOKEN, failedAuthLimit()))
 */
export const bearerAuth = (
  expected: (env: Env) => string | undefined,
  failures?: FailedAuthLimit,
): MiddlewareHandler<{ Bindings: Env }> => {
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
    const refuse = async (detail: string, challenge: string) => {
      const refusal = problem(401, detail, { type: "unauthorized", headers: { "www-authenticate": challenge } });
      return failures ? failures.failed(c, refusal) : refusal;
    };
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw await refuse("Missing bearer token: send Authorization: Bearer <API_TOKEN>.", 'Bearer realm="edgeloop"');
    }
    if (known?.token !== token) known = { token, digest: digest(token) };
    const [presented, wanted] = await Promise.all([digest(match[1]), known.digest]);
    if (!crypto.subtle.timingSafeEqual(presented, wanted)) {
      throw await refuse("The bearer token is not valid.", 'Bearer realm="edgeloop", error="invalid_token"');
    }
    // Equal to the presented token's digest: keeping the one object lets callerScope reuse its hex.
    verified.set(c, wanted);
    await next();
  };
};
