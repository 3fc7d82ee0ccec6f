/**
 * The table of scopes per route in docs/api.md, made from the served OpenAPI document (each operation's security
 * requirement and `x-edgeloop-name`), between the markers `<!-- scopes:start -->` and `<!-- scopes:end -->`.
 * `npm run docs:scopes` writes it (and formats the page); test/e2e/scope-table.test.ts fails when the page and the
 * routes differ, padding aside.
 */

interface DocOperation {
  summary?: string;
  security?: { bearer?: string[] }[];
  "x-edgeloop-name"?: string;
}

export interface OpenApiPaths {
  paths: Record<string, Record<string, DocOperation>>;
}

const START = "<!-- scopes:start -->";
const END = "<!-- scopes:end -->";

/** One row per /v1 operation, in the document's order: scope, route, the name its patterns check, summary. */
export function scopeTable(doc: OpenApiPaths): string {
  const rows = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith("/v1/"))
    .flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => {
        const scope = op.security?.length === 0 ? "(a room ticket)" : `\`${op.security?.[0]?.bearer?.[0]}\``;
        const name = op["x-edgeloop-name"] ? `\`{${op["x-edgeloop-name"]}}\`` : "";
        return `| ${scope} | \`${method.toUpperCase()} ${path}\` | ${name} | ${op.summary ?? ""} |`;
      }),
    );
  return ["| scope | route | name checked | what it does |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** The cells of the table between the markers, row by row (the separator row left out, padding trimmed). */
export function tableCells(markdown: string): string[][] {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) return [];
  return markdown
    .slice(start + START.length, end)
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

/** `markdown` with the table between the markers replaced by `table` (Biome then pads its columns). */
export function withTable(markdown: string, table: string): string {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/api.md has no ${START} … ${END} markers`);
  return `${markdown.slice(0, start + START.length)}\n${table}\n${markdown.slice(end)}`;
}
