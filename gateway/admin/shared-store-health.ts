// Whether the stores replicas share answer: the bucket (storage.kind s3) and the database
// (storage.postgres), probed every few seconds in the background so that /readyz, /metrics, the
// status page and the replica directory read a recent answer without waiting on the network.
import type { SharedBlobStore } from "../cache/shared-blobs.ts";
import type { Logger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";

export interface ProbeState {
  /** null until the first probe answered or timed out. */
  reachable: boolean | null;
  /** Epoch ms of the last probe. */
  checkedAt: number | null;
  /** Why the last probe failed. */
  error?: string;
}

export interface SharedStoreState {
  /** null: no bucket configured. */
  bucket: ProbeState | null;
  /** null: no database configured. */
  database: ProbeState | null;
}

/** A digest no blob has: HEAD on its key answers 404 from a bucket that is up. */
const PROBE_DIGEST = parseDigest(`sha256:${"0".repeat(64)}`);

/** A bucket probe: one HeadObject; "not found" is an answer, so only errors count as down. */
export const bucketProbe = (shared: SharedBlobStore) => async (): Promise<void> => {
  await shared.size(PROBE_DIGEST);
};

type Probe = () => Promise<unknown>;

export class SharedStoreHealth {
  readonly #probes: { bucket?: Probe; database?: Probe };
  readonly #state: SharedStoreState;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: {
    bucket?: Probe;
    /** Resolves false or throws when down (open-postgres.ts SharedMetadata.ping). */
    database?: () => Promise<boolean>;
    log: Logger;
    intervalMs?: number;
    timeoutMs?: number;
    now?: () => number;
  }) {
    const database = opts.database;
    this.#probes = {
      ...(opts.bucket && { bucket: opts.bucket }),
      ...(database && {
        database: async () => {
          if (!(await database())) throw new Error("no answer");
        },
      }),
    };
    const unknown = (): ProbeState => ({ reachable: null, checkedAt: null });
    this.#state = { bucket: opts.bucket ? unknown() : null, database: database ? unknown() : null };
    this.#intervalMs = opts.intervalMs ?? 5_000;
    this.#timeoutMs = opts.timeoutMs ?? 3_000;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  get configured(): boolean {
    return this.#state.bucket !== null || this.#state.database !== null;
  }

  state(): SharedStoreState {
    const copy = (s: ProbeState | null) => (s ? { ...s } : null);
    return { bucket: copy(this.#state.bucket), database: copy(this.#state.database) };
  }

  /** Probes every configured store once, in parallel, each bounded by the timeout. */
  async probe(): Promise<void> {
    await Promise.all(
      (["bucket", "database"] as const).map(async (name) => {
        const probe = this.#probes[name];
        if (!probe) return;
        let timer: NodeJS.Timeout | undefined;
        let error: string | undefined;
        try {
          await Promise.race([
            probe(),
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`no answer within ${this.#timeoutMs} ms`)),
                this.#timeoutMs,
              );
            }),
          ]);
        } catch (e) {
          error = e instanceof Error ? e.message || e.name : String(e);
        } finally {
          clearTimeout(timer);
        }
        const before = this.#state[name];
        if (before && before.reachable !== false && error)
          this.#log.warn(
            { store: name, err: error },
            "shared store unreachable: serving on, without sharing",
          );
        if (before?.reachable === false && !error)
          this.#log.info({ store: name }, "shared store reachable again");
        this.#state[name] = {
          reachable: error === undefined,
          checkedAt: this.#now(),
          ...(error !== undefined && { error }),
        };
      }),
    );
  }

  start(): void {
    this.#timer = setInterval(() => void this.probe(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
