/**
 * `npm start` as a user runs it, for the e2e tests that need wrangler dev itself: started in a process group of its
 * own (so that a test can signal npm, node scripts/start.ts, wrangler and workerd at once), its output collected,
 * ready once /healthz answers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { freePort } from "../../../scripts/lib/worker.ts";
import { until } from "./until.ts";

const root = new URL("../../../", import.meta.url).pathname;

export interface NpmStart {
  child: ChildProcess;
  /** Resolves when the process (npm) has exited. */
  exited: Promise<void>;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * `npm start -- --port <free port> --persist-to <persistTo> ...args`, with wrangler's banner, metrics and
 * `Request.cf` lookup off; `env` adds to the environment. Resolves once /healthz answers; rejects with its output if
 * it exits first (or stops it and rejects if it does not answer in 90 s).
 *
 * @example
 * const started = await npmStart({ persistTo: state, args: ["--var", "FANOUT_ALLOW_HOSTS:127.0.0.1:8080"] });
 * await fetch(`${started.url}/healthz`);
 * await stopGroup(started, "SIGTERM");
 */
export async function npmStart({
  persistTo,
  args = [],
  env = {},
}: {
  persistTo: string;
  args?: string[];
  env?: Record<string, string>;
}): Promise<NpmStart> {
  const port = await freePort();
  const child = spawn("npm", ["start", "--", "--port", String(port), "--persist-to", persistTo, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: {
      ...process.env,
      WRANGLER_HIDE_BANNER: "true",
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      ...env,
    },
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const started: NpmStart = { child, exited, port, url: `http://127.0.0.1:${port}`, output: () => output };
  try {
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
        return fetch(`${started.url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      "npm start to serve",
      { timeoutMs: 90_000, intervalMs: 250 },
    );
  } catch (err) {
    // Not left running behind a failed test.
    await stopGroup(started, "SIGTERM");
    throw err;
  }
  return started;
}

/**
 * Send `signal` to its whole process group (unless npm has exited) and wait for npm to exit. SIGKILL is `kill -9`:
 * nothing gets to shut down, flush or say goodbye.
 */
export async function stopGroup(started: NpmStart, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  const { child } = started;
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
  await started.exited;
}
