// The primary's table of fill leases (workers: N, docs/workers.md): which process fetches each
// uncached blob, and who follows it. A worker that exits loses its leases: its followers are told
// the fill failed (their clients retry and the next request takes the lease) and its temporary
// file goes.
import { unlink } from "node:fs/promises";
import type { FillCoordinator, FillProgress, FollowedFill } from "../cache/fill-coordination.ts";

/** A process on this dataDir: 0 is the primary, workers have their cluster id. */
export type Participant = number;

export const PRIMARY: Participant = 0;

/**
 * A committed fill stays answerable this long: a request that missed the store just before the
 * commit then follows the finished fill (and serves the stored file) instead of fetching again.
 */
const DONE_GRACE_MS = 5_000;

interface Lease {
  holder: Participant;
  tempPath: string;
  last: FillProgress | undefined;
  followers: Set<Participant>;
  expiry?: NodeJS.Timeout;
}

export type ClaimAnswer = { own: true } | { own: false; tempPath: string; last: FillProgress | undefined };

export class FillLeases {
  readonly #leases = new Map<string, Lease>();
  /** Delivers a holder's progress to a follower. */
  readonly #relay: (to: Participant, digest: string, p: FillProgress) => void;

  constructor(relay: (to: Participant, digest: string, p: FillProgress) => void) {
    this.#relay = relay;
  }

  get size(): number {
    return this.#leases.size;
  }

  claim(by: Participant, digest: string, tempPath: string): ClaimAnswer {
    const lease = this.#leases.get(digest);
    if (!lease || lease.holder === by) {
      // a process asks again only once its own fill ended (or failed): it takes the lease anew
      if (lease?.expiry) clearTimeout(lease.expiry);
      this.#leases.set(digest, { holder: by, tempPath, last: undefined, followers: new Set() });
      return { own: true };
    }
    lease.followers.add(by);
    return { own: false, tempPath: lease.tempPath, last: lease.last };
  }

  publish(by: Participant, digest: string, p: FillProgress): void {
    const lease = this.#leases.get(digest);
    if (!lease || lease.holder !== by) return;
    lease.last = p;
    for (const f of lease.followers) this.#relay(f, digest, p);
    if (p.state === "failed") this.#leases.delete(digest);
    else if (p.state === "done") {
      lease.followers.clear();
      lease.expiry = setTimeout(() => {
        if (this.#leases.get(digest) === lease) this.#leases.delete(digest);
      }, DONE_GRACE_MS);
      lease.expiry.unref();
    }
  }

  /** A process is gone: its fills fail for their followers, and it follows nothing any more. */
  exited(who: Participant): void {
    for (const [digest, lease] of this.#leases) {
      lease.followers.delete(who);
      if (lease.holder !== who || lease.last?.state === "done") continue;
      this.#leases.delete(digest);
      const failed: FillProgress = {
        written: lease.last?.written ?? 0,
        size: lease.last?.size ?? null,
        verified: false,
        state: "failed",
        error: { code: "STORE_UNAVAILABLE", message: "the worker fetching this blob stopped; retry" },
      };
      for (const f of lease.followers) this.#relay(f, digest, failed);
      // never committed: nobody will rename it (readers that opened it keep their handle)
      void unlink(lease.tempPath).catch(() => {});
    }
  }

  /** Digests being filled now, by any process (for the evictor and `wharf cache gc`). */
  filling(): string[] {
    return [...this.#leases].filter(([, l]) => l.last?.state !== "done").map(([d]) => d);
  }
}

/**
 * Followers' side of relayed progress, for one process: the fills it follows by digest. Progress
 * that arrives is kept as the latest, so a subscriber that comes later starts from it.
 */
export class FollowedFills {
  readonly #followed = new Map<string, Set<FollowedState>>();

  /** A follow starts (the claim was answered): progress from now on reaches it. */
  follow(digest: string, tempPath: string, last: FillProgress | undefined): FollowedFill {
    const state: FollowedState = { latest: last, listeners: new Set() };
    const set = this.#followed.get(digest) ?? new Set<FollowedState>();
    this.#followed.set(digest, set);
    set.add(state);
    const forget = () => {
      set.delete(state);
      if (set.size === 0 && this.#followed.get(digest) === set) this.#followed.delete(digest);
    };
    return {
      tempPath,
      subscribe(on) {
        state.listeners.add(on);
        if (state.latest) on(state.latest);
        return () => {
          state.listeners.delete(on);
          if (state.listeners.size === 0) forget();
        };
      },
    };
  }

  deliver(digest: string, p: FillProgress): void {
    for (const s of this.#followed.get(digest) ?? []) {
      s.latest = p;
      for (const on of s.listeners) on(p);
    }
  }
}

interface FollowedState {
  latest: FillProgress | undefined;
  listeners: Set<(p: FillProgress) => void>;
}

/** The primary's own coordinator (its mirror fills), talking to the table directly. */
export function primaryCoordinator(leases: FillLeases, followed: FollowedFills): FillCoordinator {
  return {
    async claim(digest, tempPath) {
      const a = leases.claim(PRIMARY, digest, tempPath);
      return a.own ? undefined : followed.follow(digest, a.tempPath, a.last);
    },
    publish(digest, p) {
      leases.publish(PRIMARY, digest, p);
    },
  };
}
