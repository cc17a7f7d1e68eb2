// `wharf client-config <kind>`: writes what builders need to pull through wharf (docker certs.d,
// containerd hosts.toml, buildkitd.toml, daemon.json). The generators are pure; this writes their files.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Argument, type Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import { buildkitConfig } from "../client-config/buildkit-config.ts";
import type { ClientConfig } from "../client-config/client-targets.ts";
import { containerdHostsConfig } from "../client-config/containerd-hosts.ts";
import { daemonJsonConfig } from "../client-config/daemon-json.ts";
import { defaultAddress } from "../client-config/default-address.ts";
import { dockerCertsConfig } from "../client-config/docker-certs.ts";
import { loadConfig } from "../config/load-config.ts";
import { openCa } from "./ca-command.ts";

const KINDS = ["docker", "containerd", "buildkit", "daemon-json"] as const;
type Kind = (typeof KINDS)[number];

interface Options {
  out?: string;
  address?: string;
  https?: boolean;
  installDir?: string;
  config?: string;
}

async function writeAll(dir: string, generated: ClientConfig): Promise<void> {
  for (const f of generated.files) {
    const path = join(dir, ...f.path.split("/"));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.content, { mode: 0o644 });
  }
  process.stdout.write(`wrote ${generated.files.length} file(s) under ${dir}:\n`);
  for (const f of generated.files) process.stdout.write(`  ${f.path}\n`);
  for (const note of generated.notes) process.stdout.write(`\n${note}\n`);
}

async function run(kind: Kind, opts: Options): Promise<void> {
  const { config, source } = loadConfig(opts.config, process.env, { credentials: false });
  const address = opts.address ?? defaultAddress(config);
  if (!address) {
    throw new WharfError(
      "CONFIG_INVALID",
      "cannot tell which address builders reach wharf at: pass --address HOST",
    );
  }
  const https = opts.https ?? false;
  if (kind === "daemon-json") {
    const generated = daemonJsonConfig({ config, address, https });
    const content = generated.files[0]?.content ?? "";
    if (opts.out) {
      await writeFile(opts.out, content, { mode: 0o644 });
      process.stdout.write(`wrote ${opts.out}\n`);
    } else {
      process.stdout.write(content);
    }
    for (const note of generated.notes) process.stderr.write(`\n${note}\n`);
    return;
  }
  const outDir = resolve(opts.out ?? `wharf-${kind}`);
  const caPem = (await openCa(config, source)).certPem;
  if (kind === "docker") return writeAll(outDir, dockerCertsConfig({ config, caPem }));
  const generated =
    kind === "containerd"
      ? containerdHostsConfig({
          config,
          caPem,
          address,
          https,
          installDir: opts.installDir ?? join(outDir, "certs.d"),
        })
      : buildkitConfig({ config, caPem, address, https, installDir: opts.installDir ?? outDir });
  if (!opts.installDir) {
    const usual = kind === "containerd" ? "/etc/containerd/certs.d" : "/etc/buildkit";
    generated.notes.unshift(
      `The CA paths inside point into ${outDir}. To copy the files elsewhere, generate them again with ` +
        `--install-dir set to their place on the builder (for example --install-dir ${usual}).`,
    );
  }
  return writeAll(outDir, generated);
}

export function registerClientConfigCommand(program: Command): void {
  program
    .command("client-config")
    .description("write the configuration builders need to pull through wharf")
    .addArgument(new Argument("<kind>", "what to configure").choices(KINDS))
    .option(
      "-o, --out <path>",
      "output directory (default ./wharf-<kind>); for daemon-json a file (default stdout)",
    )
    .option(
      "--address <host>",
      "address builders reach wharf at (default: first dns.answer, else this host's IPv4)",
    )
    .option("--https", "use wharf's TLS listener as the mirror endpoint instead of the plain-HTTP one")
    .option(
      "--install-dir <dir>",
      "where the files will live on the builder, for CA paths (containerd: the certs.d dir; buildkit: ca.crt's dir)",
    )
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action((kind: Kind, opts: Options) => run(kind, opts));
}
