// wharf_mirror_* metrics, read from the mirror's stored state when scraped: the counts include
// syncs run by `wharf mirror sync` beside the server, since both write the same database.
import { Counter, Gauge, type Registry } from "prom-client";
import type { MirrorEntryStatus } from "../mirror/mirror-service.ts";

export function registerMirrorMetrics(registry: Registry, status: () => MirrorEntryStatus[]): void {
  const registers = [registry];
  const labelNames = ["entry"] as const;
  new Gauge({
    name: "wharf_mirror_last_success_timestamp_seconds",
    help: "When the mirror entry last synced without a failure (Unix time); absent before its first success",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const e of status())
        if (e.lastSuccessMs !== null) this.set({ entry: e.entry }, e.lastSuccessMs / 1000);
    },
  });
  new Counter({
    name: "wharf_mirror_changes_total",
    help: "Tags a mirror sync moved to a new digest, by entry (target repository)",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const e of status()) this.inc({ entry: e.entry }, e.changesTotal);
    },
  });
  new Counter({
    name: "wharf_mirror_failures_total",
    help: "Mirror syncs of the entry that failed (a tag or the tag list could not be copied)",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const e of status()) this.inc({ entry: e.entry }, e.failuresTotal);
    },
  });
  new Gauge({
    name: "wharf_mirror_pinned_tags",
    help: "Mirrored tags held by a pin, by entry",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const e of status()) this.set({ entry: e.entry }, e.tags.filter((t) => t.pinned !== null).length);
    },
  });
  new Gauge({
    name: "wharf_mirror_drifted_tags",
    help: "Mirrored tags whose upstream digest differs from the one copied (pinned or rolled back), by entry",
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const e of status()) this.set({ entry: e.entry }, e.tags.filter((t) => t.drift).length);
    },
  });
}
