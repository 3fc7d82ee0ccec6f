/**
 * The app factory every function family uses: an OpenAPIHono whose validation failures become
 * 400 problem+json listing each invalid field, so that every sub-app reports bad input the same way.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Env as HonoEnv } from "hono";
import { problem } from "./problem";

/**
 * `asAsked`: the answer's status is what the caller asked for (the demo upstream's `?status=`), a result rather than
 * a failure of ours: the access log does not count it as an error.
 */
export type AppEnv = { Bindings: Env; Variables: { requestId: string; asAsked?: boolean } };

export function createApp<E extends HonoEnv = AppEnv>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = result.error.issues.map((issue) => ({
          path: issue.path.join("."),
          message: issue.message,
        }));
        const where = result.target === "json" ? "request body" : result.target;
        throw problem(
          400,
          `The ${where} is invalid: ${errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`,
          {
            type: "invalid-request",
            extensions: { errors },
          },
        );
      }
    },
  });
}
