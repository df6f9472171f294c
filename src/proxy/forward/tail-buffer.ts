/**
 * The last bytes of a response body, kept in a bounded ring as the body
 * streams by: what a metering pricer reads (e.g. the usage object at the end
 * of an event stream) without the proxy holding the whole body.
 */
export class TailBuffer {
  readonly #ring: Buffer;
  /** Bytes written so far. */
  #total = 0;

  /** @param capacity - bytes kept at most, a positive integer */
  constructor(capacity: number) {
    this.#ring = Buffer.alloc(capacity);
  }

  /**
   * Keeps the end of `chunk` (and of what came before, up to the capacity).
   * @param chunk - the next bytes of the body
   */
  write(chunk: Uint8Array): void {
    const cap = this.#ring.length;
    if (cap === 0 || chunk.length === 0) return;
    const part = chunk.length > cap ? chunk.subarray(chunk.length - cap) : chunk;
    const skipped = chunk.length - part.length;
    const at = (this.#total + skipped) % cap;
    const first = Math.min(part.length, cap - at);
    this.#ring.set(part.subarray(0, first), at);
    if (first < part.length) this.#ring.set(part.subarray(first), 0);
    this.#total += chunk.length;
  }

  /** @returns the last bytes written, oldest first (a copy) */
  bytes(): Uint8Array {
    const cap = this.#ring.length;
    if (this.#total <= cap) return Uint8Array.prototype.slice.call(this.#ring, 0, this.#total);
    const start = this.#total % cap;
    return Buffer.concat([this.#ring.subarray(start), this.#ring.subarray(0, start)]);
  }
}
