/**
 * What zod's JSON Schema processors become in the built worker (wrangler.toml [alias] "../core/json-schema-processors.js"
 * and "./json-schema-processors.js"): `aggregateChecks`, which string and array schemas read for their
 * `minLength`/`maxLength`/`format` getters (zod-to-openapi reads those to write the OpenAPI document), is zod's own;
 * every processor of `z.toJSONSchema` throws when called. Nothing here converts schemas to JSON Schema: the OpenAPI
 * document is written by @asteasolutions/zod-to-openapi, which walks the schemas itself.
 */
// A relative path, not "zod/…": the package's exports map does not expose this file, and an alias must not match it.
export { aggregateChecks } from "../../../node_modules/zod/v4/core/json-schema-processors.js";

const leftOut = (): never => {
  throw new Error("z.toJSONSchema is left out of this bundle (wrangler.toml [alias])");
};

export const stringProcessor = leftOut;
export const numberProcessor = leftOut;
export const booleanProcessor = leftOut;
export const bigintProcessor = leftOut;
export const symbolProcessor = leftOut;
export const nullProcessor = leftOut;
export const undefinedProcessor = leftOut;
export const voidProcessor = leftOut;
export const neverProcessor = leftOut;
export const anyProcessor = leftOut;
export const unknownProcessor = leftOut;
export const dateProcessor = leftOut;
export const enumProcessor = leftOut;
export const literalProcessor = leftOut;
export const nanProcessor = leftOut;
export const templateLiteralProcessor = leftOut;
export const fileProcessor = leftOut;
export const successProcessor = leftOut;
export const customProcessor = leftOut;
export const functionProcessor = leftOut;
export const transformProcessor = leftOut;
export const mapProcessor = leftOut;
export const setProcessor = leftOut;
export const arrayProcessor = leftOut;
export const objectProcessor = leftOut;
export const unionProcessor = leftOut;
export const intersectionProcessor = leftOut;
export const tupleProcessor = leftOut;
export const recordProcessor = leftOut;
export const nullableProcessor = leftOut;
export const nonoptionalProcessor = leftOut;
export const defaultProcessor = leftOut;
export const prefaultProcessor = leftOut;
export const catchProcessor = leftOut;
export const pipeProcessor = leftOut;
export const readonlyProcessor = leftOut;
export const promiseProcessor = leftOut;
export const optionalProcessor = leftOut;
export const lazyProcessor = leftOut;
export const allProcessors = {};
export const toJSONSchema = leftOut;
