/**
 * What zod's `locales` namespace becomes in the built worker (wrangler.toml [alias] "../locales/index.js"): English
 * only, the locale zod registers by default and the only one edgeloop's error messages use.
 */
export { default as en } from "zod/v4/locales/en.js";
