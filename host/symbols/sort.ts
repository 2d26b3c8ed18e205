/**
 * A stable sort of the indices 0..n-1, for the symbol tables here.
 *
 * Why not Array/TypedArray.prototype.sort with a comparator: V8 calls the
 * comparator from its builtin for every comparison, and that measured
 * 90-100 ms for node's 78k function symbols, more than all the rest of
 * parsing that binary. A plain JS merge sort whose comparator V8 can inline
 * does the same in a few ms. It is also a natural merge sort: the input is
 * split into its already-ascending runs first, so kallsyms (the core kernel
 * in order, then each module in order) costs about one pass per run.
 */
export function sortedIndices(n: number, compare: (a: number, b: number) => number): Uint32Array {
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  if (n < 2) return src;

  // Run boundaries: starts of maximal non-descending runs, plus n.
  const bounds: number[] = [0];
  for (let i = 1; i < n; i++) if (compare(i - 1, i) > 0) bounds.push(i);
  bounds.push(n);
  if (bounds.length === 2) return src;

  let dst = new Uint32Array(n);
  let runs = bounds;
  while (runs.length > 2) {
    const next: number[] = [0];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const lo = runs[r];
      const mid = runs[r + 1];
      const hi = r + 2 < runs.length ? runs[r + 2] : mid;
      let i = lo;
      let j = mid;
      let k = lo;
      // Stable: on equal keys the left run's element goes first.
      while (i < mid && j < hi) dst[k++] = compare(src[j], src[i]) < 0 ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
      next.push(hi);
    }
    if (next[next.length - 1] !== n) next.push(n);
    const t = src;
    src = dst;
    dst = t;
    runs = next;
  }
  return src;
}

/**
 * Binary search of a table sorted ascending, for the symbol and mapping
 * tables here: the index of the last entry i for which atOrBelow(i) holds
 * (the entry whose start is at or below the address looked up), or -1.
 * atOrBelow must hold for a prefix of the table and fail for the rest.
 */
export function lastAtOrBelow(length: number, atOrBelow: (i: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (atOrBelow(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
