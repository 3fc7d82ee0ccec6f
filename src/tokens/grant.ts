/**
 * What a scoped token (or a service binding's props) may be granted: the scopes routes declare (but `tokens`, the root
 * token's alone), the `*` forms of their parts, and name patterns only for families whose routes take names.
 */
import { familyOf } from "../http/access";
import { declaredScopes } from "../http/app";

/**
 * The fields of a grant that name no scope or family of this API, as `errors` of a 400 (empty: the grant is valid).
 *
 * @example
 * grantErrors(["counters:write", "widgets:read"], undefined);
 * // [{ path: "scopes", message: "widgets:read is no scope of this API (docs/api.md lists them)" }]
 */
export function grantErrors(
  granted: readonly string[],
  names: Readonly<Record<string, unknown>> | undefined,
): { path: string; message: string }[] {
  const scopes = [...declaredScopes()].filter(([s]) => s !== "tokens");
  const families = new Set(scopes.map(([, d]) => d.family));
  const verbs = new Set(scopes.map(([s]) => s.split(":")[1]));
  const named = new Set(scopes.filter(([, d]) => d.named).map(([, d]) => d.family));
  const valid = (s: string) =>
    s === "*" ||
    scopes.some(([d]) => d === s) ||
    (s.endsWith(":*") && families.has(familyOf(s))) ||
    (s.startsWith("*:") && verbs.has(s.slice(2)));
  const bad = granted.find((s) => !valid(s));
  const badFamily = Object.keys(names ?? {}).find((f) => f !== "*" && !named.has(f));
  return [
    ...(bad ? [{ path: "scopes", message: `${bad} is no scope of this API (docs/api.md lists them)` }] : []),
    ...(badFamily ? [{ path: "names", message: `${badFamily} is no family whose routes take names` }] : []),
  ];
}
