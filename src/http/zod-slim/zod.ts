/**
 * The `z` the built worker sees (wrangler `[alias]` "zod"): only the schema builders edgeloop calls. @hono/zod-openapi
 * hands the whole `z` namespace to `extendZodWithOpenApi`, which keeps every export of zod alive; this one names
 * what is used, so esbuild leaves the rest out. Types come from zod itself (the alias applies to the bundle only).
 */
import {
  array,
  boolean,
  coerce,
  discriminatedUnion,
  literal,
  number,
  object,
  preprocess,
  record,
  string,
  union,
  unknown,
  ZodType,
  enum as zodEnum,
  null as zodNull,
} from "zod/v4";

export const z = {
  array,
  boolean,
  coerce,
  discriminatedUnion,
  enum: zodEnum,
  literal,
  null: zodNull,
  number,
  object,
  preprocess,
  record,
  string,
  union,
  unknown,
  ZodType,
};
