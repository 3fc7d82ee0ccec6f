/**
 * Bearer-token auth for /v1. Fails closed: with no token configured nothing under /v1 is served.
 *
 * Per request it hashes the presented token once (SHA-256) and compares digests in constant time with the root token
 * (`API_TOKEN`, whose digest is computed once per isolate); any other token is asked of `tokens` (the scoped tokens,
 * src/tokens/), given the same digest. What was verified stays with the request (principal.ts): the principal, and
 * the digest that keys the root token's rate limit and idempotency keys. With a `FailedAuthLimit`, a missing, wrong,
 * revoked or expired token counts against its client address (auth-failures.ts); a valid one costs nothing more and
 * is accepted whatever its address's failures.
 */
import type { MiddlewareHandler } from "hono";
import type { FailedAuthLimit } from "./auth-failures";
import { admit, type TokenLookup } from "./principal";
import { problem } from "./problem";

export { callerScope } from "./principal";

const encoder = new TextEncoder();

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/**
 * Require `Authorization: Bearer <token>`: the token `expected` returns for the request (the root token), or one
 * `tokens` accepts; `failures` limits the failed attempts per client address.
 *
 * @example
 * app.use("/v1/*", bearerAuth((env) => env.API_TOKEN, failedAuthLimit(), scopedTokens()))
 */
export const bearerAuth = (
  expected: (env: Env) => string | undefined,
  failures?: FailedAuthLimit,
  tokens?: TokenLookup,
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
    const invalid = 'Bearer realm="edgeloop", error="invalid_token"';
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw await refuse("Missing bearer token: send Authorization: Bearer <API_TOKEN>.", 'Bearer realm="edgeloop"');
    }
    if (known?.token !== token) known = { token, digest: digest(token) };
    const [presented, wanted] = await Promise.all([digest(match[1]), known.digest]);
    if (crypto.subtle.timingSafeEqual(presented, wanted)) {
      // Equal to the presented token's digest: keeping the one object lets callerScope reuse its hex.
      admit(c, wanted, "root");
      return next();
    }
    const found = tokens ? await tokens(c, match[1], presented) : { refused: "The bearer token is not valid." };
    if ("refused" in found) throw await refuse(found.refused, invalid);
    admit(c, presented, found);
    await next();
  };
};
