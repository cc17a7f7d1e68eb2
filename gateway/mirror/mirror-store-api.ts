// What the managed mirror remembers, behind one small interface with two implementations: the
// cache's SQLite (one node: sqlite-mirror-store.ts) and PostgreSQL (a replica set:
// store/pg/pg-mirror-store.ts), both run through mirror-store.conformance.ts. Async, because the
// shared one is a database across the network; the request path never awaits it (serveUpstreamName
// reads an in-memory snapshot, tag-overrides.ts).
import type { HostedIndex, LinkKind, ReferrerRecord } from "../store/hosted-index-api.ts";
import type { RepoName } from "./mirror-entries.ts";

export interface TargetDigest {
  digest: string;
  mediaType: string;
}

export interface MirrorTagRecord {
  target: RepoName;
  tag: string;
  source: RepoName;
  /** The upstream digest last copied. */
  sourceDigest: string | null;
  /** What upstream pointed at when last checked (differs from sourceDigest while pinned). */
  upstreamDigest: string | null;
  pinnedDigest: string | null;
  pinnedAt: number | null;
  syncedAt: number | null;
  checkedAt: number | null;
  size: number | null;
  platforms: string[];
  /** What the target tag points at now: the answer serveUpstreamName gives. */
  current: TargetDigest | null;
}

export interface HistoryRecord {
  historyTag: string;
  digest: string;
  replacedAt: number;
  /** "sync" (upstream moved), "rollback", "pin". */
  reason: string;
}

export interface RunRecord {
  entry: string;
  lastStart: number | null;
  lastEnd: number | null;
  lastSuccess: number | null;
  lastError: string | null;
  changesTotal: number;
  failuresTotal: number;
}

/** One tag as read inside a change, under the store's lock. */
export interface TagSnapshot {
  record: MirrorTagRecord | undefined;
  /** Newest first. */
  history: HistoryRecord[];
  /** A tag of the target repository in its hosted registry, read in the same transaction. */
  hostedTag(tag: string): TargetDigest | undefined;
}

/** The target hosted registry's records a change writes with it (`changeTag`'s `local` returns them). */
export interface TargetWrites {
  now: number;
  links: { digest: string; kind: LinkKind; size: number }[];
  /** Manifests with a subject: referrer entries of that subject. */
  referrers: { subject: string; record: ReferrerRecord }[];
  tags: { tag: string; to: TargetDigest }[];
  /** Removed only while they still point at `digest` (a history tag someone re-pointed is theirs). */
  untags: { tag: string; digest: string }[];
}

/** What a change writes: the new record, history entries made and history tags dropped. */
export interface TagChange {
  record: MirrorTagRecord;
  addHistory: HistoryRecord[];
  dropHistory: string[];
}

/** Held while an entry syncs, so one replica at a time runs it. */
export interface MirrorLease {
  release(): Promise<void>;
}

export interface MirrorStore {
  /** True when every replica sees this store (PostgreSQL). */
  readonly shared: boolean;
  /**
   * The index the targets' hosted records are in: this node's SQLite, or (a replica set on a
   * bucket) the shared one in PostgreSQL, which every replica serves the targets from.
   */
  readonly targets: HostedIndex;
  /** True when `targets` is shared: the content a change links must be in the bucket. */
  readonly targetsShared: boolean;
  getTag(target: RepoName, tag: string): Promise<MirrorTagRecord | undefined>;
  /** Every mirrored tag, or those of one target repository. */
  tags(target?: RepoName): Promise<MirrorTagRecord[]>;
  /** Newest first. */
  history(target: RepoName, tag: string): Promise<HistoryRecord[]>;
  /**
   * The one way to move a tag, pin or roll back: reads the tag under a lock, lets `decide` (sync,
   * no I/O but the local SQLite) choose the change, runs `local` (checks and this node's records;
   * it returns the target's hosted records to write) and writes all of it, as one transaction
   * where the store allows it: one SQLite transaction on one node; in PostgreSQL the mirror's rows
   * and (shared targets) the hosted rows commit together. `decide` returning undefined changes
   * nothing. Bumps the generation.
   */
  changeTag<T>(
    target: RepoName,
    tag: string,
    decide: (s: TagSnapshot) => { change?: TagChange; result: T },
    local?: (change: TagChange) => TargetWrites,
  ): Promise<T>;
  /** A check that changed nothing but what upstream points at (pinned tags: drift). */
  noteChecked(target: RepoName, tag: string, upstreamDigest: string | null, now: number): Promise<void>;
  run(entry: string): Promise<RunRecord | undefined>;
  runs(): Promise<RunRecord[]>;
  runStarted(entry: string, now: number): Promise<void>;
  /** Records the end of a run and bumps the generation. */
  runEnded(entry: string, now: number, changes: number, error: string | null): Promise<void>;
  /** Tells servers (tag-overrides.ts, the status snapshot) that something changed. */
  bump(): Promise<void>;
  generation(): Promise<number>;
  /**
   * The right to sync `entry` now, waiting up to `waitMs` (default 0) for another holder: undefined
   * when it is still held. One node needs no coordination (its scheduler runs one sync at a time):
   * SQLite always grants.
   */
  lease(entry: string, opts?: { waitMs?: number }): Promise<MirrorLease | undefined>;
}
