/**
 * @module
 * Figures of repeated measurements: `{median, min, max, runs}`, percentiles, and ratios of medians.
 */

/** One figure over repetitions. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Summarises `runs` (rounded to 3 significant decimals for readability). */
export function stat(runs: number[]): Stat {
  const s = [...runs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: round(mid), min: round(s[0]), max: round(s[s.length - 1]), runs: runs.map(round) };
}

/** The `p`-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** `a.median / b.median`, to 3 decimals. */
export function ratio(a: Stat, b: Stat): number {
  return Math.round((a.median / b.median) * 1000) / 1000;
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000;
}
