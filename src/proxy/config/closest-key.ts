/**
 * Suggestions for misspelt keys (`enbled` → `enabled`).
 */

/**
 * Finds the known key closest to an unknown one, by edit distance (a swap of
 * two neighbouring letters counts as one edit).
 *
 * @param unknown - the key as written
 * @param known - the keys allowed at that place
 * @returns the closest key when it is close enough to be a likely typo, else undefined
 */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  const word = unknown.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(word.length, best.length) / 3)));
  if (bestDistance <= limit) return best;
  // A key that contains or is contained in a known one (`dbfilename` → `dbfile`).
  const containing = known.find((k) => k.length >= 4 && (word.includes(k) || k.includes(word)) && word.length >= 4);
  return containing;
}

function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      const row = d[i];
      if (row !== undefined) row[j] = v;
    }
  }
  return at(a.length, b.length);
}
