/**
 * Who may do what, as pure decisions: the scope a route declares, the scopes a token grants, and the names a token
 * may use per family. A scope is `family:verb` (`counters:write`) or a bare family (`fanout`); a token may also grant
 * `*` (every scope but `tokens`), `family:*` (every verb of a family) or `*:verb` (that verb of every family). Name
 * patterns are names in which `*` stands for any run of name characters (`orders-*`).
 */

/** The scope of the token routes: the root token's alone, never granted to a scoped token, not even by `*`. */
export const ROOT_SCOPE = "tokens";

/** Scope spellings: `family`, `family:verb`, and the `*` forms a token may grant. */
export const SCOPE_PATTERN = /^(\*|\*:[a-z]+|[a-z]+(:([a-z]+|\*))?)$/;

/** Name patterns: a name's characters and `*`. */
export const NAME_PATTERN_PATTERN = /^[A-Za-z0-9._:*-]{1,128}$/;

/** The family a scope belongs to: `counters` for `counters:write`. */
export const familyOf = (scope: string): string => scope.split(":")[0] as string;

/**
 * Whether `granted` (a token's scopes) includes `required` (a route's).
 *
 * @example
 * grants(["counters:*"], "counters:write"); // true
 * grants(["*"], "tokens"); // false: only the root token manages tokens
 */
export function grants(granted: readonly string[], required: string): boolean {
  if (required === ROOT_SCOPE) return false;
  const [family, verb] = required.split(":");
  return granted.some(
    (g) => g === required || g === "*" || g === `${family}:*` || (verb !== undefined && g === `*:${verb}`),
  );
}

/** The per-family name patterns of a token: none means any name (within its namespace, if it has one). */
export type NamePatterns = Readonly<Record<string, readonly string[]>>;

const escapeDots = (text: string) => text.replace(/[.]/g, "\\.");

/**
 * The regular expression of a list of name patterns (`*`: any run of name characters), matching a whole name.
 *
 * @example
 * patternsRegExp(["orders-*", "audit"]).test("orders-7"); // true
 */
export function patternsRegExp(patterns: readonly string[]): RegExp {
  const alternatives = patterns.map((p) => p.split("*").map(escapeDots).join("[A-Za-z0-9._:-]*"));
  return new RegExp(`^(?:${alternatives.join("|") || "(?!)"})$`);
}

/** The patterns a token's `names` give `family`: its own list, else the `*` list, else none at all (`[]`). */
export const patternsFor = (names: NamePatterns, family: string): readonly string[] =>
  names[family] ?? names["*"] ?? [];

const compiled = new WeakMap<NamePatterns, Map<string, RegExp>>();

/**
 * Whether a token with `names` may use `name` in `family`: any name without `names`; with them, a name one of the
 * family's patterns (or the `*` entry's) matches. Compiled once per `names` object and family.
 *
 * @example
 * nameAllowed({ counters: ["orders-*"] }, "counters", "orders-7"); // true
 * nameAllowed({ counters: ["orders-*"] }, "locks", "orders-7"); // false: no patterns for locks
 */
export function nameAllowed(names: NamePatterns | undefined, family: string, name: string): boolean {
  if (!names) return true;
  let byFamily = compiled.get(names);
  if (!byFamily) {
    byFamily = new Map();
    compiled.set(names, byFamily);
  }
  let re = byFamily.get(family);
  if (!re) {
    re = patternsRegExp(patternsFor(names, family));
    byFamily.set(family, re);
  }
  return re.test(name);
}
