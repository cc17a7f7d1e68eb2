// BuildKit (buildkitd.toml, [registry."<host>"] tables): wharf as the mirror of every registry, plus
// wharf's CA for every intercepted host name, since wharf's DNS sends those names to wharf too.
import { posix } from "node:path";
import type { Config } from "../config/schema.ts";
import { type ClientConfig, clientTargets, mirrorEndpoint, sniNote } from "./client-targets.ts";
import { tomlArray, tomlTable } from "./toml.ts";

export interface BuildkitOptions {
  config: Config;
  caPem: string;
  address: string;
  https?: boolean;
  /** Absolute directory that will hold ca.crt on the builder. */
  installDir: string;
}

export function buildkitConfig(opts: BuildkitOptions): ClientConfig {
  const https = opts.https ?? false;
  // BuildKit names mirrors by host[:port]; the scheme comes from the mirror's own table (http = true).
  const mirrorHost = mirrorEndpoint(opts.config, opts.address, https).replace(/^https?:\/\//, "");
  const caPath = posix.join(opts.installDir, "ca.crt");
  const tables: string[] = [];
  for (const t of clientTargets(opts.config)) {
    for (const host of t.hosts) {
      const lines = [tomlTable("registry", host)];
      if (host === t.registry) lines.push(`  mirrors = ${tomlArray([mirrorHost])}`);
      if (t.intercept) lines.push(`  ca = ${tomlArray([caPath])}`);
      if (lines.length > 1) tables.push(lines.join("\n"));
    }
  }
  tables.push(
    [tomlTable("registry", mirrorHost), https ? `  ca = ${tomlArray([caPath])}` : "  http = true"].join("\n"),
  );
  const content = `# wharf client-config buildkit: pull through wharf at ${mirrorHost}\n\n${tables.join("\n\n")}\n`;
  return {
    files: [
      { path: "buildkitd.toml", content },
      { path: "ca.crt", content: opts.caPem },
    ],
    notes: [
      `Copy buildkitd.toml to /etc/buildkit/buildkitd.toml (or pass it with buildkitd --config, or ` +
        `docker buildx create --buildkitd-config) and ca.crt to ${caPath} on each builder, then restart buildkitd.`,
      ...(https ? sniNote(opts.address) : []),
    ],
  };
}
