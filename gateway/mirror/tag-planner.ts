// Which tags an entry follows, and how history tags are named and pruned. Pure functions.
// A pattern is an exact tag when it is a valid tag name without glob characters ("3.20", "1.x"),
// a glob when it has any (`3.21*`, picomatch syntax), otherwise a semver range (">=3.19 <4").
// Ranges match tags that are versions: "3.19", "3.19.1", "v3.20.0" ("3" counts as 3.0.0, "3.19" as 3.19.0);
// variant tags such as "3.19-alpine" never match a range, prereleases only when the range names one.
import picomatch from "picomatch";
import semver from "semver";

/** OCI distribution spec, "Pulling manifests": the grammar of a tag. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const GLOB_CHARS = /[*?[\]{}!]/;

export type TagPattern =
  | { kind: "exact"; tag: string }
  | { kind: "glob"; text: string; match: (tag: string) => boolean }
  | { kind: "range"; text: string; range: semver.Range };

export function parsePattern(text: string): TagPattern | undefined {
  if (TAG.test(text) && !GLOB_CHARS.test(text)) return { kind: "exact", tag: text };
  if (GLOB_CHARS.test(text)) return { kind: "glob", text, match: picomatch(text, { dot: true }) };
  try {
    return { kind: "range", text, range: new semver.Range(text) };
  } catch {
    return undefined;
  }
}

/** A tag read as a version: "3.19" → 3.19.0, "3" → 3.0.0; undefined for "latest", "3.19-alpine". */
export function tagVersion(tag: string): semver.SemVer | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?$/.exec(tag);
  if (m) return new semver.SemVer(`${m[1]}.${m[2] ?? 0}.0`);
  const v = semver.parse(tag.replace(/^v/, ""));
  // "3.19.1-alpine" parses as a prerelease; a variant is not a version of the range's line
  return v ?? undefined;
}

/** True when at least one pattern needs the source's tag list (globs and ranges). */
export function needsTagList(patterns: TagPattern[]): boolean {
  return patterns.some((p) => p.kind !== "exact");
}

/** The tags to sync, sorted: exact tags always (a HEAD tells whether they exist), others from the list. */
export function selectTags(patterns: TagPattern[], sourceTags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of patterns) {
    if (p.kind === "exact") {
      out.add(p.tag);
      continue;
    }
    for (const t of sourceTags) {
      if (!TAG.test(t)) continue;
      if (p.kind === "glob" ? p.match(t) : matchesRange(p.range, t)) out.add(t);
    }
  }
  return [...out].sort();
}

function matchesRange(range: semver.Range, tag: string): boolean {
  const v = tagVersion(tag);
  return v !== undefined && range.test(v);
}

/** 20261130T0600Z: the UTC minute, in a form that is a valid tag and sorts by time. */
export function historyTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-30T06:00:12.345Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/**
 * The history tag for `tag` replaced at `ms`, from the configured pattern ({tag}, {time}, {date},
 * {digest}: the first 12 hex characters). A name already taken (two changes in one minute) gets
 * "-2", "-3"… appended. Over-long names are cut at the tag grammar's 128 characters.
 */
export function historyTagName(
  pattern: string,
  tag: string,
  ms: number,
  digest: string,
  taken: (name: string) => boolean,
): string {
  const time = historyTime(ms);
  const hex = digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
  const base = pattern
    .replaceAll("{tag}", tag)
    .replaceAll("{time}", time)
    .replaceAll("{date}", time.slice(0, 8))
    .replaceAll("{digest}", hex)
    .replace(/[^a-zA-Z0-9._-]/g, "-")
    .slice(0, 120);
  let name = base;
  for (let n = 2; taken(name); n++) name = `${base}-${n}`;
  return name;
}

/** History beyond `keep` (input newest first): what pruning drops. */
export function historyToPrune<T>(newestFirst: readonly T[], keep: number): T[] {
  return newestFirst.slice(keep);
}
