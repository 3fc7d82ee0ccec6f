/**
 * Reading a streamed answer: one JSON value per line (`application/x-ndjson`), as the lines arrive. Leaving the loop
 * early aborts the request, which closes the connection: the service sees the client go away.
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
