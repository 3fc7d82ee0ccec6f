/**
 * The local servers' dev values (`npm start`, `npm run serve`): a documented dev token and dev secrets, demo mode on,
 * and FANOUT_ALLOW_HOSTS naming the address the server itself listens on, so that the demo page's fan-outs and jobs
 * reach the worker's own demo upstream on whatever port and host it is served (and nothing else on loopback).
 */
import { networkInterfaces } from "node:os";

/** What both local servers pass as `--var`s: never a deployment's values. */
export const DEV_VARS: Readonly<Record<string, string>> = {
  API_TOKEN: "edgeloop-dev-token",
  ROOM_TICKET_SECRET: "edgeloop-dev-ticket-secret",
  FENCE_SECRET: "edgeloop-dev-fence-secret",
  JOBS_WEBHOOK_SECRET: "whsec_ZWRnZWxvb3AtZGV2LXdlYmhvb2stc2VjcmV0",
  DEMO_MODE: "true",
};

/** `host:port` as FANOUT_ALLOW_HOSTS spells it (IPv6 in brackets). */
const entry = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * The FANOUT_ALLOW_HOSTS entries that name a server listening on `ip`:`port`: loopback for `localhost` (the page maps
 * that name to 127.0.0.1), every interface's address for a wildcard, else the address itself.
 *
 * @example
 * servedHosts("localhost", 8941) // ["127.0.0.1:8941", "[::1]:8941"]
 */
export function servedHosts(ip: string, port: number): string[] {
  const host = ip.replace(/^\[|\]$/g, "");
  if (host === "localhost") return [entry("127.0.0.1", port), entry("::1", port)];
  if (host === "0.0.0.0" || host === "::" || host === "*") {
    const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
    return [...new Set(["127.0.0.1", "::1", ...addresses.map((a) => a.address.replace(/%.*$/, ""))])].map((a) =>
      entry(a, port),
    );
  }
  return [entry(host, port)];
}

/**
 * FANOUT_ALLOW_HOSTS for a local server on `ip`:`port`: the entries a caller gave (`--var FANOUT_ALLOW_HOSTS:…`), and
 * the server's own address.
 *
 * @example
 * allowHostsFor("127.0.0.1", 8941, "127.0.0.1:9000") // "127.0.0.1:9000,127.0.0.1:8941"
 */
export function allowHostsFor(ip: string, port: number, given = ""): string {
  const entries = given.split(",").map((e) => e.trim());
  return [...new Set([...entries, ...servedHosts(ip, port)].filter(Boolean))].join(",");
}

/** `NAME:VALUE` pairs (wrangler's `--var`) as a record. */
export function parseVars(pairs: Iterable<string>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const colon = pair.indexOf(":");
    if (colon < 1) throw new Error(`--var ${pair}: expected NAME:VALUE`);
    vars[pair.slice(0, colon)] = pair.slice(colon + 1);
  }
  return vars;
}
