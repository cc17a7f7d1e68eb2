// Runs the OCI distribution-spec conformance suite (a compiled copy in ../shared/tools/
// oci-conformance/, beside the clone; see its README) and reads its summary line.
// OCI_CONFORMANCE_RUN overrides where run.sh is, for a checkout that is not beside shared/.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCommand } from "./run-command.ts";
import { REPO_ROOT } from "./wharf-process.ts";

export const CONFORMANCE_RUN =
  process.env.OCI_CONFORMANCE_RUN ?? resolve(REPO_ROOT, "../shared/tools/oci-conformance/run.sh");

export interface ConformanceSummary {
  ran: number;
  passed: number;
  failed: number;
  /** The names of the failed specs, one a line (for assertion messages). */
  failures: string;
  output: string;
}

/** Throws (never skips) when the suite is not where CI puts it. */
export function assertConformanceSuite(): void {
  if (!existsSync(CONFORMANCE_RUN))
    throw new Error(
      `the OCI conformance suite is missing at ${CONFORMANCE_RUN}: CI places shared/ beside the clone (../shared), or set OCI_CONFORMANCE_RUN`,
    );
}

export async function runConformance(opts: {
  root: string;
  namespace: string;
  workflows: string;
  env?: Record<string, string>;
  reportDir: string;
}): Promise<ConformanceSummary> {
  assertConformanceSuite();
  const r = await runCommand([CONFORMANCE_RUN, opts.root, opts.namespace, opts.workflows], {
    env: { ...opts.env, OCI_REPORT_DIR: join(opts.reportDir, `report-${opts.workflows.replace(/,/g, "-")}`) },
    timeoutMs: 300_000,
    allowFailure: true,
  });
  const output = `${r.stdout}\n${r.stderr}`;
  const m = /Ran (\d+) of \d+ Specs[\s\S]*?(\d+) Passed \| (\d+) Failed/.exec(output);
  if (!m)
    throw new Error(`no summary line from the conformance suite (exit ${r.code}):\n${output.slice(-3000)}`);
  const summary = {
    ran: Number(m[1]),
    passed: Number(m[2]),
    failed: Number(m[3]),
    failures: output
      .split("\n")
      .filter((l) => l.includes("[FAIL]"))
      .join("\n"),
    output,
  };
  console.info(
    `conformance ${opts.workflows} on ${opts.namespace}: ${summary.passed} passed, ${summary.failed} failed of ${summary.ran} run`,
  );
  return summary;
}
