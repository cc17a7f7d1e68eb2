// How hard the property tests and the DNS fuzzer push. `npm test` runs the short default so the
// whole suite stays fast; `npm run fuzz` sets FUZZ_RUNS to run every property that many times
// (and scales the DNS fuzzer's packet count with it).
import { expect } from "vitest";
import { WharfError } from "../../common/errors.ts";

const fromEnv = Number(process.env.FUZZ_RUNS);

/** fast-check's numRuns: FUZZ_RUNS when set, otherwise the short default given. */
export function fuzzRuns(short: number): number {
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : short;
}

/** True for a long run (`npm run fuzz`): tests may then raise their own timeouts. */
export const longRun = Number.isInteger(fromEnv) && fromEnv > 0;

/** A vitest timeout that grows with FUZZ_RUNS. */
export function fuzzTimeout(shortMs: number, short: number): number {
  return longRun ? Math.max(shortMs, Math.ceil((shortMs * fuzzRuns(short)) / short)) : shortMs;
}

/**
 * Runs `parse` on hostile input: it may return anything, or throw a WharfError with a 4xx status
 * (a client error); anything else (TypeError, RangeError, a 5xx) is a bug the property reports.
 */
export function clientErrorOnly<T>(parse: () => T): T | WharfError {
  try {
    return parse();
  } catch (err) {
    expect(err).toBeInstanceOf(WharfError);
    const status = (err as WharfError).status;
    expect(status >= 400 && status < 500, `status ${status}: ${(err as Error).message}`).toBe(true);
    return err as WharfError;
  }
}
