/**
 * Schemas shared by several function families.
 */
import { z } from "@hono/zod-openapi";

/** Names of counters, locks, rooms, jobs…: checked before they reach `idFromName`. */
const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const Name = z
  .string()
  .regex(NAME_PATTERN, "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
  .openapi({ example: "orders-2026" });

/**
 * `z.record`, refusing a "__proto__" key. zod leaves that key out of what it parses (assigning it would set a
 * prototype), so without this check the entry would vanish silently instead of being refused.
 *
 * @example
 * const Headers = recordOf(z.string(), z.string()); // {"__proto__": "x"} → 400
 */
export const recordOf = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) =>
  z.preprocess(
    (input, ctx) => {
      if (input !== null && typeof input === "object" && Object.hasOwn(input, "__proto__")) {
        ctx.issues.push({ code: "custom", message: 'must not have the key "__proto__"', input });
      }
      return input;
    },
    z.record(key, value),
  );

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

/**
 * The head of a family's routes, for `createRoute`: method, path, the family's OpenAPI tag, the operationId (camelCase
 * verb + noun, what code generators name their methods after) and a summary.
 *
 * @example
 * const route = routesOf("locks");
 * const acquire = createRoute({ ...route("post", "/{name}/acquire", "acquireLock", "Acquire the lock"), request, responses });
 */
export const routesOf =
  (tag: string) =>
  <M extends "get" | "post" | "put" | "delete", P extends string>(
    method: M,
    path: P,
    operationId: string,
    summary: string,
  ) => ({
    method,
    path,
    tags: [tag],
    operationId,
    summary,
  });

/**
 * A required JSON request body with its example (shown by /docs and code generators, and type-checked against what
 * the schema accepts), for `createRoute`.
 *
 * @example
 * request: { body: jsonBody(IncrementBody, { by: 1 }) }
 */
export const jsonBody = <T extends z.ZodType>(schema: T, example: z.input<T>) => ({
  content: { "application/json": { schema, example } },
  required: true,
});

/** A JSON response, for `createRoute`. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/**
 * The OpenAPI description of a problem+json response, for `createRoute` (the response itself is thrown as
 * `problem(...)` from problem.ts).
 */
export const problemDoc = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});

/** The error responses every /v1 route may give, for the OpenAPI document. */
export const problemDocs = {
  400: problemDoc("Malformed or invalid request"),
  401: problemDoc("Missing or wrong bearer token"),
  413: problemDoc("Request body too large"),
  429: problemDoc(
    "Rate limited, with Retry-After: over API_RATE_LIMIT for this token, or over AUTH_FAIL_LIMIT failed attempts from this address",
  ),
} as const;
