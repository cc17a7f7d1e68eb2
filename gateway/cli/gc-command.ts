// `wharf gc`: garbage collection of hosted registries (unreferenced blobs past the grace period,
// abandoned uploads). Runs beside a running server like the `cache` commands: the cache is opened
// in shared mode (no data-dir lock; SQLite serialises the writes, see hosted-gc.ts).
import type { Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import { openCache } from "../cache/open-cache.ts";
import { loadConfig } from "../config/load-config.ts";
import { formatBytes, parseDuration } from "../config/units.ts";
import { silentLogger } from "../log.ts";
import { collectHostedGarbage, DEFAULT_GC_GRACE_MS } from "../registry/hosted/hosted-gc.ts";
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
      const { config } = loadConfig(opts.config, process.env, { credentials: false });
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
          dryRun: opts.dryRun === true,
          log: silentLogger,
          progress: (total) => createProgress({ total, label: "gc", unit: "links" }),
        });
        const verb = opts.dryRun ? "would remove" : "removed";
        process.stdout.write(
          `gc (${verb}): ${r.linksRemoved} unreferenced link(s) in ${r.manifests} manifest link(s) checked, ` +
            `${r.blobsDeleted} blob(s) (${formatBytes(r.bytesFreed)}), ${r.uploadsRemoved} abandoned upload(s); ` +
            `${r.keptForCache} kept as proxy-cache content, ${r.keptInUse} in use\n`,
        );
      } finally {
        opened.close();
      }
    });
}
