/**
 * What zod's JSON Schema generator core becomes in the built worker (wrangler.toml [alias] "../core/to-json-schema.js"
 * and "./to-json-schema.js"): the same exports, throwing when called. See json-schema-processors.ts beside it.
 */
const leftOut = (): never => {
  throw new Error("z.toJSONSchema is left out of this bundle (wrangler.toml [alias])");
};

export const initializeContext = leftOut;
export const handleUnrepresentable = leftOut;
export const processSchema = leftOut;
export { processSchema as process };
export const extractDefs = leftOut;
export const finalize = leftOut;
/** Schemas build these methods as they are made: the methods exist, and throw only if called. */
export const createToJSONSchemaMethod = () => leftOut;
export const createStandardJSONSchemaMethod = () => leftOut;
