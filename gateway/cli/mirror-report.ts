// Text forms of mirror reports for a terminal; `--json` prints the objects themselves.
import { formatBytes } from "../config/units.ts";
import type { TagView } from "../mirror/mirror-actions.ts";
import type { MirrorEntryStatus } from "../mirror/mirror-service.ts";
import type { EntryReport, TagReport } from "../mirror/sync-runner.ts";

const short = (d: string | null) => (d ? `${d.slice(0, 19)}…` : "-");

function tagLine(t: TagReport): string {
  if (t.error !== null) return `  ${t.tag}  FAILED  ${t.error} (target unchanged)`;
  if (t.pinned) return `  ${t.tag}  pinned  ${short(t.current)}  ${t.note ?? ""}`;
  if (!t.changed) return `  ${t.tag}  unchanged  ${short(t.current)}`;
  if (t.note) return `  ${t.tag}  ${t.note}`;
  const parts = [`  ${t.tag}  changed  ${short(t.previous)} -> ${short(t.current)}`];
  if (t.size !== undefined) parts.push(formatBytes(t.size));
  if (t.platforms?.length) parts.push(t.platforms.join(", "));
  if (t.historyTag) parts.push(`previous kept as ${t.historyTag}`);
  return parts.join("  ");
}

export function syncText(reports: EntryReport[], dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(
      `${r.target} (from ${r.source})${dryRun ? " [dry run]" : ""}${r.ok ? "" : `: FAILED: ${r.error}`}`,
    );
    for (const t of r.tags) lines.push(tagLine(t));
  }
  const changed = reports.flatMap((r) => r.tags).filter((t) => t.changed).length;
  const failed = reports.filter((r) => !r.ok).length;
  lines.push(
    `${reports.length} entr${reports.length === 1 ? "y" : "ies"}, ${changed} tag(s) ${dryRun ? "would change" : "changed"}, ${failed} failed`,
  );
  return lines;
}

export function lsText(entries: MirrorEntryStatus[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    const sched = e.schedule ? `every ${e.schedule}` : "manual";
    const last = e.lastSuccess ? `last success ${e.lastSuccess}` : "never synced";
    lines.push(
      `${e.target} <- ${e.source}  (${sched}, ${last}${e.serveUpstreamName ? ", serves upstream name" : ""})`,
    );
    if (e.lastError) lines.push(`  last error: ${e.lastError}`);
    for (const t of e.tags) {
      const pin = t.pinned ? `  pinned` : "";
      const drift = t.drift ? `  upstream now ${short(t.upstream)}` : "";
      lines.push(`  ${t.tag}  ${short(t.current)}${pin}${drift}  history ${t.history}`);
    }
  }
  return lines;
}

export function historyText(v: TagView): string[] {
  const lines = [
    `${v.target}:${v.tag}  current ${v.current ?? "-"}${v.record?.pinnedDigest ? "  (pinned)" : ""}`,
  ];
  for (const h of v.history)
    lines.push(`  ${h.historyTag}  ${h.digest}  ${new Date(h.replacedAt).toISOString()}  ${h.reason}`);
  if (v.history.length === 0) lines.push("  no history yet");
  return lines;
}
