/**
 * The OpenAPI document the built worker serves, checked with tools no one here wrote, as a caller would:
 *  - Redocly CLI's recommended lint: no error, no warning, and only the two reviewed exceptions of
 *    .redocly.lint-ignore.yaml ignored; with a preload that reports any socket or DNS lookup, to prove it ran offline;
 *  - openapi-typescript, run as its users run it (its CLI): types generated from the document must type-check a
 *    small typed client (TypeScript 7, strict) that then runs against the worker. The same client against a document with one response field renamed
 *    must not type-check, so the document and the server cannot drift apart unnoticed.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { useWorker } from "./support/worker.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules/.bin", name);
/** The tools' scripts run on the project's Node 22, as under `npm test`. */
const env = { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}` };
/** Where the document is written: the path .redocly.lint-ignore.yaml names. */
const dir = join(root, ".wrangler/openapi");
const documentPath = join(dir, "openapi.json");

const worker = useWorker();
let document: OpenApiDocument;

interface OpenApiDocument {
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
}

beforeAll(async () => {
  const res = await fetch(`${worker.url}/openapi.json`);
  expect(res.status).toBe(200);
  const text = await res.text();
  document = JSON.parse(text) as OpenApiDocument;
  mkdirSync(dir, { recursive: true });
  writeFileSync(documentPath, text);
});

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
}

/** What a caller of the API writes with the generated types (plain `paths[...]` types, no client library). */
const TYPED_CLIENT = `
import type { components, paths } from "./schema.js";

type Increment = paths["/v1/counters/{name}/increment"]["post"];
type IncrementBody = Increment["requestBody"]["content"]["application/json"];
type Counter = Increment["responses"][200]["content"]["application/json"];
type Health = components["schemas"]["Health"];

async function call<T>(url: string, init: RequestInit, status: number): Promise<T> {
  const res = await fetch(url, init);
  if (res.status !== status) throw new Error(\`\${url}: \${res.status} \${await res.text()}\`);
  return (await res.json()) as T;
}

export async function incrementCounter(
  base: string,
  token: string,
  name: Increment["parameters"]["path"]["name"],
  body: IncrementBody,
): Promise<Counter> {
  return call<Counter>(\`\${base}/v1/counters/\${encodeURIComponent(name)}/increment\`, {
    method: "POST",
    headers: { authorization: \`Bearer \${token}\`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }, 200);
}

export async function main(base: string, token: string, name: string) {
  const counter = await incrementCounter(base, token, name, { by: 2, max: 10 });
  const value: number = counter.value;
  const updatedAt: number | null = counter.updatedAt;
  const health = await call<Health>(\`\${base}/healthz\`, {}, 200);
  const status: "ok" = health.status;
  return { name: counter.name, value, updated: updatedAt !== null, status, version: health.version };
}
`;

/** Generate types from `doc` next to the typed client, and type-check both with the project's TypeScript (7). */
async function typeCheck(doc: OpenApiDocument, into: string): Promise<{ ok: boolean; output: string }> {
  mkdirSync(into, { recursive: true });
  writeFileSync(join(into, "openapi.json"), JSON.stringify(doc));
  // The standard command, as docs/api.md gives it (`npx openapi-typescript openapi.json -o schema.d.ts`).
  await run(bin("openapi-typescript"), [join(into, "openapi.json"), "-o", join(into, "schema.d.ts")], { env });
  writeFileSync(join(into, "client.ts"), TYPED_CLIENT);
  writeFileSync(
    join(into, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "es2023",
        module: "nodenext",
        lib: ["es2023", "dom"],
        types: [],
      },
      files: ["client.ts"],
    }),
  );
  try {
    await run(bin("tsc"), ["-p", into]);
    return { ok: true, output: "" };
  } catch (err) {
    return { ok: false, output: String((err as { stdout?: string }).stdout ?? err) };
  }
}

describe("the served OpenAPI document", () => {
  it("names every operation with a unique camelCase operationId", () => {
    const ids = Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(ids.length).toBeGreaterThanOrEqual(25);
    for (const id of ids) expect(id).toMatch(/^[a-z]+[A-Z][A-Za-z]*$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(["incrementCounter", "acquireLock", "createJob", "joinRoom"]));
  });

  it("passes Redocly's recommended lint with no error and no warning, offline", async () => {
    const { stdout, stderr } = await run(bin("redocly"), ["lint", documentPath, "--format=json"], {
      cwd: root,
      env: {
        ...process.env,
        // Redocly's documented opt-outs: usage data and the update check (the preload proves nothing else is sent).
        REDOCLY_TELEMETRY: "off",
        REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
        NODE_OPTIONS: `--import=${pathToFileURL(join(root, "test/e2e/support/no-network.mjs")).href}`,
      },
    });
    const report = JSON.parse(stdout) as LintReport;
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 2 });
    // The two ignored are the reviewed exceptions, and the ignore file lists nothing else.
    const ignoreFile = readFileSync(join(root, ".redocly.lint-ignore.yaml"), "utf8");
    expect([...ignoreFile.matchAll(/^ {4}- ["'](#[^"']+)["']$/gm)].map((m) => m[1])).toEqual([
      "#/paths/~1healthz/get/responses",
      "#/paths/~1v1~1rooms~1{room}~1ws/get/responses",
    ]);
    expect(stderr).not.toMatch(/^network:/m);
  });

  it("generates types with openapi-typescript that a typed client type-checks against, and that client works", async () => {
    const into = join(dir, "served");
    const { ok, output } = await typeCheck(document, into);
    expect(output).toBe("");
    expect(ok).toBe(true);
    const client = (await import(pathToFileURL(join(into, "client.ts")).href)) as {
      main(base: string, token: string, name: string): Promise<Record<string, unknown>>;
    };
    const name = `typed-${crypto.randomUUID().slice(0, 8)}`;
    expect(await client.main(worker.url, worker.token, name)).toMatchObject({
      name,
      value: 2,
      updated: true,
      status: "ok",
    });
  }, 60_000);

  it("would not type-check the same client if a response field were renamed in the document", async () => {
    const drifted = structuredClone(document);
    const counter = drifted.components.schemas.CounterValue;
    if (!counter?.properties?.value || !counter.required) throw new Error("CounterValue.value is not in the document");
    counter.properties.count = counter.properties.value;
    delete counter.properties.value;
    counter.required = counter.required.map((field) => (field === "value" ? "count" : field));
    const { ok, output } = await typeCheck(drifted, join(dir, "drifted"));
    expect(ok).toBe(false);
    expect(output).toMatch(/client\.ts.*Property 'value' does not exist/);
  }, 60_000);
});
