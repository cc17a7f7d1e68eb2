// Fills across the processes that share one dataDir (`workers: N`, docs/workers.md). One process
// holds a blob's fill lease and fetches it upstream as a single process would; the others follow
// its temporary file as it grows, from the progress the holder publishes (relayed by the primary),
// so N clients of one uncached blob cost one upstream fetch whichever worker they reach, and
// waiters get their first bytes as soon as the holder has written them, not after the commit.
import { type ErrorCode, WharfError } from "../../common/errors.ts";
import type { BlobFill, FillState } from "./blob-fill.ts";

/** What the holder of a fill publishes, and its followers apply to their own BlobFill. */
export interface FillProgress {
  /** Bytes in the holder's temporary file. */
  written: number;
  /** Content-Length from upstream; null until known, or when upstream sent none. */
  size: number | null;
  verified: boolean;
  state: FillState;
  /** Set when the fill failed: what its clients are told. */
  error?: { code: ErrorCode; message: string };
}

/** Another process's fill of a blob, as its followers see it. */
export interface FollowedFill {
  /** The holder's temporary file (renamed into the store once committed). */
  readonly tempPath: string;
  /** Calls `on` with the latest progress at once (when any is known) and with every later one. */
  subscribe(on: (p: FillProgress) => void): () => void;
}

export interface FillCoordinator {
  /**
   * Claims the fill of `digest`: undefined when this process is to fetch it (and then `publish`
   * its progress until it ends), or the fill another process runs, to follow.
   */
  claim(digest: string, tempPath: string): Promise<FollowedFill | undefined>;
  publish(digest: string, p: FillProgress): void;
}

/** Progress messages are coalesced to one per this many ms while bytes flow (final states go at once). */
const PUBLISH_INTERVAL_MS = 10;

export function progressOf(fill: BlobFill): FillProgress {
  const p: FillProgress = {
    written: fill.written,
    size: fill.size ?? null,
    verified: fill.verified,
    state: fill.state,
  };
  if (fill.state === "failed" && fill.error) {
    const code = fill.error instanceof WharfError ? fill.error.code : "UPSTREAM_UNAVAILABLE";
    p.error = { code, message: fill.error.message };
  }
  return p;
}

/** Publishes `fill`'s progress through `c` until it ends. */
export function publishFill(fill: BlobFill, c: FillCoordinator): void {
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  const send = () => {
    timer = undefined;
    last = Date.now();
    c.publish(fill.digest.value, progressOf(fill));
  };
  const onProgress = () => {
    if (fill.state !== "running") {
      clearTimeout(timer);
      fill.off("progress", onProgress);
      send();
      return;
    }
    // the verified flag, like the first progress (the size), is news every follower waits for
    if (fill.verified || last === 0) {
      clearTimeout(timer);
      send();
      return;
    }
    timer ??= setTimeout(send, Math.max(0, last + PUBLISH_INTERVAL_MS - Date.now()));
  };
  fill.on("progress", onProgress);
}

/**
 * Mirrors the followed fill onto `fill` (its readers then read the holder's file) until it ends;
 * resolves with the size once committed, rejects when it failed or `signal` aborted.
 */
export function followFill(
  fill: BlobFill,
  followed: FollowedFill,
  signal: AbortSignal,
  markStarted: () => void,
): Promise<number> {
  fill.tempPath = followed.tempPath;
  return new Promise((resolve, reject) => {
    let unsubscribe: (() => void) | undefined;
    let ended = false;
    const end = (err?: Error) => {
      ended = true;
      unsubscribe?.();
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(fill.size ?? fill.written);
    };
    const onAbort = () => end(signal.reason instanceof Error ? signal.reason : new Error("fill aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    unsubscribe = followed.subscribe((p) => {
      if (ended) return;
      if (p.state === "failed" && !p.verified) {
        end(new WharfError(p.error?.code ?? "UPSTREAM_UNAVAILABLE", p.error?.message ?? "fill failed"));
        return;
      }
      fill.size = p.size ?? undefined;
      fill.written = p.written;
      // a small blob is verified in the holder's memory before its file is written: the last
      // byte is released here only once it is in the file
      if (p.state === "done" || (p.verified && p.size !== null && p.written >= p.size)) fill.verified = true;
      if (p.state === "done") fill.state = "done";
      markStarted();
      fill.emit("progress");
      // failed after verification (the commit): readers may finish from the file they opened
      if (p.state === "failed") end(new WharfError(p.error?.code ?? "STORE_UNAVAILABLE", "fill not stored"));
      else if (p.state === "done") end();
    });
    if (ended) unsubscribe();
  });
}
