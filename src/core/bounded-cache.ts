/**
 * A tiny least-recently-used map with a fixed capacity, on a plain `Map`
 * (insertion order is recency order). The core may import only `node:crypto`,
 * so it cannot use lru-cache.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  /** Capacity; the least recently used entry is dropped beyond it. */
  readonly maxEntries: number;

  /** @param maxEntries - capacity, at least 1 */
  constructor(maxEntries: number) {
    this.maxEntries = Math.max(1, Math.floor(maxEntries));
  }

  /**
   * The value for `key`, marking it most recently used.
   * @param key - the key
   * @returns the value, or `undefined`
   */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /**
   * The value for `key`, leaving its recency as it is.
   * @param key - the key
   * @returns the value, or `undefined`
   */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /**
   * Marks an entry most recently used.
   * @param key - the key (nothing happens when it is absent)
   */
  touch(key: K): void {
    const value = this.map.get(key);
    if (value === undefined) return;
    this.map.delete(key);
    this.map.set(key, value);
  }

  /**
   * Stores a value, evicting the least recently used entry when full.
   * @param key - the key
   * @param value - the value
   */
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
  }

  /**
   * Removes an entry.
   * @param key - the key
   * @returns `true` when it existed
   */
  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /**
   * Replaces every value with what `update` returns for it, leaving recency as
   * it is; an entry for which it returns `undefined` is removed.
   * @param update - the new value of each entry, or `undefined` to remove it
   */
  updateAll(update: (value: V) => V | undefined): void {
    for (const [key, value] of this.map) {
      const next = update(value);
      if (next === undefined) this.map.delete(key);
      else if (next !== value) this.map.set(key, next);
    }
  }

  /**
   * Removes every entry whose value matches.
   * @param predicate - test on each value
   * @returns how many were removed
   */
  deleteWhere(predicate: (value: V) => boolean): number {
    let removed = 0;
    for (const [key, value] of this.map) {
      if (predicate(value)) {
        this.map.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Removes everything. */
  clear(): void {
    this.map.clear();
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }
}
