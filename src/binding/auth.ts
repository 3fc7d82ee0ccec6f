/**
 * How a request that came through the service binding is let in: the `Edgeloop` entrypoint marks each request it runs
 * through the app with its binding's props (`bound`), and `bindingOrBearer` admits a marked request as the props'
 * principal (props.ts) in place of bearerAuth; any other request goes to bearerAuth as before. The mark lives in this
 * isolate's memory, keyed by the Request object: no header or URL an HTTP caller sends can set it.
 *
 * A binding acting as the root is the root: its jobs, schedules, flow keys and idempotency keys are the root token's,
 * keyed by API_TOKEN's SHA-256, so without API_TOKEN it is refused with 503 as /v1 is (fail closed). A binding in a
 * namespace or with scopes needs no API_TOKEN.
 */
import type { MiddlewareHandler } from "hono";
import { admit } from "../http/principal";
import { problem } from "../http/problem";
import { principalOfProps } from "./props";

/** Requests the entrypoint runs, with their binding's props. */
const marked = new WeakMap<Request, unknown>();

/**
 * Mark `request` as one coming through the binding whose props are `props`, and return it.
 *
 * @example
 * return app.fetch(bound(request, this.ctx.props), this.env, this.ctx);
 */
export function bound(request: Request, props: unknown): Request {
  marked.set(request, props ?? {});
  return request;
}

/** The root token's digest, computed again only when API_TOKEN changes (another env, as in tests). */
let root: { token: string; digest: Promise<ArrayBuffer> } | undefined;

function rootDigest(env: Env): Promise<ArrayBuffer> {
  const token = env.API_TOKEN;
  if (!token) {
    throw problem(
      503,
      "API_TOKEN is not configured: a binding without props acts as the root, whose jobs, schedules and keys are " +
        "keyed by it (wrangler secret put API_TOKEN), or give the binding a namespace in its props.",
      { type: "not-configured" },
    );
  }
  if (root?.token !== token) root = { token, digest: crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)) };
  return root.digest;
}

/** What a non-root binding's requests key nothing by (callerScope is read for the root alone). */
const NO_DIGEST = new ArrayBuffer(32);

/**
 * Admit a request the binding marked as its props' principal; hand any other to `bearer`.
 *
 * @example
 * app.use("/v1/*", bindingOrBearer(bearerAuth((env) => env.API_TOKEN, failedAuthLimit(), scopedTokens())));
 */
export const bindingOrBearer = (bearer: MiddlewareHandler<{ Bindings: Env }>): MiddlewareHandler<{ Bindings: Env }> =>
  async function bindingOrBearer(c, next) {
    if (!marked.has(c.req.raw)) return bearer(c, next);
    const principal = principalOfProps(marked.get(c.req.raw));
    admit(c, principal.root ? await rootDigest(c.env) : NO_DIGEST, principal);
    await next();
  };
