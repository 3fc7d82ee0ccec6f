/**
 * The app factory every function family uses: an OpenAPIHono whose validation failures become 400 problem+json
 * listing each invalid field, and where every route's access is enforced in one place.
 *
 * Each route declares the scope it needs (`...scope("counters:write", "name")`: an OpenAPI security requirement, and
 * `x-edgeloop-name` for the path parameter that is a name), or `security: []` when the bearer token is not its guard;
 * a route that declares neither throws when the app is built, so the worker does not start. Before validation, a
 * scoped token without the route's scope gets 403 `scope-missing`, one whose name patterns refuse the name 403
 * `name-refused`; then a caller in a namespace gets an environment confined to it (tenant-env.ts). A scoped route
 * reached without bearerAuth before it (a sub-app mounted outside /v1) has no principal and fails closed (a 500).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import { familyOf, grants, nameAllowed } from "./access";
import { principalOf } from "./principal";
import { problem } from "./problem";
import { tenantEnv } from "./tenant-env";

/**
 * `asAsked`: the answer's status is what the caller asked for (the demo upstream's `?status=`), a result rather than
 * a failure of ours: the access log does not count it as an error.
 */
export type AppEnv = { Bindings: Env; Variables: { requestId: string; asAsked?: boolean } };

/** The OpenAPI extension naming the path parameter a scoped route checks against a token's name patterns. */
export const NAME_PARAM = "x-edgeloop-name";

/**
 * The access declaration of a route, to spread into its `createRoute`: the scope it needs and, when it has one, the
 * path parameter that names what it touches (checked against the token's patterns for the scope's family).
 *
 * @example
 * createRoute({ ...route("post", "/{name}/increment", "incrementCounter", "…"), ...scope("counters:write", "name"), … })
 */
export const scope = (required: string, nameParam?: string) => ({
  security: [{ bearer: [required] }],
  ...(nameParam ? { [NAME_PARAM]: nameParam } : {}),
});

/** Every scope a route declared, with whether its family's routes take a name: what a token may be granted. */
const declared = new Map<string, { family: string; named: boolean }>();

/** The scopes routes declare (`scope(...)`), and per family whether names are checked: for validating tokens. */
export const declaredScopes = (): ReadonlyMap<string, { family: string; named: boolean }> => declared;

interface Declared {
  method: string;
  path: string;
  operationId?: string;
  security?: { [scheme: string]: string[] }[];
  [NAME_PARAM]?: string;
}

/**
 * Refuse (403 `name-refused`) a `family` name the request's token may not use: the check a route's name parameter
 * gets before the route runs, for the names a route finds in its body (a schedule's, a flow key).
 *
 * @example
 * if (flow) requireName(c, "flow", flow.key);
 */
// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its principal is read
export function requireName(c: Context<any>, family: string, name: string): void {
  const p = principalOf(c);
  if (p.root || nameAllowed(p.names, family, name)) return;
  throw problem(403, `This token may not use the ${family} name ${JSON.stringify(name)}.`, {
    type: "name-refused",
    extensions: { name, family },
  });
}

/** The access check of a route: its scope, its name parameter, and the tenant's confined environment. */
function accessOf(route: Declared): MiddlewareHandler[] {
  const where = `${route.method.toUpperCase()} ${route.path} (${route.operationId ?? "no operationId"})`;
  if (!route.security) {
    throw new Error(
      `${where} declares no scope: spread scope("<family>:<verb>", "<name param>") (src/http/app.ts) into its ` +
        "createRoute, or set security: [] if the bearer token does not guard it",
    );
  }
  if (route.security.length === 0) return [];
  const scopes = route.security.flatMap((s) => s.bearer ?? []);
  const required = scopes[0];
  if (scopes.length !== 1 || route.security.length !== 1 || !required) {
    throw new Error(`${where} must declare exactly one bearer scope, as scope() does`);
  }
  const family = familyOf(required);
  const param = route[NAME_PARAM];
  const known = declared.get(required);
  declared.set(required, { family, named: Boolean(param) || Boolean(known?.named) });
  return [
    async function access(c, next) {
      const p = principalOf(c);
      if (!p.root) {
        if (!grants(p.scopes, required)) {
          throw problem(403, `This token lacks the scope ${required}, which ${route.operationId} needs.`, {
            type: "scope-missing",
            extensions: { scope: required },
          });
        }
        const name = param ? c.req.param(param) : undefined;
        if (name !== undefined) requireName(c, family, name);
      }
      if (p.namespace !== undefined) c.env = tenantEnv(c.env as Env, p.namespace);
      await next();
    },
  ];
}

export function createApp<E extends HonoEnv = AppEnv>(): OpenAPIHono<E> {
  const app = new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = result.error.issues.map((issue) => ({
          path: issue.path.join("."),
          message: issue.message,
        }));
        const where = result.target === "json" ? "request body" : result.target;
        throw problem(
          400,
          `The ${where} is invalid: ${errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`,
          {
            type: "invalid-request",
            extensions: { errors },
          },
        );
      }
    },
  });
  // Every route goes through here: its access check runs before its own middleware and its validators.
  const register = app.openapi;
  app.openapi = ((route: Declared & { middleware?: MiddlewareHandler | MiddlewareHandler[] }, ...rest: unknown[]) => {
    const own = route.middleware === undefined ? [] : [route.middleware].flat();
    return (register as (...args: unknown[]) => OpenAPIHono<E>)(
      { ...route, middleware: [...accessOf(route), ...own] },
      ...rest,
    );
  }) as typeof app.openapi;
  return app;
}
