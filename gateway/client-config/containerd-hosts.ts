// containerd registry host configuration: certs.d/<registry>/hosts.toml per registry plus _default,
// each pointing at wharf as a mirror (containerd docs/hosts.md). ctr uses it with --hosts-dir; the CRI
// plugin with config_path. Requests to a mirror carry ?ns=<registry>, which is how wharf tells them apart.
import { posix } from "node:path";
import type { Config } from "../config/schema.ts";
import {
  type ClientConfig,
  type ClientTarget,
  clientTargets,
  type GeneratedFile,
  mirrorEndpoint,
  sniNote,
} from "./client-targets.ts";
import { tomlArray, tomlString, tomlTable } from "./toml.ts";

export interface ContainerdHostsOptions {
  config: Config;
  caPem: string;
  address: string;
  /** Use wharf's TLS listener as the mirror instead of the plain-HTTP one. */
  https?: boolean;
  /** Absolute path the certs.d directory will have on the builder; `ca` entries point into it. */
  installDir: string;
}

function hostsToml(opts: {
  comment: string;
  server?: string;
  serverCa?: string;
  mirror: string;
  mirrorCa?: string;
  push?: boolean;
}): string {
  const lines = [`# ${opts.comment}`];
  if (opts.server) lines.push(`server = ${tomlString(opts.server)}`);
  // Only read for the server by newer containerd; it matters when wharf's DNS also answers the server's name.
  if (opts.serverCa) lines.push(`ca = ${tomlString(opts.serverCa)}`);
  // a hosted registry lives only in wharf: pushes go there too; no `server` line, so containerd's
  // default server (https://<registry>) is the registry name, which wharf's DNS answers
  const capabilities = opts.push ? ["pull", "resolve", "push"] : ["pull", "resolve"];
  lines.push("", tomlTable("host", opts.mirror), `  capabilities = ${tomlArray(capabilities)}`);
  if (opts.mirrorCa) lines.push(`  ca = ${tomlString(opts.mirrorCa)}`);
  return `${lines.join("\n")}\n`;
}

export function containerdHostsConfig(opts: ContainerdHostsOptions): ClientConfig {
  const https = opts.https ?? false;
  const mirror = mirrorEndpoint(opts.config, opts.address, https);
  const files: GeneratedFile[] = [];
  const dirs: { dir: string; target?: ClientTarget }[] = [
    ...clientTargets(opts.config).map((target) => ({ dir: target.registry, target })),
    { dir: "_default" },
  ];
  for (const { dir, target } of dirs) {
    const needsCa = https || (target?.intercept ?? false);
    const caPath = posix.join(opts.installDir, dir, "ca.crt");
    const comment = target
      ? `wharf client-config containerd: pull ${target.registry} through wharf at ${mirror}`
      : `wharf client-config containerd: other registries try wharf at ${mirror} first`;
    const content = hostsToml({
      comment,
      server: target?.upstream,
      serverCa: target?.intercept ? caPath : undefined,
      mirror,
      mirrorCa: https ? caPath : undefined,
      push: target?.hosted,
    });
    files.push({ path: `certs.d/${dir}/hosts.toml`, content });
    if (needsCa) files.push({ path: `certs.d/${dir}/ca.crt`, content: opts.caPem });
  }
  const notes = [
    `Copy certs.d/ to ${opts.installDir} on each builder. For the CRI plugin set config_path = ` +
      `${tomlString(opts.installDir)} under [plugins."io.containerd.grpc.v1.cri".registry] in containerd's ` +
      `config.toml; ctr takes --hosts-dir ${opts.installDir}. Changes under it need no restart.`,
    ...(https ? sniNote(opts.address) : []),
  ];
  return { files, notes };
}
