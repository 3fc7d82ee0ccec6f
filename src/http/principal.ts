/**
 * Who a /v1 request acts as, once `bearerAuth` verified its token (or a service binding's props were read, in
 * src/binding/): the principal (the root token, or a scoped token's scopes, names, namespace and rate), and what
 * follows from it for every route: the object name a caller's name stands for (`objectName`: `<namespace>/<name>` in a
 * namespace; `/` never occurs in a name, so no tenant can spell another's names, nor the root's plain ones), and whose
 * jobs and idempotency keys it uses (`tenantOf`).
 */
import type { Context } from "hono";
import { problem } from "./problem";

export interface Principal {
  /** The API_TOKEN: every scope and name; plain names unless it names a namespace (Edgeloop-Namespace). */
  root: boolean;
  /** A scoped token's id (stable across rotations). */
  id?: string;
  scopes: readonly string[];
  /** Name patterns per family (`*`: every family without its own); none: any name. */
  names?: Readonly<Record<string, readonly string[]>>;
  namespace?: string;
  /** The token's own /v1 rate limit, in place of API_RATE_LIMIT per API_RATE_PERIOD_MS. */
  rate?: { limit: number; periodMs: number };
  /**
   * "binding": a Worker calling through a service binding (src/binding/), as its binding's props say; it has no
   * bearer token, and no /v1 rate limit but the `rate` its props give.
   */
  via?: "binding";
}

/** How bearerAuth asks about a token that is not the root one: its principal, or why it is refused. */
export type TokenLookup = (
  c: Context<{ Bindings: Env }>,
  token: string,
  digest: ArrayBuffer,
) => Promise<Principal | { refused: string }>;

/** The header with which the root token acts in a namespace. */
export const NAMESPACE_HEADER = "edgeloop-namespace";

const ROOT: Principal = { root: true, scopes: ["*"] };
const NAMESPACE = /^[A-Za-z0-9._:-]{1,128}$/;

// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its identity is used
type AnyContext = Context<any>;

/** Per request (its Context, not its Request: the body limit swaps `c.req.raw`): the verified digest and principal. */
const verified = new WeakMap<AnyContext, { digest: ArrayBuffer; principal: Principal }>();
/** The hex of each verified digest: a request keeps the root token's digest object, so this is computed once. */
const hexes = new WeakMap<ArrayBuffer, string>();

/**
 * Record what bearerAuth verified: the token's SHA-256 and the principal, with the namespace the root token names in
 * `Edgeloop-Namespace` (400 when it is not a name; 403 when a scoped token names another than its own).
 */
export function admit(c: AnyContext, digest: ArrayBuffer, principal: Principal | "root"): void {
  const header = c.req.header(NAMESPACE_HEADER);
  let p = principal === "root" ? ROOT : principal;
  if (header !== undefined) {
    if (!NAMESPACE.test(header)) {
      throw problem(400, `${NAMESPACE_HEADER} must be 1-128 characters of A-Z a-z 0-9 . _ : -.`, {
        type: "invalid-request",
      });
    }
    if (p.root) p = { ...p, namespace: header };
    else if (header !== p.namespace) {
      throw problem(403, `This token may not act in namespace ${header}.`, { type: "namespace-refused" });
    }
  }
  verified.set(c, { digest, principal: p });
}

function verifiedOf(c: AnyContext) {
  const v = verified.get(c);
  if (!v) throw new Error("a request bearerAuth accepted is needed here");
  return v;
}

/**
 * The principal of a request behind `bearerAuth`.
 *
 * @example
 * if (!principalOf(c).root) throw problem(403, "root only");
 */
export const principalOf = (c: AnyContext): Principal => verifiedOf(c).principal;

/**
 * The verified caller as the hex SHA-256 of its token, however the `Authorization` header was spelled: the root
 * token's keys its per-token rate limit and its idempotency keys.
 *
 * @example
 * const scope = callerScope(c); // "5e88…" (64 hex characters)
 */
export function callerScope(c: AnyContext): string {
  const { digest } = verifiedOf(c);
  let hex = hexes.get(digest);
  if (hex === undefined) {
    hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    hexes.set(digest, hex);
  }
  return hex;
}

/**
 * The Durable Object name of the caller's `name`: `<namespace>/<name>` in a namespace, else `name` itself. Every route
 * addresses its objects by it (and answers with the caller's own name, never this one).
 *
 * @example
 * const stub = c.env.LOCK.getByName(objectName(c, name));
 */
export function objectName(c: AnyContext, name: string): string {
  const { namespace } = principalOf(c);
  return namespace === undefined ? name : `${namespace}/${name}`;
}

/**
 * Whose jobs a caller creates and reads. `scope` keys its idempotency keys, `owner` is stored with what it creates,
 * `reader` is what it may read (undefined: everything, the root token). A namespace's tokens (and the root token in
 * it) share `ns:<namespace>`; a token without one is its own tenant (`token:<id>`); the root token without a
 * namespace keeps its keys under its digest, as before tokens existed.
 */
export function tenantOf(c: AnyContext): { scope: string; owner: string; reader?: string } {
  const p = principalOf(c);
  const owner = p.namespace !== undefined ? `ns:${p.namespace}` : p.root ? "root" : `token:${p.id}`;
  const scope = p.root && p.namespace === undefined ? callerScope(c) : owner;
  return p.root ? { scope, owner } : { scope, owner, reader: owner };
}
