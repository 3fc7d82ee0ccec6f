/**
 * The client package (packages/client) as its users get it: `npm pack` (whose prepack builds dist/), `npm publish
 * --dry-run` (name, version, license, files, README), the tarball installed into a fresh project outside this one,
 * whose node_modules then holds the client and what it runs on (partysocket) and nothing of the server (no hono, no
 * zod). A TypeScript program there that imports `edgeloop/client` is type-checked against the installed declarations
 * (strict, Node's module resolution, library declarations checked too: they need nothing that is not installed),
 * compiled by tsc (which turns `await using` into code Node 22 runs) and run with plain Node against the built
 * worker: a lock held with `await using`, a fenced increment, a streamed fan-out broken off early, a job's results
 * iterated, a room round trip, and errors that say what they are.
 *
 * Offline: the tarball's dependencies are installed by `npm ci --offline` from a lockfile written here from the
 * tarball's own package.json, resolved through this project's entries for them (package-lock.json), so npm takes
 * them from its cache, which installing this project filled; no registry is asked. (`npm install --offline <tarball>`
 * would need the registry's package documents, which `npm ci` does not cache.) `npm publish --dry-run` is pointed at
 * a closed loopback port, so it could not reach a registry if it tried.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../bench/lib/upstream.ts";
import { type JobsUpstream, startJobsUpstream } from "../setup/jobs-upstream.ts";
import { useWorker } from "./support/worker.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const pkgDir = join(root, "packages/client");
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

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface Manifest {
  name: string;
  version: string;
  license: string;
  dependencies?: Record<string, string>;
}

/**
 * A lockfile for a project depending on the tarball alone: the tarball, and what its package.json says it needs,
 * resolved (with what those need, non-optional peers included, as npm does) through this project's lockfile.
 */
