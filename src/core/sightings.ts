/**
 * Which keys were seen recently: an admission filter for caches that would
 * otherwise churn when clients outnumber their entries.
 */

/**
 * Remembers recent keys as small integers (30-bit fingerprints, unboxed in V8) in two
 * generations of `Set`s, so that remembering a key allocates nothing per key.
 * A key counts as seen again when it was seen within the last one to two
 * generations of distinct keys. Two keys can share a fingerprint: a cache
 * using this then admits one entry too many, never one too few.
 */
export class Sightings {
  #young = new Set<number>();
  #old = new Set<number>();
  readonly #generation: number;

  /** @param generation - distinct keys per generation, at least 1 */
  constructor(generation: number) {
    this.#generation = Math.max(1, Math.floor(generation));
  }

  /**
   * Records a sighting.
   * @param fingerprint - the key's fingerprint (see {@link fingerprintTail})
   * @returns whether it was seen before within the window
   */
  sight(fingerprint: number): boolean {
    if (this.#young.has(fingerprint)) return true;
    const seen = this.#old.has(fingerprint);
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Set();
    }
    this.#young.add(fingerprint);
    return seen;
  }

  /** Forgets every sighting. */
  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}

/**
 * A 30-bit fingerprint of the last (up to 12) characters of a string: enough
 * for strings that end in random material (a digest, a hex preimage).
 * @param text - the string
 * @returns a non-negative small integer
 */
export function fingerprintTail(text: string): number {
  let h = 0;
  for (let i = Math.max(0, text.length - 12); i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h & 0x3fffffff;
}
