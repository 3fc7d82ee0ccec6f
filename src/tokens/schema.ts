/**
 * Wire schemas of /v1/tokens: what creating and rotating a scoped token take, and the token as the service shows it
 * (never its secret, but once, in the answer that made it).
 */
import { z } from "@hono/zod-openapi";
import { Name, recordOf } from "../http/schemas.js";

export const TOKEN_ID_PATTERN = /^tok_[0-9a-f]{24}$/;

export const TokenIdParams = z.object({
  id: z
    .string()
    .regex(TOKEN_ID_PATTERN, "must be a token id: tok_ and 24 of 0-9 a-f")
    .openapi({ param: { name: "id", in: "path" }, example: "tok_5c3f9a0e1b2d4c6e8f0a1b2c" }),
});

const Scope = z
  .string()
  .regex(/^(\*|\*:[a-z]+|[a-z]+(:([a-z]+|\*))?)$/, "must be family:verb, family, family:*, *:verb or *")
  .openapi({ example: "counters:write" });

const NamePattern = z
  .string()
  .regex(/^[A-Za-z0-9._:*-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 . _ : - and *")
  .openapi({ example: "orders-*" });

const Rate = z
  .object({
    limit: z.number().int().min(1).max(1_000_000_000),
    periodMs: z.number().int().min(1).max(86_400_000),
  })
  .strict();

export const CreateTokenBody = z
  .object({
    name: z
      .string()
      .min(1)
      .max(128)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
      .regex(/^[^\x00-\x1f\x7f-\x9f]+$/, "must not contain control characters")
      .openapi({ description: "A label: who or what holds it" }),
    scopes: z.array(Scope).min(1).max(64),
    names: recordOf(z.string().regex(/^(\*|[a-z]+)$/, "must be a family or *"), z.array(NamePattern).min(1).max(32))
      .optional()
      .openapi({ description: "Name patterns per family (* for the others); families left out get no names" }),
    namespace: Name.optional().openapi({ description: "Every name it uses lives apart, in this namespace" }),
    expiresInSeconds: z.number().int().min(1).max(315_360_000).optional(),
    rate: Rate.optional().openapi({ description: "Its own /v1 limit, instead of API_RATE_LIMIT" }),
  })
  .strict()
  .openapi("CreateToken");

export const RotateTokenBody = z
  .object({
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .default(0)
      .openapi({ description: "How long the old secret keeps working (at most TOKENS_MAX_GRACE_SECONDS)" }),
  })
  .strict()
  .openapi("RotateToken");

export const TokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(["active", "revoked", "expired"]),
    scopes: z.array(z.string()),
    names: z.record(z.string(), z.array(z.string())).optional(),
    namespace: z.string().optional(),
    rate: Rate.optional(),
    createdAt: z.string(),
    expiresAt: z.string().optional(),
    lastUsedAt: z.string().nullable().openapi({ description: "Coarse: a few minutes late at most" }),
    revokedAt: z.string().optional(),
    rotatedAt: z.string().optional(),
    previousValidUntil: z
      .string()
      .optional()
      .openapi({ description: "When the secret before the last rotation stops working" }),
  })
  .openapi("Token");

export const TokenCreatedSchema = TokenSchema.extend({
  token: z.string().openapi({ description: "The secret, shown this once: only its SHA-256 is stored" }),
}).openapi("TokenCreated");

export const TokenListSchema = z.object({ tokens: z.array(TokenSchema) }).openapi("TokenList");
