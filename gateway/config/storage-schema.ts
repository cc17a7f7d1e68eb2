// `storage:`: where blobs live. `filesystem` (the default) keeps them under dataDir; `s3` keeps them
// in an S3-compatible bucket shared by every replica, with dataDir as a bounded local cache of hot
// blobs (docs/storage.md). Secrets are named here and resolved by load-config.ts, never inline.
import { z } from "zod";
import { parseDuration } from "./units.ts";

const s3 = z
  .strictObject({
    endpoint: z.url({ protocol: /^https?$/ }),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      message: "expected an S3 bucket name (3–63 characters)",
    }),
    region: z.string().min(1).prefault("us-east-1"),
    /** Prepended to every key, e.g. "wharf/"; empty: keys start at the bucket's root. */
    prefix: z
      .string()
      .regex(/^$|^[A-Za-z0-9._/-]*\/$/, {
        message: 'expected "" or a key prefix ending in "/", like "wharf/"',
      })
      .prefault(""),
    /** Path-style URLs (endpoint/bucket/key): what Ceph RGW and MinIO expect by default. */
    forcePathStyle: z.boolean().prefault(true),
    /** The access key id and secret key: each from an environment variable or a file. */
    accessKeyEnv: z.string().min(1).optional(),
    accessKeyFile: z.string().min(1).optional(),
    secretKeyEnv: z.string().min(1).optional(),
    secretKeyFile: z.string().min(1).optional(),
    /**
     * How long a replica's fill lease lasts unrenewed (it renews every third of it): after a
     * replica dies mid-fill, the others wait this long at most before one of them takes over.
     */
    leaseTime: z
      .union([z.string(), z.number()])
      .refine((v) => (parseDuration(v) ?? 0) >= 1000, {
        message: 'expected a duration of at least 1s, like "30s"',
      })
      .transform((v) => parseDuration(v) as number)
      .prefault("30s"),
    /** Extra PEM bundle trusted for the endpoint's TLS, on top of the system roots. */
    caFile: z.string().min(1).nullable().prefault(null),
  })
  .refine((s) => (s.accessKeyEnv === undefined) !== (s.accessKeyFile === undefined), {
    message: "give exactly one of accessKeyEnv or accessKeyFile",
  })
  .refine((s) => (s.secretKeyEnv === undefined) !== (s.secretKeyFile === undefined), {
    message: "give exactly one of secretKeyEnv or secretKeyFile",
  });

/** The PostgreSQL database replicas share their metadata in; the URL holds a password, so it is named. */
const postgres = z
  .strictObject({
    /** A postgres:// connection URL, from an environment variable or a file. */
    urlEnv: z.string().min(1).optional(),
    urlFile: z.string().min(1).optional(),
  })
  .refine((p) => (p.urlEnv === undefined) !== (p.urlFile === undefined), {
    message: "give exactly one of urlEnv or urlFile",
  });

export const storageSchema = z
  .strictObject({
    kind: z.enum(["filesystem", "s3"]).prefault("filesystem"),
    s3: s3.optional(),
    postgres: postgres.optional(),
  })
  .prefault({})
  .refine((s) => s.kind !== "s3" || s.s3 !== undefined, {
    message: 'storage.kind "s3" needs storage.s3 (endpoint, bucket, credentials)',
  })
  .refine((s) => s.postgres === undefined || s.kind === "s3", {
    message: 'storage.postgres shares metadata between replicas of one bucket: it needs storage.kind "s3"',
  });

export type StorageConfig = z.output<typeof storageSchema>;
export type S3StorageConfig = NonNullable<StorageConfig["s3"]>;
export type PostgresStorageConfig = NonNullable<StorageConfig["postgres"]>;
