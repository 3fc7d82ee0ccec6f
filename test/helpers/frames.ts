/**
 * Reads a streamed response body frame by frame (NDJSON lines, server-sent events) as the frames arrive, so a test
 * can act between two frames (open the next upstream gate). Runtime-neutral: used in workerd and in Node.
 */
export class FrameReader {
  readonly separator: string;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #ended = false;

  /**
   * @example
   * const frames = new FrameReader(res.body, "\n");
   * const first = JSON.parse((await frames.next()) ?? "null");
   */
  constructor(body: ReadableStream<Uint8Array>, separator = "\n") {
    this.separator = separator;
    this.#reader = body.getReader();
  }

  /** The next non-empty frame, waiting for it if needed; undefined once the stream has ended. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const at = this.#buffer.indexOf(this.separator);
      if (at >= 0) {
        const frame = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + this.separator.length);
        if (frame !== "") return frame;
        continue;
      }
      if (this.#ended) {
        const last = this.#buffer;
        this.#buffer = "";
        return last === "" ? undefined : last;
      }
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        this.#buffer += this.#decoder.decode();
      } else this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** Stop reading: the stream is cancelled (what a client that goes away does). */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }

  /** Every frame left, to the end of the stream. */
  async rest(): Promise<string[]> {
    const frames: string[] = [];
    for (let frame = await this.next(); frame !== undefined; frame = await this.next()) frames.push(frame);
    return frames;
  }
}
