// Resolves `mirror:` entries against `registries`: which proxied registry and repository a source
// names, which hosted registry and repository the copy goes to. Used by the schema (so a wrong
// entry is a config error naming its key) and by everything that syncs or reports.
import type { MirrorEntryConfig, MirrorSection, Schedule } from "../config/mirror-schema.ts";
import { withDockerHubLibrary } from "../oci/reference.ts";

export interface RepoName {
  registry: string;
  repository: string;
}

export interface MirrorEntry {
  /** Position in the config, e.g. "mirror.0" (config errors and logs). */
  key: string;
  source: RepoName;
  target: RepoName;
  tags: string[];
  platforms: "all" | string[];
  schedule: Schedule | undefined;
  keep: number;
  serveUpstreamName: boolean;
  historyTag: string;
}

export interface RegistryKinds {
  registries: Record<string, { upstream?: string; hosted?: unknown }>;
  defaultRegistry: string;
}

export interface EntryIssue {
  path: (string | number)[];
  message: string;
}

export function showRepo(r: RepoName): string {
  return `${r.registry}/${r.repository}`;
}

/** "docker.io/library/alpine" → registry + repository; a name without a host is in defaultRegistry. */
export function splitRepo(text: string, cfg: RegistryKinds): RepoName {
  const slash = text.indexOf("/");
  const first = slash > 0 ? text.slice(0, slash) : "";
  if (first.includes(".") || first.includes(":") || first === "localhost" || first in cfg.registries)
    return { registry: first, repository: withDockerHubLibrary(first, text.slice(slash + 1)) };
  return {
    registry: cfg.defaultRegistry,
    repository: withDockerHubLibrary(cfg.defaultRegistry, text),
  };
}

/** Every entry resolved, or the problems found (each naming the key it is about). */
export function resolveMirrorEntries(
  section: MirrorSection,
  cfg: RegistryKinds,
): { entries: MirrorEntry[]; issues: EntryIssue[] } {
  const base: (string | number)[] = section.listForm ? ["mirror"] : ["mirror", "entries"];
  const issues: EntryIssue[] = [];
  const entries: MirrorEntry[] = [];
  const hosted = Object.entries(cfg.registries)
    .filter(([, r]) => r.hosted !== undefined)
    .map(([n]) => n);
  const defaultTarget = section.defaultTarget ?? (hosted.length === 1 ? hosted[0] : undefined);
  if (
    section.defaultTarget !== undefined &&
    !hosted.includes(splitRepo(`${section.defaultTarget}/x`, cfg).registry)
  )
    issues.push({
      path: ["mirror", "defaultTarget"],
      message: `"${section.defaultTarget}" is not a hosted registry (registries.<name>.hosted)`,
    });
  const targets = new Map<string, string>();
  section.entries.forEach((e: MirrorEntryConfig, i) => {
    const at = [...base, i];
    const source = splitRepo(e.source, cfg);
    const reg = cfg.registries[source.registry];
    if (!reg || reg.upstream === undefined) {
      issues.push({
        path: [...at, "source"],
        message: `${source.registry} is not a configured proxied registry (registries.<name>.upstream)`,
      });
      return;
    }
    let target: RepoName;
    if (e.target !== undefined) {
      target = splitRepo(e.target, cfg);
    } else if (defaultTarget !== undefined) {
      const t = splitRepo(`${defaultTarget}/x`, cfg);
      const prefix = t.repository.slice(0, -1); // "" or "path/"
      target = { registry: t.registry, repository: `${prefix}${source.repository}` };
    } else {
      issues.push({
        path: [...at, "target"],
        message:
          "give a target (or mirror.defaultTarget): there is not exactly one hosted registry to default to",
      });
      return;
    }
    if (cfg.registries[target.registry]?.hosted === undefined) {
      issues.push({
        path: [...at, "target"],
        message: `${target.registry} is not a hosted registry (registries.<name>.hosted); the mirror writes only there`,
      });
      return;
    }
    const seen = targets.get(showRepo(target));
    if (seen !== undefined) {
      issues.push({
        path: [...at, "target"],
        message: `${showRepo(target)} is already the target of ${seen}`,
      });
      return;
    }
    const key = at.join(".");
    targets.set(showRepo(target), key);
    entries.push({
      key,
      source,
      target,
      tags: e.tags,
      platforms: e.platforms,
      schedule: e.schedule,
      keep: e.keep,
      serveUpstreamName: e.serveUpstreamName,
      historyTag: section.historyTag,
    });
  });
  return { entries, issues };
}

/** The entries an argument names: by source or target repository, with or without the registry. */
export function selectEntries(
  entries: MirrorEntry[],
  names: string[],
): { found: MirrorEntry[]; unknown: string[] } {
  if (names.length === 0) return { found: entries, unknown: [] };
  const found = new Set<MirrorEntry>();
  const unknown: string[] = [];
  for (const n of names) {
    const hits = entries.filter(
      (e) =>
        showRepo(e.source) === n ||
        showRepo(e.target) === n ||
        e.source.repository === n ||
        e.target.repository === n ||
        e.key === n,
    );
    if (hits.length === 0) unknown.push(n);
    for (const h of hits) found.add(h);
  }
  return { found: [...found], unknown };
}
