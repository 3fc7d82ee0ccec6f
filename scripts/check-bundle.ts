/**
 * The bundle check of `npm test` (`npm run check:bundle`): after `wrangler deploy --dry-run --outdir <dir>
 * --metafile <dir>/meta.json`, fails when the upload grows past its limits, prints the size by package, checks
 * that every wrangler.toml `[alias]` (which trims zod) still matches, and only inside zod, and that wrangler.toml's
 * migrations create exactly the Durable Object classes the Worker exports (scripts/lib/migrations.ts).
 *
 * Sizes are counted as wrangler's "Total Upload" line counts them: every module file, raw and gzipped together.
 * Workers parse the whole script at every cold start; see bench/RESULTS.md ("Bundle") for the figures.
 *
 * Run by Node 22 (type stripping): `node scripts/check-bundle.ts [outdir]` (default .wrangler/dry-run).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parse } from "smol-toml";
import { type DurableObjectConfig, ENTRYPOINTS, migrationProblems } from "./lib/migrations.ts";

/**
 * Largest upload, raw and gzipped, in KiB. Raised from 350 / 100 when this round's families (flow keys, schedules with
 * croner, tokens, job timing, room kinds, the service binding) took the bundle to about 130 KiB gzip, after the cold
 * start was measured there (bench/RESULTS.md, startup.bench.ts): the platform's own limits are megabytes; what the
 * budget guards is the time a new isolate spends on the script, and it is measured again with every raise.
 */
export const MAX_UPLOAD_KIB = 500;
export const MAX_GZIP_KIB = 150;

const root = new URL("../", import.meta.url).pathname;
const MODULE = /\.(m?js|cjs|wasm)$/;

interface Metafile {
  inputs: Record<string, { imports: { path: string; original?: string }[] }>;
  outputs: Record<
    string,
    { entryPoint?: string; exports?: string[]; inputs: Record<string, { bytesInOutput: number }> }
  >;
}

/** Raw and gzipped size of the modules in `outdir`, as wrangler reports them. */
export function uploadSize(outdir: string): { bytes: number; gzipBytes: number } {
  const modules = readdirSync(outdir)
    .filter((f) => MODULE.test(f))
    .map((f) => readFileSync(join(outdir, f)));
  const all = Buffer.concat(modules);
  return { bytes: all.length, gzipBytes: gzipSync(all).length };
}

/** Bytes of the bundle per npm package (node_modules/<pkg>) or per folder of ours (functions/, src/<dir>/). */
export function sizeByPackage(meta: Metafile): [string, number][] {
  const output = Object.values(meta.outputs).find((o) => o.entryPoint);
  if (!output) throw new Error("the metafile has no entry point output");
  const sizes = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//)?.[1];
    const folder = path.match(/^(?:src\/[^/]+\/|(?!src\/)[^/]+\/)/)?.[0];
    const key = pkg ?? folder ?? path;
    sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput);
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}

/**
 * Problems with the `[alias]` entries: each must replace at least one import (an alias that no longer matches would
 * silently bring the whole of zod back), and a relative one only imports made by zod (specifiers such as
 * "./compile.js", which any package could use; the bare "zod" means the package itself).
 */
export function aliasProblems(meta: Metafile, aliases: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [specifier, target] of Object.entries(aliases)) {
    const importers = Object.entries(meta.inputs)
      .filter(([, input]) => input.imports.some((i) => i.original === specifier))
      .map(([path]) => path);
    if (importers.length === 0) problems.push(`[alias] "${specifier}" matched no import: zod changed; update it`);
    // A bare "zod" means the package wherever it is imported; a relative specifier only inside zod.
    const outside = specifier.startsWith(".") ? importers.filter((p) => !p.includes("node_modules/zod/")) : [];
    for (const path of outside) {
      problems.push(`[alias] "${specifier}" (→ ${target}) also replaced an import of ${path}`);
    }
  }
  return problems;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;

/** The breakdown as a markdown table (for bench/RESULTS.md). */
export function breakdownTable(rows: [string, number][]): string[] {
  const total = rows.reduce((sum, [, bytes]) => sum + bytes, 0);
  return [
    "| package or folder | minified KiB | share |",
    "| --- | ---: | ---: |",
    ...rows.map(
      ([name, bytes]) => `| ${name} | ${(bytes / 1024).toFixed(1)} | ${((100 * bytes) / total).toFixed(1)} % |`,
    ),
  ];
}

if (import.meta.main) {
  const outdir = join(root, process.argv[2] ?? ".wrangler/dry-run");
  const meta = JSON.parse(readFileSync(join(outdir, "meta.json"), "utf8")) as Metafile;
  const config = parse(readFileSync(join(root, "wrangler.toml"), "utf8")) as DurableObjectConfig & {
    alias?: Record<string, string>;
  };
  const { bytes, gzipBytes } = uploadSize(outdir);

  console.log(breakdownTable(sizeByPackage(meta)).join("\n"));
  const sizes = `upload ${kib(bytes)} (limit ${MAX_UPLOAD_KIB} KiB), gzip ${kib(gzipBytes)} (limit ${MAX_GZIP_KIB} KiB)`;
  const problems = aliasProblems(meta, config.alias ?? {});
  const exported = Object.values(meta.outputs).find((o) => o.entryPoint)?.exports ?? [];
  problems.push(...migrationProblems(config, exported, ENTRYPOINTS).map((p) => `wrangler.toml migrations: ${p}`));
  if (bytes > MAX_UPLOAD_KIB * 1024 || gzipBytes > MAX_GZIP_KIB * 1024) {
    problems.push(`the bundle grew past its limits: ${sizes}. See the table above for what takes the room.`);
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`check:bundle: ${p}`);
    process.exit(1);
  }
  console.log(`check:bundle: ${sizes}; migrations create exactly the exported classes: ok`);
}
