// Latency samples kept whole (8 bytes each: a million requests is 8 MB) and
// sorted once, so percentiles are exact rather than bucketed.

/** A growable list of latency samples in milliseconds. */
export class Samples {
  #data = new Float64Array(1 << 16);
  #size = 0;

  /** Adds one sample. */
  add(ms: number): void {
    if (this.#size === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#size++] = ms;
  }

  /** Number of samples. */
  get size(): number {
    return this.#size;
  }

  /** Percentiles (0–100) by nearest rank; NaN when empty. */
  percentiles(ps: readonly number[]): number[] {
    const sorted = this.#data.slice(0, this.#size).sort();
    return ps.map((p) => {
      if (sorted.length === 0) return Number.NaN;
      const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
      return sorted[rank] as number;
    });
  }
}

/**
 * The median of some numbers (the lower middle one for an even count).
 * @param values - at least one number
 */
export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}
