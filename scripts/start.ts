/**
 * `npm start`: `wrangler dev --local` with the dev values (scripts/lib/dev-vars.ts: the dev token, dev secrets, demo
 * mode) and FANOUT_ALLOW_HOSTS set to the address it serves, so the demo page works on any port and host:
 *
 *   npm start                          # http://localhost:8787 (or the next free port, as wrangler picks)
 *   npm start -- --port 8941           # http://localhost:8941: the demo's fan-outs and jobs call 127.0.0.1:8941
 *   npm start -- --ip 0.0.0.0          # every interface: each address is allowed, with the port
 *   npm start -- --var FANOUT_ALLOW_HOSTS:127.0.0.1:9000   # your upstream too, besides the server's own address
 *
 * Every other argument goes to wrangler dev as is. Run by Node 22 (type stripping): `node scripts/start.ts`.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { allowHostsFor, DEV_VARS, parseVars } from "./lib/dev-vars.ts";

const root = new URL("../", import.meta.url).pathname;
const DEFAULT_PORT = 8787;

/** The value of `--name value` or `--name=value` in `args`, and `args` without it. */
function take(args: string[], name: string): { value?: string; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}`) value = args[++i];
    else if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
    else rest.push(arg);
  }
  return { value, rest };
}

/** Whether `port` is free on `host` (what wrangler checks before it falls back to the next one). */
const isFree = (port: number, host: string) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });

const args = process.argv.slice(2);
const { value: ip = "localhost", rest: afterIp } = take(args, "ip");
const { value: givenPort, rest: afterPort } = take(afterIp, "port");
// The vars given on the command line, FANOUT_ALLOW_HOSTS merged with the server's own address below.
const vars: string[] = [];
const rest: string[] = [];
for (let i = 0; i < afterPort.length; i++) {
  const arg = afterPort[i] as string;
  if (arg === "--var" && afterPort[i + 1] !== undefined) vars.push(afterPort[++i] as string);
  else if (arg.startsWith("--var=")) vars.push(arg.slice(6));
  else rest.push(arg);
}
const given = parseVars(vars);

// wrangler dev moves to the next free port when 8787 is taken: pick it here, so the allowlist names the right one.
let port = givenPort === undefined ? DEFAULT_PORT : Number(givenPort);
if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port ${givenPort}: not a port`);
if (givenPort === undefined) {
  while (port < DEFAULT_PORT + 10 && !(await isFree(port, ip === "localhost" ? "127.0.0.1" : ip))) port++;
}

const allowHosts = allowHostsFor(ip, port, given.FANOUT_ALLOW_HOSTS);
const all = { ...DEV_VARS, ...given, FANOUT_ALLOW_HOSTS: allowHosts };
const wranglerArgs = ["dev", "--local", "--ip", ip, "--port", String(port)];
for (const [name, value] of Object.entries(all)) wranglerArgs.push("--var", `${name}:${value}`);
wranglerArgs.push(...rest);

console.log(`edgeloop dev: the demo's upstream is allowed at ${allowHosts} (FANOUT_ALLOW_HOSTS)`);
const child = spawn(join(root, "node_modules/.bin/wrangler"), wranglerArgs, { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
