/**
 * What zod's `z.fromJSONSchema` module becomes in the built worker (wrangler.toml [alias] "./from-json-schema.js"):
 * nothing here builds schemas from JSON Schema.
 */
export const fromJSONSchema = (): never => {
  throw new Error("z.fromJSONSchema is left out of this bundle (wrangler.toml [alias])");
};
