/**
 * The environment a route sees for a caller in a namespace: every Durable Object binding refuses a name outside the
 * namespace (`<namespace>/…`), so a route that forgets `objectName` fails closed (a logged 500) instead of reaching
 * the plain names or another tenant's. Objects addressed by a global id and checked by owner (JOB), and the root
 * token's own (TOKENS), are passed through. One environment per namespace is kept per isolate (the settings and the
 * counters' router are cached per environment object).
 */

/** Bindings addressed by a global id, not by a caller's name. */
const GLOBAL = new Set(["JOB", "TOKENS"]);
/** Namespaces whose environment one isolate keeps; the oldest is dropped beyond this. */
const MAX_KEPT = 256;

const kept = new WeakMap<object, Map<string, Env>>();

/**
 * A Durable Object namespace: it has `getByName` and no `fetch`. A service binding is an RPC stub, which answers
 * every property name with a callable (`getByName` too), but it has `fetch`: it passes through unwrapped.
 */
const isNamespace = (value: unknown): value is DurableObjectNamespace =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as DurableObjectNamespace).getByName === "function" &&
  typeof (value as { fetch?: unknown }).fetch !== "function";

function guarded(ns: DurableObjectNamespace, prefix: string, binding: string): DurableObjectNamespace {
  const check = (name: string) => {
    if (!name.startsWith(prefix)) {
      throw new Error(
        `${binding}: "${name}" is outside the caller's namespace: address objects by objectName(c, name)`,
      );
    }
    return name;
  };
  const refused = () => {
    throw new Error(`${binding}: an id from a string is refused in a namespace`);
  };
  return {
    getByName: (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
      ns.getByName(check(name), options),
    idFromName: (name: string) => ns.idFromName(check(name)),
    get: (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => ns.get(id, options),
    newUniqueId: (options?: DurableObjectNamespaceNewUniqueIdOptions) => ns.newUniqueId(options),
    idFromString: refused,
    jurisdiction: (j: DurableObjectJurisdiction) => guarded(ns.jurisdiction(j), prefix, binding),
  } as unknown as DurableObjectNamespace;
}

/**
 * `env` with its name-addressed Durable Object bindings confined to `namespace`.
 *
 * @example
 * c.env = tenantEnv(c.env, "acme"); // c.env.LOCK.getByName("orders") throws; "acme/orders" passes
 */
export function tenantEnv(env: Env, namespace: string): Env {
  let byNamespace = kept.get(env);
  if (!byNamespace) {
    byNamespace = new Map();
    kept.set(env, byNamespace);
  }
  let confined = byNamespace.get(namespace);
  if (!confined) {
    const prefix = `${namespace}/`;
    const bindings = Object.entries(env).flatMap(([name, value]) =>
      isNamespace(value) && !GLOBAL.has(name) ? [[name, guarded(value, prefix, name)]] : [],
    );
    confined = { ...env, ...Object.fromEntries(bindings) } as Env;
    if (byNamespace.size >= MAX_KEPT) byNamespace.delete(byNamespace.keys().next().value as string);
    byNamespace.set(namespace, confined);
  }
  return confined;
}
