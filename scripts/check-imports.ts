/**
 * The layout check of `npm run lint`: every import in `src/` and `functions/` follows the rules of the wings
 * (README, "Layout"), and no two wings import each other in a loop. Prints each import that breaks a rule and exits 1.
 *
 * - `src/async/` imports only itself (and nothing of the platform: no `cloudflare:` module).
 * - `src/settings.ts` imports only packages; `src/http/` imports itself, `src/async/` and `src/settings.ts`.
 * - A wing `src/<family>/` imports its own files, `src/http/`, `src/async/`, `src/settings.ts`, and another wing
 *   only through that wing's `index.ts`. Its wire files (`schema.ts`, `protocol.ts`: platform-free) import only
 *   packages, other wire files and `src/http/schemas.ts`, so the client can import them without the rest.
 * - `src/client/` imports itself, `src/async/`, the wings' wire files and `src/http/schemas.ts`.
 * - `functions/` imports itself, `src/http/`, `src/async/`, `src/settings.ts`, `package.json` and each wing through
 *   its `index.ts`; nothing in `src/` imports `functions/`.
 *
 * Run by Node 22 (type stripping): `node scripts/check-imports.ts`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const root = normalize(join(new URL("../", import.meta.url).pathname));
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;
const WIRE = /^src\/[a-z-]+\/(schema|protocol)\.ts$/;

const walk = (dir: string): string[] =>
  readdirSync(join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(root, path)).isDirectory() ? walk(path) : /\.ts$/.test(name) ? [path] : [];
  });

/** The repository path an import names (relative ones resolved; `.js` written for `.ts` files), or the package. */
function target(from: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  const path = relative(root, join(root, dirname(from), spec)).replace(/\.js$/, ".ts");
  if (/\.(ts|json)$/.test(path)) return path;
  try {
    if (statSync(join(root, path)).isDirectory()) return `${path}/index.ts`;
  } catch {}
  return `${path}.ts`;
}

/** `src/<wing>/…` → wing, for the family folders (not async, http, client). */
const SHARED = new Set(["async", "http", "client"]);
const wingOf = (path: string): string | undefined => {
  const m = /^src\/([a-z-]+)\//.exec(path);
  return m?.[1] && !SHARED.has(m[1]) ? m[1] : undefined;
};

const isShared = (to: string) => to.startsWith("src/http/") || to.startsWith("src/async/") || to === "src/settings.ts";

/** Why importing `to` from `from` breaks a rule, or undefined when it does not. */
function broken(from: string, to: string): string | undefined {
  const pkg = !to.startsWith("src/") && !to.startsWith("functions/") && to !== "package.json";
  if (to.startsWith("cloudflare:") && from.startsWith("src/async/"))
    return "src/async/ imports nothing of the platform";
  if (from.startsWith("src/async/"))
    return pkg || to.startsWith("src/async/") ? undefined : "src/async/ imports only itself";
  if (from === "src/settings.ts") return pkg ? undefined : "src/settings.ts imports only packages";
  if (to.startsWith("functions/") && from.startsWith("src/")) return "src/ never imports functions/";
  if (pkg) return undefined;
  if (from.startsWith("src/http/")) {
    return isShared(to) || to === "package.json" ? undefined : "src/http/ imports only src/http, src/async, settings";
  }
  if (from.startsWith("src/client/")) {
    return to.startsWith("src/client/") || to.startsWith("src/async/") || WIRE.test(to) || to === "src/http/schemas.ts"
      ? undefined
      : "the client imports only itself, src/async and wire files (schema.ts, protocol.ts)";
  }
  if (WIRE.test(from)) {
    return WIRE.test(to) || to === "src/http/schemas.ts"
      ? undefined
      : "a wire file imports only packages, other wire files and src/http/schemas.ts";
  }
  const wing = wingOf(from);
  if (wing || from.startsWith("functions/")) {
    if (isShared(to)) return undefined;
    if (from.startsWith("functions/") && (to.startsWith("functions/") || to === "package.json")) return undefined;
    const other = wingOf(to);
    if (other && other === wing) return undefined;
    if (other && to === `src/${other}/index.ts`) return undefined;
    return other ? `another wing only through src/${other}/index.ts` : "not a layer this file may import";
  }
  return undefined;
}

const problems: string[] = [];
const edges = new Map<string, Set<string>>();
for (const file of [...walk("src"), ...walk("functions")]) {
  for (const [, spec] of readFileSync(join(root, file), "utf8").matchAll(IMPORT)) {
    if (!spec) continue;
    const to = target(file, spec);
    const why = broken(file, to);
    if (why) problems.push(`${file} imports ${to}: ${why}`);
    const [a, b] = [wingOf(file), wingOf(to)];
    if (a && b && a !== b) edges.set(a, (edges.get(a) ?? new Set()).add(b));
  }
}

/** Wing loops, found by a depth-first walk (each printed once, from its first wing in the walk). */
const state = new Map<string, "open" | "done">();
const visit = (wing: string, path: string[]) => {
  state.set(wing, "open");
  for (const next of edges.get(wing) ?? []) {
    if (state.get(next) === "open")
      problems.push(`wings import each other in a loop: ${[...path, wing, next].join(" → ")}`);
    else if (!state.has(next)) visit(next, [...path, wing]);
  }
  state.set(wing, "done");
};
for (const wing of edges.keys()) if (!state.has(wing)) visit(wing, []);

if (problems.length > 0) {
  console.error(`check:imports: ${problems.length} import(s) break the layout rules:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
const order = [...edges].map(([a, bs]) => `${a} → ${[...bs].sort().join(", ")}`).sort();
console.log(`check:imports: ok (wings that use another: ${order.join("; ")})`);
