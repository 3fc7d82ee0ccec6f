/**
 * Reading a streamed answer: one JSON value per line (`application/x-ndjson`), as the lines arrive, closed by a
 * `{"summary": …}` line (fan-out, pages). Leaving the loop early aborts the request, which closes the connection:
 * the service sees the client go away.
 */

/**
 * The JSON values of an NDJSON response body, one per line; `abort` is called when the iteration ends, early or not
 * (a no-op once the body has been read to its end).
 *
 * @example
 * for await (const line of ndjsonLines<{ n: number }>(res, () => controller.abort())) console.log(line.n);
 */
export async function* ndjsonLines<T>(res: Response, abort: () => void): AsyncGenerator<T, void, undefined> {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line !== "") yield JSON.parse(line) as T;
      }
    }
    if (buffer.trim() !== "") yield JSON.parse(buffer) as T;
  } finally {
    abort();
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * The items of a streamed answer as they arrive. The request is sent when the iteration starts; iterate once.
 * `summary` is set when the service sent it, i.e. when the stream was read to its end.
 *
 * @example
 * const stream = new SummarizedStream<Page, PagesSummary>((signal) => transport.send("/v1/pages", { json, signal }));
 * for await (const page of stream) console.log(page.page);
 * console.log(stream.summary?.stop);
 */
export class SummarizedStream<T, S> implements AsyncIterable<T> {
  summary: S | undefined;
  readonly #open: (signal: AbortSignal) => Promise<Response>;

  /** `open` sends the request, with the signal that aborts it when the iteration ends early. */
  constructor(open: (signal: AbortSignal) => Promise<Response>) {
    this.#open = open;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    const controller = new AbortController();
    const res = await this.#open(controller.signal);
    for await (const line of ndjsonLines<T | { summary: S }>(res, () => controller.abort())) {
      if (isSummary<S>(line)) this.summary = line.summary;
      else yield line as T;
    }
  }
}

const isSummary = <S>(line: unknown): line is { summary: S } =>
  typeof line === "object" && line !== null && Object.keys(line).length === 1 && "summary" in line;
