/**
 * Who a Worker calling through a service binding acts as: its binding's `props` (`[[services]] … props = { … }` in the
 * caller's wrangler config, read from `ctx.props`), checked like a token's fields. No props: the root. `scopes`,
 * `names` or a `namespace`: a tenant confined like a scoped token with those fields (`scopes` defaulting to `*`,
 * every scope but managing tokens). `rate`: its own limit on calls (none without it). `name`: its id,
 * `binding:<name>`, which keys that limit and, without a namespace, is its tenant (`token:binding:<name>`).
 *
 * Props are the deployer's configuration, not a caller's input: props that do not parse refuse every call with 503
 * `not-configured` naming the field, so a typo never widens what a binding may do.
 */
import { z } from "@hono/zod-openapi";
import type { Principal } from "../http/principal";
import { problem } from "../http/problem";
import { Name } from "../http/schemas";
import { CreateTokenBody, grantErrors } from "../tokens";

const { scopes, names, namespace, rate } = CreateTokenBody.shape;

/** A binding's props, as the calling Worker's wrangler config gives them. */
export const BindingPropsSchema = z
  .object({ name: Name.optional(), scopes: scopes.optional(), names, namespace, rate })
  .strict();

export type BindingProps = z.input<typeof BindingPropsSchema>;

/** Principals of the props seen in this isolate, by their JSON (a deployment has a handful of bindings). */
const seen = new Map<string, Principal>();
const SEEN_MAX = 64;

const misconfigured = (detail: string) =>
  problem(503, `The service binding's props are invalid: ${detail}. Fix props in the calling Worker's [[services]].`, {
    type: "not-configured",
  });

/**
 * The principal a binding's props stand for; a 503 `not-configured` problem for props that do not parse.
 *
 * @example
 * principalOfProps({}); // { root: true, scopes: ["*"], id: "binding:default", via: "binding" }
 * principalOfProps({ namespace: "acme", scopes: ["counters:read"] }); // confined to acme, counters:read only
 */
export function principalOfProps(props: unknown): Principal {
  const key = JSON.stringify(props ?? {});
  const known = seen.get(key);
  if (known) return known;
  const parsed = BindingPropsSchema.safeParse(props ?? {});
  if (!parsed.success) {
    throw misconfigured(parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
  }
  const p = parsed.data;
  const errors = grantErrors(p.scopes ?? [], p.names);
  if (errors.length > 0) throw misconfigured(errors.map((e) => `${e.path}: ${e.message}`).join("; "));
  const base = { id: `binding:${p.name ?? "default"}`, via: "binding" as const, ...(p.rate ? { rate: p.rate } : {}) };
  const principal: Principal =
    p.scopes === undefined && p.names === undefined && p.namespace === undefined
      ? { ...base, root: true, scopes: ["*"] }
      : {
          ...base,
          root: false,
          scopes: p.scopes ?? ["*"],
          ...(p.names ? { names: p.names } : {}),
          ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        };
  if (seen.size >= SEEN_MAX) seen.clear();
  seen.set(key, principal);
  return principal;
}
