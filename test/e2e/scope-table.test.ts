/**
 * docs/api.md's table of scopes per route is the route table's: made from the served OpenAPI document, it must equal
 * what the page says (a route added, or a scope changed, without `npm run docs:scopes` fails here).
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { type OpenApiPaths, scopeTable, tableCells, withTable } from "../../scripts/lib/scope-table.ts";
import { useWorker } from "./support/worker.ts";

const worker = useWorker();

it("docs/api.md lists every /v1 route with the scope it declares and the name it checks", async () => {
  const doc = (await (await fetch(`${worker.url}/openapi.json`)).json()) as OpenApiPaths;
  const table = scopeTable(doc);
  expect(table).toContain("| `counters:write` | `POST /v1/counters/{name}/increment` | `{name}` |");
  expect(table).toContain("| `tokens` | `POST /v1/tokens` |");
  const page = readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8");
  expect(tableCells(page), "run npm run docs:scopes").toEqual(tableCells(withTable(page, table)));
  expect(tableCells(page).length).toBe(table.split("\n").length - 1);
});
