/**
 * /v1/tokens (the root token only: scope `tokens`, which no scoped token holds): create a scoped token (its secret is
 * answered once), list them, read one, revoke one, rotate one's secret with a grace period for the old one. The
 * tokens live in the Tokens Durable Object (src/tokens/tokens.ts); docs/tokens.md says what each field allows.
 */
import { createRoute, type z } from "@hono/zod-openapi";
import { createApp, scope } from "../src/http/app";
import { overLimit, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import { settings } from "../src/settings";
import {
  CreateTokenBody,
  forgetToken,
  grantErrors,
  RotateTokenBody,
  TOKENS_OBJECT,
  TokenCreatedSchema,
  TokenIdParams,
  TokenListSchema,
  type TokenRecord,
  TokenSchema,
  viewOf,
} from "../src/tokens";

const route = routesOf("tokens");
const root = scope("tokens");
const notFound = problemDoc("No such token");
const refusals = { ...problemDocs, 403: problemDoc("Not the root token (scope-missing)") };

const createTokenRoute = createRoute({
  ...route("post", "/", "createToken", "Create a scoped token; its secret is answered this once"),
  ...root,
  request: {
    body: jsonBody(CreateTokenBody, {
      name: "orders service",
      scopes: ["counters:*", "locks:write"],
      names: { "*": ["orders-*"] },
      namespace: "acme",
      expiresInSeconds: 7_776_000,
    }),
  },
  responses: {
    201: jsonResponse(TokenCreatedSchema, "The token, with its secret"),
    ...refusals,
    409: problemDoc("TOKENS_MAX tokens are live"),
  },
});
const listRoute = createRoute({
  ...route("get", "/", "listTokens", "Every token, without secrets"),
  ...root,
  responses: { 200: jsonResponse(TokenListSchema, "The tokens, oldest first"), ...refusals },
});
const getRoute = createRoute({
  ...route("get", "/{id}", "getToken", "A token, without its secret"),
  ...root,
  request: { params: TokenIdParams },
  responses: { 200: jsonResponse(TokenSchema, "The token"), ...refusals, 404: notFound },
});
const revokeRoute = createRoute({
  ...route("delete", "/{id}", "revokeToken", "Revoke a token (within TOKENS_CACHE_SECONDS everywhere)"),
  ...root,
  request: { params: TokenIdParams },
  responses: { 200: jsonResponse(TokenSchema, "Revoked (also when it already was)"), ...refusals, 404: notFound },
});
const rotateRoute = createRoute({
  ...route("post", "/{id}/rotate", "rotateToken", "A new secret; the old one works for graceSeconds more"),
  ...root,
  request: { params: TokenIdParams, body: jsonBody(RotateTokenBody, { graceSeconds: 3_600 }) },
  responses: {
    200: jsonResponse(TokenCreatedSchema, "The token, with its new secret"),
    ...refusals,
    404: notFound,
    409: problemDoc("The token is revoked or expired"),
  },
});

const tokensOf = (env: Env) => env.TOKENS.getByName(TOKENS_OBJECT);
const missing = (id: string) => problem(404, `No token with id ${id}.`, { type: "token-not-found" });

/** Refuse (400) a grant naming a scope or a family this API does not have. */
function checkGrant(body: z.infer<typeof CreateTokenBody>): void {
  const errors = grantErrors(body.scopes, body.names);
  if (errors.length > 0) {
    const detail = `The request body is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`;
    throw problem(400, detail, { type: "invalid-request", extensions: { errors } });
  }
}

const shown = (t: TokenRecord) => viewOf(t, Date.now());

export const tokens = createApp()
  .openapi(createTokenRoute, async (c) => {
    const body = c.req.valid("json");
    checkGrant(body);
    const max = settings(c.env).TOKENS_MAX;
    const made = await tokensOf(c.env).create(body, max);
    if (!made) {
      throw overLimit("TOKENS_MAX", max, `TOKENS_MAX (${max}) tokens are live: revoke one first.`, {
        status: 409,
        type: "tokens-full",
      });
    }
    return c.json({ ...shown(made.token), token: made.secret }, 201);
  })
  .openapi(listRoute, async (c) => c.json({ tokens: (await tokensOf(c.env).list()).map(shown) }, 200))
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const token = await tokensOf(c.env).get(id);
    if (!token) throw missing(id);
    return c.json(shown(token), 200);
  })
  .openapi(revokeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const token = await tokensOf(c.env).revoke(id);
    if (!token) throw missing(id);
    forgetToken(id);
    return c.json(shown(token), 200);
  })
  .openapi(rotateRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { graceSeconds } = c.req.valid("json");
    const max = settings(c.env).TOKENS_MAX_GRACE_SECONDS;
    if (graceSeconds > max) {
      throw overLimit(
        "TOKENS_MAX_GRACE_SECONDS",
        max,
        `graceSeconds ${graceSeconds} is above TOKENS_MAX_GRACE_SECONDS (${max}).`,
      );
    }
    const rotated = await tokensOf(c.env).rotate(id, graceSeconds * 1_000);
    if (!rotated) throw missing(id);
    if ("refused" in rotated) {
      throw problem(409, `Token ${id} is ${rotated.refused}: it cannot be rotated.`, {
        type: `token-${rotated.refused}`,
      });
    }
    forgetToken(id);
    return c.json({ ...shown(rotated.token), token: rotated.secret }, 200);
  });
