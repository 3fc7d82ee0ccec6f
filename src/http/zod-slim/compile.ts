/**
 * What zod's `z.compile` module becomes in the built worker (wrangler.toml [alias] "./compile.js"): the same exports,
 * throwing when called. z.compile generates code with `new Function`, which workers forbid, and nothing here calls it.
 */
const leftOut = (): never => {
  throw new Error("z.compile is left out of this bundle (wrangler.toml [alias])");
};

export const INVALID = Symbol.for("zod.compile.invalid");
export class ZodCompileAsyncError extends Error {}
export class ZodCompileUnsupportedError extends Error {}
export const compile = leftOut;
export const withParser = leftOut;
export const compileFn = leftOut;
