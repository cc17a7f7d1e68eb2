// `wharf gc`: garbage collection of hosted registries (unreferenced blobs past the grace period,
// abandoned uploads). Runs beside a running server like the `cache` commands: the cache is opened
// in shared mode (no data-dir lock; SQLite serialises the writes, see hosted-gc.ts). In a replica
// set (storage.postgres) it runs under the collection lease: one replica at a time; otherwise it
// reports that another replica is collecting and exits 75 (EX_TEMPFAIL), changing nothing. With a
// bucket too (storage.kind s3) it collects the replica set's hosted content: the shared index in
// PostgreSQL and the objects in the bucket (shared-hosted-gc.ts).
import type { Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import { openCache } from "../cache/open-cache.ts";
import { type LoadedConfig, loadConfig } from "../config/load-config.ts";
import { formatBytes, parseDuration } from "../config/units.ts";
import { silentLogger } from "../log.ts";
import {
  collectHostedGarbage,
  DEFAULT_GC_GRACE_MS,
  type HostedGcResult,
  removeAbandonedUploads,
} from "../registry/hosted/hosted-gc.ts";
import { uploadsDir } from "../registry/hosted/hosted-registry.ts";
import { collectSharedHostedGarbage } from "../registry/hosted/shared-hosted-gc.ts";
import { LEASE_BUSY, LEASE_BUSY_EXIT, withCollectLease } from "../store/pg/collect-lease.ts";
import { openPostgres } from "../store/pg/open-postgres.ts";
import { openSharedStore } from "../store/s3/open-shared-store.ts";
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
      const collect = () => runGc(loaded, graceMs, opts.dryRun === true);
      // a dry run changes nothing: it needs no lease
      const ran = await withCollectLease(opts.dryRun ? null : loaded.metadataUrl, collect);
      if (!ran) {
        process.stderr.write(`wharf gc: ${LEASE_BUSY}\n`);
        process.exitCode = LEASE_BUSY_EXIT;
      }
    });
}

async function runGc(loaded: LoadedConfig, graceMs: number, dryRun: boolean): Promise<void> {
  const { config } = loaded;
  const bucket = loaded.metadataUrl ? await openSharedStore(loaded) : undefined;
  const opened = await openCache({
    dataDir: config.dataDir,
    log: silentLogger,
    fillTimeoutMs: config.cache.fillTimeout,
    shared: true,
    ...(bucket && { sharedStore: bucket }),
  });
  try {
    const registries = config.registries as Record<string, { hosted?: { uploadTtl?: number } }>;
    const uploadTtl = (name: string) => registries[name]?.hosted?.uploadTtl ?? FALLBACK_UPLOAD_TTL_MS;
    const progress = (total: number) => createProgress({ total, label: "gc", unit: "links" });
    let r: HostedGcResult;
    if (bucket && loaded.metadataUrl) {
      const metadata = await openPostgres(loaded.metadataUrl, silentLogger, { max: 2 });
      try {
        const shared = await collectSharedHostedGarbage({
          pool: metadata.pool,
          bucket,
          cache: opened.cache,
          graceMs,
          dryRun,
          log: silentLogger,
          progress,
        });
        const uploadsRemoved = await removeAbandonedUploads(
          uploadsDir(opened.cache),
          uploadTtl,
          Date.now(),
          dryRun,
        );
        r = { ...shared, uploadsRemoved };
      } finally {
        await metadata.close();
      }
    } else
      r = await collectHostedGarbage({
        cache: opened.cache,
        uploadTtl,
        graceMs: graceMs ?? DEFAULT_GC_GRACE_MS,
        dryRun,
        log: silentLogger,
        progress,
      });
    const verb = dryRun ? "would remove" : "removed";
    process.stdout.write(
      `gc (${verb}): ${r.linksRemoved} unreferenced link(s) in ${r.manifests} manifest link(s) checked, ` +
        `${r.blobsDeleted} blob(s) (${formatBytes(r.bytesFreed)})${bucket ? " from the shared store" : ""}, ` +
        `${r.uploadsRemoved} abandoned upload(s); ` +
        `${r.keptForCache} kept as proxy-cache content, ${r.keptInUse} in use\n`,
    );
  } finally {
    opened.close();
  }
}
