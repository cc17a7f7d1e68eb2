// `wharf doctor`: checks a deployment and says what is wrong and how to fix it. Exit code 1 when
// any check fails (an invalid config is one of those failures, reported like the others).
import { type Command, Option } from "commander";
import { parseDuration } from "../config/units.ts";
import { formatReport } from "../doctor/check-result.ts";
import { runDoctor } from "../doctor/run-doctor.ts";

interface DoctorFlags {
  config?: string;
  dns?: string;
  expect?: string[];
  certsD: string;
  trustStore: string;
  ca?: string;
  repository?: string;
  timeout: string;
  json?: boolean;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description(
      "check, from a builder: intercepted names resolve to wharf and its TLS is trusted as dockerd trusts it; on wharf's host also listeners, upstreams, credentials; and the clock",
    )
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .option(
      "--dns <server>",
      "DNS server to resolve the intercepted names with, IP[:PORT] (default: this machine's resolver; listen.dns on wharf's host)",
    )
    .option("--expect <ip...>", "address(es) builders must get for intercepted names (default: dns.answer)")
    .option("--certs-d <dir>", "dockerd's certs.d directory on this builder", "/etc/docker/certs.d")
    .option(
      "--trust-store <file>",
      "the system trust store dockerd uses (Docker Hub's names are verified against it alone)",
      "/etc/ssl/certs/ca-certificates.crt",
    )
    .option(
      "--ca <file>",
      "wharf's CA certificate (default: tls.caCertFile or dataDir/ca.crt where readable, else the CA wharf presents)",
    )
    .option("--repository <name>", "repository to request a pull token for", "library/alpine")
    .addOption(new Option("--timeout <duration>", "time allowed per network check").default("10s"))
    .option("--json", "JSON output")
    .action(async (flags: DoctorFlags) => {
      const timeoutMs = parseDuration(flags.timeout);
      if (timeoutMs === undefined)
        throw new Error(`--timeout ${flags.timeout}: expected a duration like 10s`);
      const report = await runDoctor({
        configFile: flags.config,
        env: process.env,
        dns: flags.dns,
        expect: flags.expect,
        trust: { certsDir: flags.certsD, systemStore: flags.trustStore },
        caFile: flags.ca,
        repository: flags.repository,
        timeoutMs,
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report.checks, report.source),
      );
      process.exitCode = report.ok ? 0 : 1;
    });
}
