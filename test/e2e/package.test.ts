/**
 * The package as its users get it: `npm pack` (whose prepack builds dist/), the tarball installed into a fresh
 * project outside this one, and a TypeScript program there that imports `edgeloop/client`, is type-checked against
 * the installed declarations (strict, Node's module resolution, library declarations checked too), compiled by tsc
 * (which turns `await using` into code Node 22 runs) and run with plain Node against the built worker: a lock held
 * with `await using`, a fenced increment, a streamed fan-out broken off early, a job's results iterated.
 *
 * Offline: the tarball's dependencies are installed by `npm ci --offline` from a lockfile written here with this
 * project's own entries for them (package-lock.json), so npm takes them from its cache, which installing this
 * project filled; no registry is asked. (`npm install --offline <tarball>` would need the registry's package
 * documents, which `npm ci` does not cache.)
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../bench/lib/upstream.ts";
import { type JobsUpstream, startJobsUpstream } from "../setup/jobs-upstream.ts";
import { useWorker } from "./support/worker.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules/.bin", name);
/** npm's scripts (prepack) find Node 22 and the toolchain first, as under `npm test`. */
const env = { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}` };

let upstream: Upstream;
let jobsUpstream: JobsUpstream;
let project: string;
beforeAll(async () => {
  upstream = await startUpstream();
  jobsUpstream = await startJobsUpstream();
  project = mkdtempSync(join(tmpdir(), "edgeloop-package-"));
});
afterAll(async () => {
  await upstream?.close();
  await jobsUpstream?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

const worker = useWorker({
  FANOUT_ALLOW_HOSTS: "127.0.0.1",
  FENCE_SECRET: "e2e-fence-secret",
  ROOM_TICKET_SECRET: "e2e-ticket-secret",
});

interface LockFile {
  packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
}

/** A lockfile for a project depending on the tarball alone: the tarball, and this project's entries of its dependencies. */
function lockfileFor(tarball: string): string {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown>;
  const ours = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as LockFile;
  const integrity = `sha512-${createHash("sha512")
    .update(readFileSync(join(project, tarball)))
    .digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "edgeloop-user", dependencies: { edgeloop: `file:${tarball}` } },
    "node_modules/edgeloop": {
      version: pkg.version,
      resolved: `file:${tarball}`,
      integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) {
    if (path.startsWith("node_modules/") && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  return JSON.stringify({ name: "edgeloop-user", lockfileVersion: 3, requires: true, packages }, null, 2);
}

/** The user's program: TypeScript, compiled by tsc, run by plain Node. */
const PROGRAM = `
import { createClient, EdgeloopError, type FanoutResult } from "edgeloop/client";
import { sleep } from "edgeloop/async";

declare const process: { env: Record<string, string>; exitCode?: number };
const { EDGELOOP_URL, EDGELOOP_TOKEN, UPSTREAM, JOBS_UPSTREAM, RUN } = process.env;
const client = createClient({ baseUrl: EDGELOOP_URL, token: EDGELOOP_TOKEN });

const report: Record<string, unknown> = {};
{
  await using lease = await client.lock(\`lock-\${RUN}\`).acquire({ ttlMs: 10_000 });
  const counter = await client.counter(\`counter-\${RUN}\`).increment(1, { fence: lease });
  report.lock = { token: lease.token, fenced: lease.fence?.lock, value: counter.value };
}
report.afterDispose = (await client.lock(\`lock-\${RUN}\`).status()).holder;

const seen: string[] = [];
for await (const result of client.fanout.stream([
  { id: "quick", url: \`\${UPSTREAM}/quick\` },
  { id: "held", url: \`\${UPSTREAM}/held?gate=\${RUN}\` },
])) {
  const r: FanoutResult = result;
  seen.push(r.id);
  break;
}
report.streamed = seen;

const job = await client.jobs.create({
  type: "fanout",
  requests: [0, 1, 2].map((i) => ({ url: \`\${JOBS_UPSTREAM}/\${RUN}/\${i}\` })),
});
report.job = (await client.jobs.wait(job.id)).state;
const indices: number[] = [];
for await (const result of client.jobs.results(job.id, { pageSize: 1 })) indices.push(result.index);
report.results = indices;

const refused = await client.counter("not a name").get().catch((e: unknown) => e);
report.error = refused instanceof EdgeloopError ? refused.status : String(refused);
await sleep(1);
console.log(JSON.stringify(report));
`;

describe("the packed package in a fresh project", () => {
  it("installs offline, type-checks with its declarations, and runs with plain Node against the worker", async () => {
    const { stdout: packed } = await run("npm", ["pack", "--pack-destination", project], { cwd: root, env });
    const tarball = packed.trim().split("\n").at(-1) as string;
    expect(tarball).toBe("edgeloop-0.1.0.tgz");
    const { stdout: listing } = await run("tar", ["-tzf", join(project, tarball)]);
    const files = listing.trim().split("\n");
    expect(files).toEqual(expect.arrayContaining(["package/dist/client/index.js", "package/dist/client/index.d.ts"]));
    // The package ships what it built, not the service's sources.
    expect(files.filter((f) => /^package\/(src|functions|test)\//.test(f))).toEqual([]);

    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "edgeloop-user",
        private: true,
        type: "module",
        dependencies: { edgeloop: `file:${tarball}` },
      }),
    );
    writeFileSync(join(project, "package-lock.json"), lockfileFor(tarball));
    await run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project, env });

    writeFileSync(join(project, "main.ts"), PROGRAM);
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: "es2022",
          module: "nodenext",
          lib: ["es2023", "dom", "esnext.disposable"],
          types: [],
          skipLibCheck: false,
        },
        files: ["main.ts"],
      }),
    );
    const compiled = await run(bin("tsc"), ["-p", project]).catch((err: { stdout?: string }) => err);
    expect("stdout" in compiled ? compiled.stdout : "").toBe("");

    const runId = crypto.randomUUID().slice(0, 8);
    const { stdout } = await run(bin("node"), [join(project, "main.js")], {
      cwd: project,
      env: {
        ...process.env,
        EDGELOOP_URL: worker.url,
        EDGELOOP_TOKEN: worker.token,
        UPSTREAM: upstream.url,
        JOBS_UPSTREAM: jobsUpstream.url,
        RUN: runId,
      },
      timeout: 60_000,
    });
    // The program ended while the fan-out's held call was still at its gate: leaving the loop let go of the request.
    expect(upstream.gate(runId)).toMatchObject({ open: false, released: 0 });
    upstream.openGate(runId);
    expect(JSON.parse(stdout)).toEqual({
      lock: { token: 1, fenced: `lock-${runId}`, value: 1 },
      afterDispose: null,
      streamed: ["quick"],
      job: "succeeded",
      results: [0, 1, 2],
      error: 400,
    });
  }, 180_000);
});
