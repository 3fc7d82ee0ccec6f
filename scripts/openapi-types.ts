/**
 * TypeScript types from an OpenAPI document, by openapi-typescript (the generator clients of this API would use):
 * `node scripts/openapi-types.ts <openapi.json> <out.d.ts>`. test/e2e/openapi.test.ts runs it on the served document.
 *
 * openapi-typescript builds its output with the classic TypeScript compiler API, which TypeScript 7 (this project's
 * compiler, native) does not ship. Its imports of "typescript" are pointed at @typescript/typescript6, the side-by-side
 * package TypeScript 7's release recommends for tools that need that API.
 *
 * Run by Node 22 (type stripping, module.registerHooks).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

registerHooks({
  resolve(specifier, context, nextResolve) {
    const fromGenerator = context.parentURL?.includes("/node_modules/openapi-typescript/") ?? false;
    return nextResolve(fromGenerator && specifier === "typescript" ? "@typescript/typescript6" : specifier, context);
  },
});

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node scripts/openapi-types.ts <openapi.json> <out.d.ts>");
  process.exit(2);
}
const { default: openapiTS, astToString } = await import("openapi-typescript");
const ast = await openapiTS(JSON.parse(readFileSync(input, "utf8")));
writeFileSync(output, astToString(ast));
