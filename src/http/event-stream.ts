/**
 * Streamed answers of the routes that run many upstream calls (POST /v1/fanout, POST /v1/pages): the client asks
 * for one with its Accept header, and gets one frame per item as it comes, then a closing summary frame —
 * NDJSON lines (`application/x-ndjson`; the summary as `{"summary": …}`) or server-sent events
 * (`text/event-stream`; `event: <item>` frames, then `event: summary`). Cancelling the stream (a client that goes
 * away) stops the generator, which aborts its calls.
 */
import { z } from "@hono/zod-openapi";

export type Streaming = "ndjson" | "sse";

/**
 * The streamed format the Accept header asks for, or undefined for a plain JSON answer.
 *
 * @example
 * streamingOf("application/x-ndjson") // "ndjson"
 */
export function streamingOf(accept: string | undefined): Streaming | undefined {
  const a = (accept ?? "").toLowerCase();
  if (a.includes("application/x-ndjson")) return "ndjson";
  if (a.includes("text/event-stream")) return "sse";
  return undefined;
}

const encoder = new TextEncoder();

/**
 * A streamed response of `items`' values (`event` names SSE frames), closed by the summary that `summary` makes
 * from the generator's return value. When the client cancels the stream, `abort` (the controller of the signal the
 * generator's calls run under) is aborted first: the generator may be waiting on a call, and only ends once it
 * settles.
 *
 * @example
 * const abort = new AbortController();
 * const pages = crawl(spec, { ...ctx, signal: AbortSignal.any([c.req.raw.signal, abort.signal]) });
 * return streamedResponse(pages, "ndjson", "page", (summary) => summary, abort);
 */
export function streamedResponse<T, R>(
  items: AsyncGenerator<T, R, undefined>,
  format: Streaming,
  event: string,
  summary: (returned: R) => unknown,
  abort: AbortController,
): Response {
  const frame = (name: string, data: unknown) =>
    encoder.encode(
      format === "ndjson"
        ? `${JSON.stringify(name === "summary" ? { summary: data } : data)}\n`
        : `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`,
    );
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await items.next();
      if (next.done) {
        controller.enqueue(frame("summary", summary(next.value)));
        controller.close();
        return;
      }
      controller.enqueue(frame(event, next.value));
    },
    async cancel(reason) {
      abort.abort(reason ?? new DOMException("the client cancelled the stream", "AbortError"));
      await items.return(undefined as R);
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": format === "ndjson" ? "application/x-ndjson" : "text/event-stream",
      "cache-control": "no-store",
    },
  });
}

/**
 * The OpenAPI description of a 200 answered as JSON (`schema`) or streamed by `streamedResponse`, for `createRoute`.
 *
 * @example
 * responses: { 200: streamableResponse(PagesResponseSchema, "The pages", { item: "Page", event: "page", order: "in page order" }) }
 */
export const streamableResponse = (
  schema: z.ZodType,
  description: string,
  frames: { item: string; event: string; order: string },
) => ({
  description,
  content: {
    "application/json": { schema },
    "application/x-ndjson": {
      schema: z.string().openapi({ description: `One ${frames.item} a line ${frames.order}, then {summary}` }),
    },
    "text/event-stream": {
      schema: z
        .string()
        .openapi({ description: `\`event: ${frames.event}\` per ${frames.item}, then \`event: summary\`` }),
    },
  },
});
