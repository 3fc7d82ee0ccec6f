/**
 * The rooms' wire schemas: who a ticket names and what `POST /v1/rooms/:room/tickets` takes. Platform-free: the
 * client imports it.
 */
import { z } from "@hono/zod-openapi";
import { isReservedName, JOBS_SENDER, nameRefusal, SERVER_SENDER } from "./protocol.js";

/**
 * A display name (a room member, a message's sender): 1-64 characters, no control characters, and nothing that lets
 * it pass for another name (`nameRefusal`: invisible characters, compatibility forms, mixed scripts).
 */
export const UserName = z
  .string()
  .min(1)
  .max(64)
  // The control characters (\p{Cc}) spelled as ranges: a regex with the u flag is published in the OpenAPI document
  // with "/u" glued to its pattern, which no client could match.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .regex(/^[^\x00-\x1f\x7f-\x9f]+$/, "must not contain control characters")
  .superRefine((name, ctx) => {
    const why = nameRefusal(name);
    if (why) ctx.addIssue({ code: "custom", message: `could pass for another name: it ${why}` });
  })
  .openapi({
    example: "ada",
    description:
      "1-64 characters; no control or invisible characters, no compatibility forms (send the NFKC form), letters of one script (or Latin with Han and kana, bopomofo or Hangul)",
  });

/** The user a room ticket names: a display name that is not one the service publishes under ("server", "jobs"). */
export const MemberName = UserName.refine((user) => !isReservedName(user), {
  message: `is reserved for messages the service publishes ("${SERVER_SENDER}", "${JOBS_SENDER}")`,
}).openapi({
  example: "ada",
  description: `A display name (UserName's rules); "${SERVER_SENDER}" and "${JOBS_SENDER}" (in any case or width) are reserved for the service.`,
});

/** What `POST /v1/rooms/:room/tickets` takes (the demo's ticket route takes a narrower one). */
export const TicketRequest = z
  .object({
    user: MemberName,
    ttlSec: z.number().int().min(1).optional().openapi({
      description: "Seconds the ticket is valid (default 60, at most ROOM_TICKET_MAX_TTL_SECONDS).",
      example: 60,
    }),
  })
  .strict()
  .openapi("TicketRequest");
