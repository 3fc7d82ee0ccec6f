/**
 * Builds packages/client/dist/ (git-ignored), what the client package's exports point at, so that `edgeloop/client`
 * and `edgeloop/async` work in plain Node and in any bundler: one ES module per entry (esbuild; partysocket stays an
 * import, the package's own code is bundled in) and the declarations (tsc with tsconfig.client.json). It also copies
 * the repository's LICENSE into the package. npm runs it as the package's `prepack`, so `npm pack` and `npm publish`
 * in packages/client always ship it as the source is.
 *
 * It refuses to build a package that would need the server: code from outside the client's reach (the client,
 * edgeloop/async and the wings' protocol files), or a declaration importing anything but the package's own files and
 * its dependencies (a consumer type-checks those with nothing else installed).
 *
 * Run by Node 22 (type stripping): `node scripts/build-package.ts`.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = new URL("../", import.meta.url).pathname;
const pkgDir = join(root, "packages/client");
const dist = join(pkgDir, "dist");
rmSync(dist, { recursive: true, force: true });

const { metafile } = await build({
  entryPoints: { "client/index": `${root}src/client/index.ts`, "async/index": `${root}src/async/index.ts` },
  outdir: dist,
  absWorkingDir: root,
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  packages: "external",
  // Class names as written: a bundler's rename would make Node print `_EdgeloopError` for an EdgeloopError.
  keepNames: true,
  metafile: true,
  logLevel: "warning",
});

const bundled = Object.keys(metafile.inputs).filter(
  (input) => !/^src\/(client|async)\//.test(input) && !/^src\/[a-z-]+\/protocol\.ts$/.test(input),
);
if (bundled.length > 0) throw new Error(`dist/ would bundle modules outside the client's reach: ${bundled.join(", ")}`);

execFileSync(
  join(root, "node_modules/.bin/tsc"),
  ["-p", "tsconfig.client.json", "--noEmit", "false", "--declaration", "--emitDeclarationOnly", "--outDir", dist],
  { cwd: root, stdio: "inherit" },
);

const { dependencies = {} } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
};
/** The package a bare specifier names (`@scope/name` or `name`, without a subpath). */
const packageOf = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");
const declarations = readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".d.ts"));
for (const file of declarations) {
  const text = readFileSync(join(dist, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
    if (specifier?.startsWith(".") || (specifier && packageOf(specifier) in dependencies)) continue;
    throw new Error(`${relative(root, join(dist, file))} imports "${specifier}", which the package does not bring`);
  }
}

copyFileSync(join(root, "LICENSE"), join(pkgDir, "LICENSE"));
console.log(`built ${relative(root, dist)}/ (client, async: ES modules and ${declarations.length} declaration files)`);
