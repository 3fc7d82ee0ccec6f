/**
 * The tokens wing: the Tokens object (scoped tokens by the hash of their secrets, rotation with a grace period,
 * retention), the isolate's lookup for bearerAuth (cached), the decisions and the wire schemas. Its face to functions/
 * and to the other wings.
 */
export { grantErrors } from "./grant";
export { forgetToken, scopedTokens } from "./lookup";
export {
  CreateTokenBody,
  RotateTokenBody,
  TokenCreatedSchema,
  TokenIdParams,
  TokenListSchema,
  TokenSchema,
} from "./schema";
export { TOKENS_OBJECT, type TokenSpec, Tokens } from "./tokens";
export { type TokenRecord, viewOf } from "./tokens-state";
