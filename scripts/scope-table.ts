/**
 * Writes the table of scopes per route into docs/api.md from the OpenAPI document of the built worker (served on
 * Miniflare for the moment it takes): run it after adding or changing a route. `npm run docs:scopes`
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type OpenApiPaths, scopeTable, withTable } from "./lib/scope-table.ts";
import { buildBundle, startMiniflare } from "./lib/worker.ts";

const root = new URL("../", import.meta.url).pathname;
const page = join(root, "docs/api.md");
const worker = await startMiniflare(buildBundle());
try {
  const doc = (await (await fetch(`${worker.url}/openapi.json`)).json()) as OpenApiPaths;
  writeFileSync(page, withTable(readFileSync(page, "utf8"), scopeTable(doc)));
  // Padded as Biome pads every table, so that npm run lint agrees.
  execFileSync(join(root, "node_modules/.bin/biome"), ["format", "--write", page], { stdio: "ignore" });
  console.log("docs/api.md: the scope table is the routes'");
} finally {
  await worker.stop();
}