function lockfileFor(tarball: string, manifest: Manifest): string {
  const ours = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const integrity = `sha512-${createHash("sha512")
    .update(readFileSync(join(project, tarball)))
    .digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "edgeloop-user", dependencies: { edgeloop: `file:${tarball}` } },
    "node_modules/edgeloop": {
      version: manifest.version,
      resolved: `file:${tarball}`,
      integrity,
      license: manifest.license,
      dependencies: manifest.dependencies,
    },
  };
  const wanted = Object.keys(manifest.dependencies ?? {});
  for (let name = wanted.shift(); name !== undefined; name = wanted.shift()) {
    const path = `node_modules/${name}`;
    if (path in packages) continue;
    const entry = ours.packages[path];
    if (!entry) throw new Error(`${name} is not in package-lock.json: the install would need the registry`);
    packages[path] = entry;
    wanted.push(...Object.keys(entry.dependencies ?? {}));
    for (const peer of Object.keys(entry.peerDependencies ?? {})) {
      if (!entry.peerDependenciesMeta?.[peer]?.optional) wanted.push(peer);
    }
  }
  return JSON.stringify({ name: "edgeloop-user", lockfileVersion: 3, requires: true, packages }, null, 2);
}

/** The packages in a node_modules folder (scoped ones as `@scope/name`), sorted. */
function installed(modules: string): string[] {
  return readdirSync(modules)
    .filter((name) => !name.startsWith("."))
    .flatMap((name) => (name.startsWith("@") ? readdirSync(join(modules, name)).map((n) => `${name}/${n}`) : [name]))
    .sort();
}

/** The user's program: TypeScript, compiled by tsc, run by plain Node. */
const PROGRAM = `
import { createClient, EdgeloopError, type FanoutResult, type WelcomeFrame } from "edgeloop/client";
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
// What Node prints for it: its own name, not a bundler's rename.
report.errorName = refused instanceof Error ? refused.constructor.name : typeof refused;

// A room round trip: the welcome, a message and its ack, the message read back, the socket closed by close().
const room = client.room(\`room-\${RUN}\`, "ada");
const welcome: WelcomeFrame = await room.ready;
const ack = await room.send({ text: "hello" });
const read: unknown[] = [];
for await (const message of room) {
  read.push([message.seq, message.from, message.data]);
  break;
}
await room.close();
report.room = { members: welcome.members, ack: ack.seq, read };

const nowhere = createClient({ baseUrl: "http://127.0.0.1:9", token: "a-secret-token", retry: false });
const unreachable = await nowhere.counter("c").get().catch((e: unknown) => e);
report.unreachable = unreachable instanceof Error ? unreachable.message : String(unreachable);
await sleep(1);
console.log(JSON.stringify(report));
`;

describe("the client package in a fresh project", () => {
  it("packs, passes npm publish --dry-run, installs offline with no server dependency, type-checks, and runs with plain Node", async () => {
    const { stdout: packed } = await run("npm", ["pack", "--pack-destination", project], { cwd: pkgDir, env });
    const tarball = packed.trim().split("\n").at(-1) as string;
    expect(tarball).toBe("edgeloop-0.1.0.tgz");
    const { stdout: listing } = await run("tar", ["-tzf", join(project, tarball)]);
    const files = listing.trim().split("\n");
    expect(files).toEqual(
      expect.arrayContaining([
        "package/package.json",
        "package/README.md",
        "package/LICENSE",
        "package/dist/client/index.js",
        "package/dist/client/index.d.ts",
        "package/dist/async/index.js",
      ]),
    );
    // The package ships what it built and its own papers, not the service's sources.
    expect(files.filter((f) => !/^package\/(dist\/.*|package\.json|README\.md|LICENSE)$/.test(f))).toEqual([]);
    const { stdout: manifestText } = await run("tar", ["-xzOf", join(project, tarball), "package/package.json"]);
    const manifest = JSON.parse(manifestText) as Manifest;
    // Its dependencies are what the client imports at run time, at the versions the service is tested with.
    const service = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;
    expect(manifest.dependencies).toEqual({ partysocket: service.dependencies?.partysocket });
    expect(manifest).toMatchObject({ name: "edgeloop", license: "MIT", version: service.version });

    // Publishable as it is (a closed loopback port as the registry: nothing leaves this machine).
    const published = await run(
      "npm",
      ["publish", "--dry-run", "--ignore-scripts", "--registry", "http://127.0.0.1:9/"],
      { cwd: pkgDir, env },
    );
    expect(`${published.stdout}${published.stderr}`).toContain("+ edgeloop@0.1.0");

    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({
        name: "edgeloop-user",
        private: true,
        type: "module",
        dependencies: { edgeloop: `file:${tarball}` },
      }),
    );
    writeFileSync(join(project, "package-lock.json"), lockfileFor(tarball, manifest));
    await run("npm", ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project, env });
    // The client and what it runs on; nothing of the server (hono, @hono/zod-openapi, zod, @hyperjump/json-pointer).
    const modules = installed(join(project, "node_modules"));
    expect(modules).toEqual(["edgeloop", "event-target-polyfill", "partysocket"]);
    for (const server of Object.keys(service.dependencies ?? {}).filter((d) => d !== "partysocket")) {
      expect(modules).not.toContain(server);
    }

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
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toEqual({
      lock: { token: 1, fenced: `lock-${runId}`, value: 1 },
      afterDispose: null,
      streamed: ["quick"],
      job: "succeeded",
      results: [0, 1, 2],
      error: 400,
      errorName: "EdgeloopError",
      room: { members: ["ada"], ack: 1, read: [[1, "ada", { text: "hello" }]] },
      unreachable: expect.stringMatching(
        /^could not reach http:\/\/127\.0\.0\.1:9\/v1\/counters\/c \(fetch failed.*\): check the client's baseUrl/,
      ),
    });
    expect(report.unreachable).not.toContain("a-secret-token");
  }, 180_000);
});
