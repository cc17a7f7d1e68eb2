// What every `wharf doctor` check returns, and how the report is printed.
import { WharfError } from "../../common/errors.ts";

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found, in one line. */
  detail: string;
  /** What to do about a failure. */
  fix?: string;
  /** True when the check did not apply (ok stays true). */
  skipped?: boolean;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  ok: false,
  detail,
  fix,
});
export const skip = (name: string, detail: string): CheckResult => ({
  name,
  ok: true,
  detail,
  skipped: true,
});

/** The message of an error, with its code when Node gave one (ECONNREFUSED, ETIMEOUT). */
export function reason(e: unknown): string {
  if (e instanceof WharfError) return e.message;
  const err = e as NodeJS.ErrnoException;
  const msg = err?.message ?? String(e);
  return err?.code && !msg.includes(err.code) ? `${msg} (${err.code})` : msg;
}

/** Human output: one line per check with ✓ / ✗ / -, a fix line under each failure, a summary. */
export function formatReport(results: readonly CheckResult[], source: string): string {
  const lines = [`wharf doctor (${source})`];
  for (const r of results) {
    const mark = r.skipped ? "-" : r.ok ? "✓" : "✗";
    lines.push(`${mark} ${r.name}: ${r.detail}`);
    if (!r.ok && r.fix) lines.push(`    fix: ${r.fix}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  lines.push(failed === 0 ? "No problems found." : `${failed} problem${failed === 1 ? "" : "s"} found.`);
  return `${lines.join("\n")}\n`;
}
