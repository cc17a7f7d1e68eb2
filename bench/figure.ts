// One row of the results table: a measured quantity for every contender, which direction is
// better, and the target for wharf (checked here, so the table says whether it holds).
import type { ContenderName } from "./contenders.ts";

export interface Figure {
  id: string;
  title: string;
  unit: string;
  better: "lower" | "higher";
  values: Partial<Record<ContenderName, number>>;
  /** Text shown instead of the bare value (counts of two kinds, verification failures…). */
  cells?: Partial<Record<ContenderName, string>>;
  /** The target, in words. */
  target?: string;
  /** Whether wharf meets the target (undefined: not measured). */
  holds?: boolean;
}

export interface RunPlan {
  quick: boolean;
  /** Cold pulls per contender (figure 1). */
  coldRuns: number;
  /** Single-client and 8-client warm downloads (figures 2 and 5). */
  warmRuns: number;
  warmParallelRuns: number;
  /** h2load seconds per method and runs (figure 3). */
  loadSeconds: number;
  loadRuns: number;
  /** 32-client fills (figure 4). */
  fillRuns: number;
  fillClients: number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** wharf's value divided by `other`'s, when both were measured and the divisor is not 0. */
export function ratio(f: Figure, other: ContenderName): number | undefined {
  const w = f.values.wharf;
  const o = f.values[other];
  if (w === undefined || o === undefined || o === 0) return undefined;
  return w / o;
}

/** Samples per contender. */
export type Runs = Record<string, number[]>;

export function record(runs: Runs, name: string, value: number): number {
  const list = runs[name] ?? [];
  list.push(value);
  runs[name] = list;
  return value;
}

export function medians(runs: Runs): Record<string, number> {
  return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
}
