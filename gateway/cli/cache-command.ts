// `wharf cache ls|rm|gc|verify`: maintenance on the cache in dataDir. Safe beside a running
// server (see openCache's shared mode). In a replica set (storage.postgres), `gc` runs under the
// collection lease, one replica at a time (store/pg/collect-lease.ts).
import type { Command } from "commander";
import {
  collectGarbage,
  listTags,
  removeReference,
  verifyBlobs,
  verifySharedBlobs,
} from "../cache/cache-maintenance.ts";
import { openCache } from "../cache/open-cache.ts";
import { loadConfig } from "../config/load-config.ts";
import { formatBytes } from "../config/units.ts";
import { silentLogger } from "../log.ts";
import { LEASE_BUSY, LEASE_BUSY_EXIT, withCollectLease } from "../store/pg/collect-lease.ts";
import { openSharedStore } from "../store/s3/open-shared-store.ts";
import { createProgress } from "./progress.ts";

async function withCache<T>(
  configFile: string | undefined,
  fn: (ctx: Awaited<ReturnType<typeof open>>) => Promise<T>,
  opts: { sharedStore?: boolean; storageCredentials?: boolean } = {},
): Promise<T> {
  const ctx = await open(configFile, opts.sharedStore === true, opts.storageCredentials);
  try {
    return await fn(ctx);
  } finally {
    ctx.opened.close();
  }
}

/**
 * `sharedStore`: also open storage.s3's bucket; it and `storageCredentials` resolve the storage keys
 * and storage.postgres's URL (never upstream secrets).
 */
async function open(configFile: string | undefined, sharedStore: boolean, storageCredentials = sharedStore) {
  const loaded = loadConfig(configFile, process.env, { credentials: false, storageCredentials });
  const { config } = loaded;
  const opened = await openCache({
    dataDir: config.dataDir,
    log: silentLogger,
    fillTimeoutMs: config.cache.fillTimeout,
    shared: true,
    sharedStore: sharedStore ? await openSharedStore(loaded) : undefined,
  });
  return { config, opened, cache: opened.cache, metadataUrl: loaded.metadataUrl };
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function registerCacheCommands(program: Command): void {
  const cache = program.command("cache").description("inspect and maintain the cache in dataDir");
  cache
    .command("ls")
    .description("list cached tags, optionally of one registry or registry/repository")
    .argument("[filter]", "registry or registry/repository, e.g. docker.io/library/alpine")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .option("--json", "JSON output")
    .action((filter: string | undefined, opts: { config?: string; json?: boolean }) =>
      withCache(opts.config, async ({ cache: c }) => {
        const tags = listTags(c, filter);
        if (opts.json) {
          out(JSON.stringify(tags, null, 2));
          return;
        }
        const totals = c.db.totalSize();
        for (const t of tags) {
          out(
            `${t.registry}/${t.repository}:${t.tag}  ${t.digest.slice(0, 19)}…  ${formatBytes(t.size)}  checked ${new Date(t.checkedAt).toISOString()}`,
          );
        }
        out(`${tags.length} tag(s); cache holds ${totals.count} blob(s), ${formatBytes(totals.bytes)}`);
      }),
    );
  cache
    .command("rm")
    .description("remove a tag record (registry/repo:tag) or a blob/manifest (sha256:...)")
    .argument("<ref>")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action((ref: string, opts: { config?: string }) =>
      withCache(opts.config, async ({ cache: c }) => out(await removeReference(c, ref))),
    );
  cache
    .command("gc")
    .description("drop orphaned records, index stray files, evict down to cache.maxSize / cache.minFree")
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .option("-n, --dry-run", "report what would be done, change nothing")
    .action((opts: { config?: string; dryRun?: boolean }) =>
      withCache(
        opts.config,
        async ({ cache: c, config, metadataUrl }) => {
          const collect = async () => {
            const r = await collectGarbage(c, {
              dataDir: config.dataDir,
              maxSize: config.cache.maxSize,
              minFree: config.cache.minFree,
              dryRun: opts.dryRun === true,
              log: silentLogger,
              progress: (total) => createProgress({ total, label: "gc" }),
            });
            const verb = opts.dryRun ? "would" : "did";
            out(
              `gc (${verb}): ${r.orphanRecords} orphaned record(s) dropped, ${r.unindexedFiles} stray file(s) indexed, ${r.evicted} blob(s) evicted (${formatBytes(r.evictedBytes)})`,
            );
          };
          // a dry run changes nothing: it needs no lease
          if (!(await withCollectLease(opts.dryRun ? null : metadataUrl, collect))) {
            process.stderr.write(`wharf cache gc: ${LEASE_BUSY}\n`);
            process.exitCode = LEASE_BUSY_EXIT;
          }
        },
        { storageCredentials: true },
      ),
    );
  cache
    .command("verify")
    .description(
      "re-hash every cached blob; move mismatches to dataDir/quarantine (storage.kind s3: the bucket's too, to <prefix>quarantine/)",
    )
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .action((opts: { config?: string }) =>
      withCache(
        opts.config,
        async ({ cache: c }) => {
          const r = await verifyBlobs(c, (total) => createProgress({ total, label: "verify" }));
          out(`verified ${r.checked} blob(s), ${formatBytes(r.bytes)}; ${r.quarantined.length} quarantined`);
          for (const d of r.quarantined) out(`  quarantined ${d}`);
          let bad = r.quarantined.length;
          if (c.shared) {
            const s = await verifySharedBlobs(c.shared, (total) =>
              createProgress({ total, label: "verify s3" }),
            );
            out(
              `verified ${s.checked} blob(s) in the shared store, ${formatBytes(s.bytes)}; ${s.quarantined.length} quarantined`,
            );
            for (const d of s.quarantined) out(`  quarantined in the shared store ${d}`);
            bad += s.quarantined.length;
          }
          if (bad > 0) process.exitCode = 1;
        },
        { sharedStore: true },
      ),
    );
}
