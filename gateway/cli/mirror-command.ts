// `wharf mirror sync|ls|history|pin|unpin|rollback` (docs/mirror.md). Each opens the store in
// shared mode, so it works beside a running server, and the mirror's state where the server keeps
// it (PostgreSQL in a replica set); servers notice changes within a second
// (mirror/tag-overrides.ts). A sync takes the entry's lease, waiting for a replica that runs it
// now. Exit code 1 when any sync entry failed.
import type { Command } from "commander";
import { WharfError } from "../../common/errors.ts";
import { silentLogger } from "../log.ts";
import { parseTagAddress, pin, rollback, tagDeps, tagView, unpin } from "../mirror/mirror-actions.ts";
import { type MirrorEntry, selectEntries, showRepo } from "../mirror/mirror-entries.ts";
import { mirrorStatus } from "../mirror/mirror-service.ts";
import { type EntryReport, entryId, type SyncProgress, syncEntry } from "../mirror/sync-runner.ts";
import { sourceRemotes, withMirror } from "./mirror-context.ts";
import { historyText, lsText, syncText } from "./mirror-report.ts";
import { createProgress, type Progress } from "./progress.ts";

const out = (lines: string | string[]): void => {
  for (const l of Array.isArray(lines) ? lines : [lines]) process.stdout.write(`${l}\n`);
};

/** How long `sync` waits for a replica that is syncing the same entry. */
const LEASE_WAIT_MS = 15 * 60_000;

const configOption = ["-c, --config <file>", "configuration file", process.env.WHARF_CONFIG] as const;

function barProgress(): SyncProgress {
  let bar: Progress | undefined;
  return {
    entryStarted: (entry, tags) => {
      bar = createProgress({
        total: tags,
        label: `${entry.target.registry}/${entry.target.repository}`,
        unit: "tags",
      });
    },
    bytes: (n) => bar?.increment(0, n),
    tagDone: () => bar?.increment(1),
    entryDone: () => {
      bar?.stop();
      bar = undefined;
    },
  };
}

/** An entry another replica kept syncing for longer than LEASE_WAIT_MS: failed, target unchanged. */
function busyReport(entry: MirrorEntry): EntryReport {
  return {
    entry: entryId(entry),
    source: showRepo(entry.source),
    target: showRepo(entry.target),
    ok: false,
    error: "another replica is still syncing this entry; try again later",
    tags: [],
  };
}

export function registerMirrorCommands(program: Command): void {
  const mirror = program
    .command("mirror")
    .description("managed mirror: vetted copies of upstream tags with history");
  mirror
    .command("sync")
    .description("copy changed upstream tags into their targets (all entries, or those named)")
    .argument("[entry...]", "entries by source or target repository, e.g. docker.io/library/alpine")
    .option(...configOption)
    .option("-n, --dry-run", "check upstream and report what would change; change nothing")
    .option("--json", "one JSON document on stdout")
    .action((names: string[], opts: { config?: string; dryRun?: boolean; json?: boolean }) =>
      withMirror(opts.config, { credentials: true }, async (ctx) => {
        const { found, unknown } = selectEntries(ctx.entries, names);
        if (unknown.length > 0)
          throw new WharfError("CONFIG_INVALID", `no mirror entry named ${unknown.join(", ")}`);
        const remotes = sourceRemotes(ctx);
        const dryRun = opts.dryRun === true;
        const reports: EntryReport[] = [];
        try {
          for (const entry of found) {
            const lease = dryRun
              ? undefined
              : await ctx.store.lease(entryId(entry), { waitMs: LEASE_WAIT_MS });
            if (!dryRun && !lease) {
              reports.push(busyReport(entry));
              continue;
            }
            try {
              reports.push(
                await syncEntry(
                  {
                    cache: ctx.opened.cache,
                    store: ctx.store,
                    remoteFor: remotes.remoteFor,
                    log: silentLogger,
                    dryRun,
                    progress: barProgress(),
                  },
                  entry,
                ),
              );
            } finally {
              await lease?.release();
            }
          }
        } finally {
          await remotes.close();
        }
        const ok = reports.every((r) => r.ok);
        if (opts.json)
          out(
            JSON.stringify(
              {
                ok,
                dryRun,
                tags: reports.flatMap((r) => r.tags),
                entries: reports.map(({ tags: _, ...r }) => r),
              },
              null,
              2,
            ),
          );
        else out(syncText(reports, dryRun));
        if (!ok) process.exitCode = 1;
      }),
    );
  mirror
    .command("ls")
    .description("entries, their tags' current digests, pins and last sync")
    .option(...configOption)
    .option("--json", "JSON output")
    .action((opts: { config?: string; json?: boolean }) =>
      withMirror(opts.config, { credentials: false }, async (ctx) => {
        const status = await mirrorStatus(ctx.store, ctx.entries);
        out(opts.json ? JSON.stringify(status, null, 2) : lsText(status));
      }),
    );
  mirror
    .command("history")
    .description("the digests a tag pointed at before, newest first")
    .argument("<target:tag>", "e.g. registry.internal/library/alpine:3.20")
    .option(...configOption)
    .option("--json", "JSON output")
    .action((address: string, opts: { config?: string; json?: boolean }) =>
      withMirror(opts.config, { credentials: false }, async (ctx) => {
        const v = await tagView(tagDeps(ctx.opened.cache, ctx.store), parseTagAddress(ctx.entries, address));
        out(opts.json ? JSON.stringify(v, null, 2) : historyText(v));
      }),
    );
  mirror
    .command("pin")
    .description("hold a tag (at its current digest, or --to a digest or history tag); sync leaves it alone")
    .argument("<target:tag>")
    .option(...configOption)
    .option("--to <digest|history-tag>", "move the tag there first")
    .action((address: string, opts: { config?: string; to?: string }) =>
      withMirror(opts.config, { credentials: false }, async (ctx) => {
        const r = await pin(
          tagDeps(ctx.opened.cache, ctx.store),
          parseTagAddress(ctx.entries, address),
          opts.to,
        );
        out(`${address} pinned at ${r.digest}${r.historyTag ? ` (previous kept as ${r.historyTag})` : ""}`);
      }),
    );
  mirror
    .command("unpin")
    .description("let sync move the tag again")
    .argument("<target:tag>")
    .option(...configOption)
    .action((address: string, opts: { config?: string }) =>
      withMirror(opts.config, { credentials: false }, async (ctx) => {
        const was = await unpin(tagDeps(ctx.opened.cache, ctx.store), parseTagAddress(ctx.entries, address));
        out(was ? `${address} unpinned: the next sync follows upstream` : `${address} was not pinned`);
      }),
    );
  mirror
    .command("rollback")
    .description("move a tag back at once (default: to the previous history entry)")
    .argument("<target:tag>")
    .option(...configOption)
    .option("--to <digest|history-tag>", "where to move it")
    .action((address: string, opts: { config?: string; to?: string }) =>
      withMirror(opts.config, { credentials: false }, async (ctx) => {
        const r = await rollback(
          tagDeps(ctx.opened.cache, ctx.store),
          parseTagAddress(ctx.entries, address),
          opts.to,
        );
        out(
          `${address} rolled back: ${r.from ?? "-"} -> ${r.to}${r.historyTag ? ` (kept as ${r.historyTag})` : ""}`,
        );
      }),
    );
}
