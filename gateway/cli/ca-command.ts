// `wharf ca show|export|rotate`: the local CA that signs wharf's certificates. Builders must trust it.
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { rotateCa } from "../../certs/ca-rotation.ts";
import { type Ca, type CaOptions, caFiles, loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { WharfError } from "../../common/errors.ts";
import { loadConfig } from "../config/load-config.ts";
import type { Config } from "../config/schema.ts";

/** Where the CA lives for this configuration: dataDir, unless tls.caCertFile/caKeyFile bring one. */
export function caOptions(config: Config): CaOptions {
  return {
    dir: config.dataDir,
    hostname: hostname(),
    certFile: config.tls.caCertFile,
    keyFile: config.tls.caKeyFile,
  };
}

/**
 * The CA the server uses with this configuration. One-shot commands (ca show/export, client-config)
 * never create it: a CA made here, for a data directory the server does not use, would be written out
 * to builders while wharf presents certificates from another one. `wharf serve` creates it.
 */
export async function openCa(config: Config, source?: string): Promise<Ca> {
  const o = caOptions(config);
  if (!o.certFile && !o.keyFile) {
    const { certFile, keyFile } = caFiles(o.dir);
    if (!existsSync(certFile) && !existsSync(keyFile)) {
      const from =
        !source || source === "embedded defaults"
          ? "the embedded defaults: no --config, no WHARF_CONFIG"
          : source;
      throw new WharfError(
        "CA_MISSING",
        `no CA at ${resolve(certFile)} (dataDir of ${from}). Only \`wharf serve\` creates it: start ` +
          "wharf first, and run this with the configuration it uses (--config FILE or WHARF_CONFIG).",
      );
    }
  }
  return loadOrCreateCa(o);
}

const out = (line: string) => process.stdout.write(`${line}\n`);

function describeCa(ca: Ca): string[] {
  return [
    `subject:     ${ca.subject}`,
    `sha256:      ${ca.fingerprint256}`,
    `not before:  ${ca.notBefore.toISOString()}`,
    `not after:   ${ca.notAfter.toISOString()}`,
    `file:        ${ca.certFile}${ca.external ? " (tls.caCertFile)" : ""}`,
  ];
}

export function registerCaCommands(program: Command): void {
  const ca = program
    .command("ca")
    .description("show, export or rotate the CA that signs wharf's certificates");
  ca.command("show")
    .description("print the CA's subject, SHA-256 fingerprint, validity and file (`wharf serve` creates it)")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .option("--json", "JSON output")
    .action(async (opts: { config?: string; json?: boolean }) => {
      const loaded = loadConfig(opts.config, process.env, { credentials: false });
      const c = await openCa(loaded.config, loaded.source);
      const { subject, fingerprint256, notBefore, notAfter, certFile, external } = c;
      const json = { subject, fingerprint256, notBefore, notAfter, certFile, external };
      out(opts.json ? JSON.stringify(json, null, 2) : describeCa(c).join("\n"));
    });
  ca.command("export")
    .description("write the CA certificate (PEM) to stdout or a file, for builders to trust")
    .option("-o, --out <file>", "write to FILE instead of stdout")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action(async (opts: { config?: string; out?: string }) => {
      const loaded = loadConfig(opts.config, process.env, { credentials: false });
      const c = await openCa(loaded.config, loaded.source);
      if (!opts.out) {
        process.stdout.write(c.certPem);
        return;
      }
      await writeFile(opts.out, c.certPem, { mode: 0o644 });
      out(`wrote ${opts.out} (sha256 ${c.fingerprint256})`);
    });
  ca.command("rotate")
    .description("replace wharf's own CA with a new one; every builder must then trust the new CA")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action(async (opts: { config?: string }) => {
      const { config } = loadConfig(opts.config, process.env, { credentials: false });
      if (config.tls.caCertFile || config.tls.caKeyFile) {
        throw new WharfError(
          "CONFIG_INVALID",
          "tls.caCertFile/tls.caKeyFile point at your own CA; wharf only rotates the CA it created. " +
            "Replace those files and restart wharf instead.",
        );
      }
      const { ca: fresh, previous } = await rotateCa({ dir: config.dataDir, hostname: hostname() });
      if (previous) out(`Moved the old CA aside: ${previous.certFile} and ${previous.keyFile}.`);
      out("Created a new CA:");
      out(describeCa(fresh).join("\n"));
      out("Deleted the cached leaf certificates; new ones are issued from the new CA.");
      out("Restart a running wharf so that it uses the new CA.");
      out("Every builder must now trust the new CA: wharf ca export, or wharf client-config <kind>, again.");
    });
}
