// Regenerates the network `aliases:` lists of the compose files from compose/wharf.yml, so the names that
// builders resolve to wharf are declared once, in wharf's own config.
//   node compose/sync-aliases.ts            rewrite the lists
//   node compose/sync-aliases.ts --check    exit 1 if a list differs (compose/compose.test.ts runs this)
//   --dir DIR                               work on another copy of the compose folder
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isSeq, parse, parseDocument } from "yaml";
import { interceptedNames } from "../gateway/config/intercepted-names.ts";
import { buildConfig } from "../gateway/config/load-config.ts";
import type { Config } from "../gateway/config/schema.ts";

export const COMPOSE_DIR = dirname(fileURLToPath(import.meta.url));
export const SHARED_CONFIG = "wharf.yml";
/** Compose files whose wharf service reaches builders through network aliases (dns-mode uses DNS). */
export const ALIAS_FILES: readonly string[] = ["network-alias/compose.yml", "swarm/stack.yml"];
export const ALIAS_PATH: readonly string[] = ["services", "wharf", "networks", "builders", "aliases"];

// Compose implementations read YAML 1.1 (PyYAML in docker-compose 1.x, Go yaml.v2 in `docker stack`):
// parse compose files the same way so that a rewrite keeps every other value's meaning.
const COMPOSE_YAML = { version: "1.1" } as const;

/**
 * Loads a wharf config for its host names. Upstream credentials are dropped first: they name no host,
 * and their passwordFile (a container secret path) need not exist where this runs.
 */
export function loadNamesConfig(file: string): Config {
  const doc: unknown = parse(readFileSync(file, "utf8"));
  const registries = (doc as { registries?: unknown } | null)?.registries;
  if (registries && typeof registries === "object") {
    for (const reg of Object.values(registries as Record<string, unknown>)) {
      if (reg && typeof reg === "object") delete (reg as { auth?: unknown }).auth;
    }
  }
  return buildConfig(doc, {}, file).config;
}

// Every name builders must reach wharf under (a network alias is a bare DNS name).
export { interceptedNames };

/** The alias list of the wharf service in a compose file's text, or undefined if it has none. */
export function aliasesIn(text: string): string[] | undefined {
  const doc = parseDocument(text, COMPOSE_YAML);
  const list = doc.getIn(ALIAS_PATH, true);
  return isSeq(list) ? (list.toJSON() as unknown[]).map(String) : undefined;
}

/** Returns the compose text with the wharf service's alias list replaced; comments and layout stay. */
export function withAliases(text: string, names: readonly string[], where = "compose file"): string {
  const doc = parseDocument(text, COMPOSE_YAML);
  const first = doc.errors[0];
  if (first) throw new Error(`${where}: ${first.message.split("\n")[0]}`);
  const current = doc.getIn(ALIAS_PATH, true);
  if (!isSeq(current)) throw new Error(`${where}: no list at ${ALIAS_PATH.join(".")}`);
  current.items = names.map((name) => doc.createNode(name));
  // As written by hand: long strings (the healthcheck command) unfolded, flow lists as `[a, b]`.
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

export interface SyncResult {
  file: string;
  changed: boolean;
  have: string[];
  want: string[];
}

/** Compares (and unless `check`, rewrites) every alias file under `dir`. */
export function syncAliases(dir: string, check: boolean): SyncResult[] {
  const want = interceptedNames(loadNamesConfig(join(dir, SHARED_CONFIG)));
  return ALIAS_FILES.map((file) => {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    const next = withAliases(text, want, file);
    const changed = next !== text;
    if (changed && !check) writeFileSync(path, next);
    return { file, changed, have: aliasesIn(text) ?? [], want };
  });
}

export function main(argv: string[]): number {
  let opts: { check?: boolean; dir?: string };
  try {
    opts = parseArgs({ args: argv, options: { check: { type: "boolean" }, dir: { type: "string" } } }).values;
  } catch (e) {
    process.stderr.write(
      `sync-aliases: ${(e as Error).message}\nusage: sync-aliases.ts [--check] [--dir DIR]\n`,
    );
    return 2;
  }
  const check = opts.check === true;
  const results = syncAliases(opts.dir ?? COMPOSE_DIR, check);
  for (const r of results.filter((x) => x.changed)) {
    if (!check) {
      process.stdout.write(`updated ${r.file}\n`);
      continue;
    }
    const missing = r.want.filter((n) => !r.have.includes(n));
    const extra = r.have.filter((n) => !r.want.includes(n));
    process.stderr.write(
      `${r.file}: aliases differ from ${SHARED_CONFIG} (missing: ${missing.join(", ") || "none"}; ` +
        `extra: ${extra.join(", ") || "none"}; or order/layout); run \`npm run compose:sync\`\n`,
    );
  }
  return check && results.some((r) => r.changed) ? 1 : 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
