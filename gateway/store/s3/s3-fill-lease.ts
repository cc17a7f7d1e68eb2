// Fill leases in the bucket, so that N replicas asked for one uncached blob fetch it upstream once.
// A lease is an object <prefix>leases/<algorithm>/<hex> holding {holder, expiresAt}: created with
// `If-None-Match: *` (atomic create-if-absent: of concurrent creators exactly one gets 200, the
// others 412), renewed and taken over after expiry with `If-Match: <etag>` (compare-and-swap). No
// protocol of wharf's own: the store's conditional writes are the only arbiter. Ceph RGW 16 compares
// If-Match on PUT byte for byte with its stored, unquoted ETag, so the quotes are stripped (AWS
// and MinIO accept the bare value as well). Expiry compares the holder's clock with the reader's:
// replicas need clocks in step to well within the lease time (NTP), as with any lease.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import type { Digest } from "../../oci/digest.ts";
import { isNotFound, isPreconditionFailed, type S3Location } from "./s3-client.ts";

/** A lease this replica holds; `lost` once a renewal found it taken over. */
export interface FillLease {
  readonly lost: boolean;
  /** Stops renewing and deletes the lease (when still ours). */
  release(): Promise<void>;
}

export interface FillLeases {
  /** The lease of `d`, or undefined while another replica holds an unexpired one. */
  acquire(d: Digest): Promise<FillLease | undefined>;
}

interface LeaseBody {
  holder: string;
  expiresAt: number;
}

const unquoted = (etag: string | undefined): string => (etag ?? "").replace(/^"|"$/g, "");

/** 409 is AWS's answer to two conditional writes racing on one key: lost, like 412. */
const lostRace = (e: unknown): boolean =>
  isPreconditionFailed(e) ||
  (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 409;

export class S3FillLeases implements FillLeases {
  readonly #s3: S3Location;
  readonly #holder: string;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(s3: S3Location, opts: { holder: string; ttlMs?: number; now?: () => number }) {
    this.#s3 = s3;
    this.#holder = opts.holder;
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#now = opts.now ?? Date.now;
  }

  keyOf(d: Digest): string {
    return `${this.#s3.prefix}leases/${d.algorithm}/${d.hex}`;
  }

  async acquire(d: Digest): Promise<FillLease | undefined> {
    const key = this.keyOf(d);
    const created = await this.#put(key, { IfNoneMatch: "*" });
    if (created !== undefined) return this.#held(key, created);
    const current = await this.#read(key);
    if (!current) return this.#acquireOnce(key); // released between our PUT and GET
    if (current.body.expiresAt > this.#now()) return undefined;
    // expired: its holder died or stalled; take it over unless someone else just did
    const taken = await this.#put(key, { IfMatch: current.etag });
    return taken === undefined ? undefined : this.#held(key, taken);
  }

  /** One more create-if-absent, without recursion on a lease that keeps vanishing. */
  async #acquireOnce(key: string): Promise<FillLease | undefined> {
    const created = await this.#put(key, { IfNoneMatch: "*" });
    return created === undefined ? undefined : this.#held(key, created);
  }

  /** PUTs a fresh lease body under a condition; its unquoted ETag, or undefined when the condition failed. */
  async #put(key: string, cond: { IfNoneMatch?: string; IfMatch?: string }): Promise<string | undefined> {
    const body: LeaseBody = { holder: this.#holder, expiresAt: this.#now() + this.#ttlMs };
    try {
      const r = await this.#s3.client.send(
        new PutObjectCommand({
          Bucket: this.#s3.bucket,
          Key: key,
          Body: JSON.stringify(body),
          ContentType: "application/json",
          ...cond,
        }),
      );
      return unquoted(r.ETag);
    } catch (e) {
      if (lostRace(e)) return undefined;
      throw e;
    }
  }

  async #read(key: string): Promise<{ body: LeaseBody; etag: string } | undefined> {
    try {
      const r = await this.#s3.client.send(new GetObjectCommand({ Bucket: this.#s3.bucket, Key: key }));
      const text = (await r.Body?.transformToString()) ?? "";
      let body: LeaseBody;
      try {
        body = JSON.parse(text) as LeaseBody;
      } catch {
        body = { holder: "", expiresAt: 0 }; // unreadable: treated as expired
      }
      return { body, etag: unquoted(r.ETag) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Renews every third of the lease time while held. */
  #held(key: string, firstEtag: string): FillLease {
    let etag = firstEtag;
    let lost = false;
    let released = false;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(
      () => {
        renewing = this.#put(key, { IfMatch: etag }).then(
          (next) => {
            if (next === undefined) lost = true;
            else etag = next;
          },
          () => {}, // a failed renewal is retried at the next tick; expiry is the safety net
        );
      },
      Math.max(100, Math.floor(this.#ttlMs / 3)),
    );
    timer.unref();
    return {
      get lost() {
        return lost;
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await renewing;
        if (lost) return;
        // RGW ignores If-Match on DELETE: a takeover in this instant would lose its lease early,
        // which costs at most one more upstream fetch of the same bytes, never wrong data
        await this.#s3.client
          .send(new DeleteObjectCommand({ Bucket: this.#s3.bucket, Key: key }))
          .catch(() => {});
      },
    };
  }
}
