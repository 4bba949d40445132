import type { Column, ColumnStats } from './types';

/** Per-column statistics of a sample: null share, distinct count, min/max, an 8-bin histogram of numbers. */
export function statsOf(columns: Column[], rows: unknown[][]): ColumnStats[] {
  return columns.map((c, j) => {
    const vals = rows.map((r) => r[j]);
    const present = vals.filter((v) => v !== null && v !== undefined);
    const nums = present.filter((v): v is number => typeof v === 'number');
    const sorted = [...present].sort((a, b) => (String(a) < String(b) ? -1 : 1));
    let histogram: number[] | undefined;
    if (nums.length) {
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      histogram = new Array(8).fill(0);
      for (const v of nums) histogram[Math.min(7, Math.floor(((v - lo) / (hi - lo || 1)) * 8))]++;
    }
    return {
      name: c.name,
      type: c.type,
      null_share: vals.length ? (vals.length - present.length) / vals.length : 0,
      distinct: new Set(present.map(String)).size,
      min: nums.length ? Math.min(...nums) : sorted[0],
      max: nums.length ? Math.max(...nums) : sorted[sorted.length - 1],
      histogram,
    };
  });
}
