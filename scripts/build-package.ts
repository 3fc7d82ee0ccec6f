/**
 * Builds dist/ (git-ignored), what the package's exports point at, so that `edgeloop/client` and `edgeloop/async`
 * work in plain Node and in any bundler: one ES module per entry (esbuild; dependencies such as partysocket stay
 * imports, the package's own code is bundled in) and the declarations (tsc with tsconfig.client.json, which also
 * emits those of the schema modules the client's types come from). npm runs it as `prepack`, so `npm pack` and
 * `npm publish` always ship it as the source is.
 *
 * Run by Node 22 (type stripping): `node scripts/build-package.ts`.
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("../", import.meta.url).pathname;
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });

const { metafile } = await build({
  entryPoints: { "client/index": `${root}src/client/index.ts`, "async/index": `${root}src/async/index.ts` },
  outdir: dist,
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  packages: "external",
  metafile: true,
  logLevel: "warning",
});

// The client's types come from zod schemas by `import type`: no schema (and so no zod) may end up in the code, only
// the client, edgeloop/async and the wings' protocol files (plain TypeScript: frames and their parsers).
const bundled = Object.keys(metafile.inputs).filter(
  (input) => !/^src\/(client|async)\//.test(input) && !/^src\/[a-z-]+\/protocol\.ts$/.test(input),
);
if (bundled.length > 0) throw new Error(`dist/ would bundle modules outside the client's reach: ${bundled.join(", ")}`);

execFileSync(
  join(root, "node_modules/.bin/tsc"),
  ["-p", "tsconfig.client.json", "--noEmit", "false", "--declaration", "--emitDeclarationOnly", "--outDir", dist],
  { cwd: root, stdio: "inherit" },
);
console.log("built dist/ (client, async: ES modules and declarations)");
