/**
 * Who owns what a request creates and names by itself (a schedule, a flow key, the list of its jobs): the tenant, as the start of the
 * object's name, so that a namespace's objects stay inside it (`objectName`) and tenants never share one. The root
 * token without a namespace keeps the verified token's SHA-256, as before tokens existed.
 */
import type { Context } from "hono";
import { tenantOf } from "./principal";

/**
 * The name prefix of a tenant's own objects, from its `tenantOf` (kept with what it creates, e.g. a job's flow key,
 * so that what runs later without the request names the same objects).
 *
 * @example
 * ownerName({ scope: "ns:acme", owner: "ns:acme" }) // "acme/ns:acme"
 */
export const ownerName = (t: { scope: string; owner?: string | undefined }): string =>
  t.owner?.startsWith("ns:") ? `${t.owner.slice(3)}/${t.scope}` : t.scope;

/**
 * @example
 * const stub = env.SCHEDULE.getByName(`${ownerOf(c)}:${name}`); // "acme/ns:acme:nightly" in namespace acme
 */
// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its identity is used
export const ownerOf = (c: Context<any>): string => ownerName(tenantOf(c));

/**
 * The tenant an `ownerName` stands for, as `tenantOf` gave it: what a schedule, which runs without the request that
 * made it, creates its jobs as.
 *
 * @example
 * tenantOfOwner("acme/ns:acme") // { scope: "ns:acme", owner: "ns:acme" }
 */
export function tenantOfOwner(name: string): { scope: string; owner: string } {
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const scope = name.slice(slash + 1);
    return { scope, owner: scope };
  }
  return { scope: name, owner: name.startsWith("token:") ? name : "root" };
}
