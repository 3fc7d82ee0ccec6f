/**
 * `npm run bench`: runs every bench/*.bench.ts scenario file in turn (or those named on the command line)
 * and writes what they print to bench/results/latest.md, to be copied into bench/RESULTS.md.
 *
 * Each scenario file exports `default async function (ctx)`, returning markdown lines.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { buildBundle } from "../scripts/lib/worker.ts";

export interface BenchContext {
  bundle: string;
}

// wrangler dev (health, rooms) would otherwise look up workers.cloudflare.com for the `cf` object: loopback only.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const dir = new URL("./", import.meta.url).pathname;
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const lines: string[] = [
  `Run ${new Date().toISOString()} on ${availableParallelism()} cores, Node ${process.version}.`,
  `Command: npm run bench${wanted.length ? ` -- ${wanted.join(" ")}` : ""}`,
  "",
];
console.log("building the worker bundle…");
const ctx: BenchContext = { bundle: buildBundle() };
for (const file of files) {
  console.log(`\n## ${file}`);
  const mod = (await import(`./${file}`)) as { default: (ctx: BenchContext) => Promise<string[]> };
  const out = await mod.default(ctx);
  console.log(out.join("\n"));
  lines.push(`## ${file}`, "", ...out, "");
}
mkdirSync(`${dir}results`, { recursive: true });
writeFileSync(`${dir}results/latest.md`, `${lines.join("\n")}\n`);
console.log(`\nwritten to bench/results/latest.md`);
process.exit(0);
