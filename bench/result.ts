/** One measured number from a benchmark. `target` is the goal in words, e.g. "≤ 2 µs". */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: string;
  readonly note?: string;
}

/** A benchmark module in bench/: measured, bounded in time, never part of `npm test`. */
export interface BenchModule {
  run(): Promise<BenchResult[]>;
}
