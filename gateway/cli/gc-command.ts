// `wharf gc`: garbage collection of hosted registries (unreferenced blobs past the grace period,
// abandoned uploads). Runs beside a running server like the `cache` commands: the cache is opened
// in shared mode (no data-dir lock; SQLite serialises the writes, see hosted-gc.ts). In a replica
// set (storage.postgres) it runs under the collection lease: one replica at a time; otherwise it
// reports that another replica is collecting and exits 75 (EX_TEMPFAIL), changing nothing.
import type { Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import { openCache } from "../cache/open-cache.ts";
import { loadConfig } from "../config/load-config.ts";
import type { Config } from "../config/schema.ts";
import { formatBytes, parseDuration } from "../config/units.ts";
import { silentLogger } from "../log.ts";
import { collectHostedGarbage, DEFAULT_GC_GRACE_MS } from "../registry/hosted/hosted-gc.ts";
import { LEASE_BUSY, LEASE_BUSY_EXIT, withCollectLease } from "../store/pg/collect-lease.ts";
import { createProgress } from "./progress.ts";

/** For sessions of a registry no longer configured (the schema's default for hosted.uploadTtl). */
const FALLBACK_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

export function registerGcCommand(program: Command): void {
  program
    .command("gc")
    .description(
      "remove hosted registries' unreferenced blobs and abandoned uploads (safe while wharf serves)",
    )
    .option("-c, --config <file>", "configuration file", process.env.WHARF_CONFIG)
    .option("-n, --dry-run", "report what would be removed, change nothing")
    .option("--grace <duration>", "keep unreferenced blobs linked more recently than this", "1h")
    .action(async (opts: { config?: string; dryRun?: boolean; grace: string }) => {
      const graceMs = parseDuration(opts.grace);
      if (graceMs === undefined)
        throw new WharfError("CONFIG_INVALID", `--grace: expected a duration like "1h", got "${opts.grace}"`);
      // storage keys resolved for storage.postgres's URL (the lease); upstream credentials are not
      const loaded = loadConfig(opts.config, process.env, { credentials: false, storageCredentials: true });
      const { config } = loaded;
      const collect = () => runGc(config, graceMs, opts.dryRun === true);
      // a dry run changes nothing: it needs no lease
      const ran = await withCollectLease(opts.dryRun ? null : loaded.metadataUrl, collect);
      if (!ran) {
        process.stderr.write(`wharf gc: ${LEASE_BUSY}\n`);
        process.exitCode = LEASE_BUSY_EXIT;
      }
    });
}

async function runGc(config: Config, graceMs: number, dryRun: boolean): Promise<void> {
  const opened = await openCache({
    dataDir: config.dataDir,
    log: silentLogger,
    fillTimeoutMs: config.cache.fillTimeout,
    shared: true,
  });
  try {
    const registries = config.registries as Record<string, { hosted?: { uploadTtl?: number } }>;
    const r = await collectHostedGarbage({
      cache: opened.cache,
      uploadTtl: (name) => registries[name]?.hosted?.uploadTtl ?? FALLBACK_UPLOAD_TTL_MS,
      graceMs: graceMs ?? DEFAULT_GC_GRACE_MS,
      dryRun,
      log: silentLogger,
      progress: (total) => createProgress({ total, label: "gc", unit: "links" }),
    });
    const verb = dryRun ? "would remove" : "removed";
    process.stdout.write(
      `gc (${verb}): ${r.linksRemoved} unreferenced link(s) in ${r.manifests} manifest link(s) checked, ` +
        `${r.blobsDeleted} blob(s) (${formatBytes(r.bytesFreed)}), ${r.uploadsRemoved} abandoned upload(s); ` +
        `${r.keptForCache} kept as proxy-cache content, ${r.keptInUse} in use\n`,
    );
  } finally {
    opened.close();
  }
}
