// The configuration contract (docs/config.md documents every key). Parsed once at start, then frozen.
import { z } from "zod";
import { resolveMirrorEntries } from "../mirror/mirror-entries.ts";
import { autoWorkers } from "./auto-workers.ts";
import { DEFAULT_REGISTRIES } from "./defaults.ts";
import { mirrorSchema } from "./mirror-schema.ts";
import { storageSchema } from "./storage-schema.ts";
import { parseDuration, parseSize } from "./units.ts";

const duration = (what = 'a duration like "30s", "5m" or "1h"') =>
  z
    .union([z.string(), z.number()])
    .refine((v) => parseDuration(v) !== undefined, { message: `expected ${what}` })
    .transform((v) => parseDuration(v) as number);

/** A tag TTL: a duration, or "never" (pinned until evicted). Infinity stands for "never". */
const tagTtl = z
  .union([z.string(), z.number()])
  .refine((v) => v === "never" || parseDuration(v) !== undefined, {
    message: 'expected a duration like "5m", 0 (always revalidate) or "never"',
  })
  .transform((v) => (v === "never" ? Number.POSITIVE_INFINITY : (parseDuration(v) as number)));

const size = z
  .union([z.string(), z.number()])
  .refine((v) => parseSize(v) !== undefined, { message: 'expected a size like "50GiB" or "500MB"' })
  .transform((v) => parseSize(v) as number);

export interface HostPort {
  host: string;
  port: number;
}

/** "0.0.0.0:443", "[::]:53", ":5000"; null or "off" disables the listener. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** A DNS server: "8.8.8.8", "8.8.8.8:53", "[2001:4860::8888]:53" or a bare IPv6 address. */
export function parseDnsServer(text: string): HostPort | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F:]+$/.test(t) && t.includes("::")) return { host: t, port: 53 };
  if (/^[0-9.]+$/.test(t)) return { host: t, port: 53 };
  const hp = parseHostPort(t);
  return hp && /^[0-9a-fA-F:.]+$/.test(hp.host) ? hp : undefined;
}

const listenAddress = z
  .union([z.string(), z.null()])
  .refine((v) => v === null || v === "off" || parseHostPort(v) !== undefined, {
    message: 'expected "host:port" (for example "0.0.0.0:443" or "[::]:53"), or null to turn it off',
  })
  .transform((v) => (v === null || v === "off" ? null : (parseHostPort(v) as HostPort)));

const hostName = z
  .string()
  .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/, {
    message: "expected a lower-case host name such as ghcr.io",
  });

const auth = z
  .strictObject({
    username: z.string().min(1),
    password: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .refine((a) => [a.password, a.passwordEnv, a.passwordFile].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of password, passwordEnv or passwordFile",
  });

const repositoryRule = z.strictObject({
  match: z.string().min(1),
  tagTtl: tagTtl.optional(),
});

/** A registry that holds images of its own and takes pushes (issue 14). */
const hosted = z.strictObject({
  /** DELETE of manifests, tags and blobs (OCI distribution spec, "Content Management"). */
  allowDelete: z.boolean().prefault(false),
  /** Pulls without credentials; pushes always need a user (access.htpasswd). */
  anonymousPull: z.boolean().prefault(true),
  /** Uploads untouched for longer than this are abandoned and removed by `wharf gc`. */
  uploadTtl: duration().prefault("24h"),
});

// Either proxied (`upstream:`) or hosted (`hosted:`), never both: checked below with an error that
// names the key, where a zod union would only say that no variant matched.
const registry = z
  .strictObject({
    upstream: z
      .url({ protocol: /^https?$/, error: "expected an http(s) URL such as https://ghcr.io" })
      .optional(),
    hosted: hosted.optional(),
    aliases: z.array(hostName).prefault([]),
    tagTtl: tagTtl.prefault(300),
    repositories: z.array(repositoryRule).prefault([]),
    auth: auth.optional(),
    intercept: z.boolean().prefault(true),
    offline: z.boolean().prefault(false),
    /**
     * Who may pull a proxied registry: "rules" (access.rules, the default) or "upstream" (each
     * client's own upstream credentials, checked at the upstream; docs/access.md).
     */
    access: z.enum(["rules", "upstream"]).prefault("rules"),
  })
  .superRefine((r, ctx) => {
    if (r.upstream === undefined && r.hosted === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["upstream"],
        message: "give either upstream (a registry to proxy) or hosted: {} (a registry that takes pushes)",
      });
    if (r.upstream !== undefined && r.hosted !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["hosted"],
        message: "give either upstream or hosted, not both: a hosted registry has no upstream",
      });
    if (r.hosted !== undefined && r.auth !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["auth"],
        message: "auth is wharf's login at an upstream; a hosted registry has none (users: access.htpasswd)",
      });
    if (r.hosted !== undefined && r.access === "upstream")
      ctx.addIssue({
        code: "custom",
        path: ["access"],
        message: "access: upstream needs an upstream to ask; a hosted registry is governed by access.rules",
      });
  });

const cidr = z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, { message: 'expected a CIDR like "10.0.0.0/8"' });
const ip = z.string().regex(/^[0-9a-fA-F:.]+$/, { message: "expected an IP address" });

const action = z.enum(["pull", "push", "delete"]);

/** One access rule (docs/access.md): globs, what it allows, and whom (users/groups/anonymous AND networks). */
const accessRule = z.strictObject({
  registry: z.string().min(1).prefault("*"),
  repository: z.string().min(1).prefault("*"),
  allow: z.array(action),
  users: z.array(z.string().min(1)).optional(),
  groups: z.array(z.string().min(1)).optional(),
  anonymous: z.boolean().optional(),
  networks: z.array(cidr).optional(),
});

/** Identities and who may do what (docs/access.md). */
const access = z.strictObject({
  /** Users in htpasswd format, bcrypt entries only (`htpasswd -B`). */
  htpasswd: z.string().min(1).optional(),
  /** group -> members (htpasswd users or robot token names). */
  groups: z.record(z.string().min(1), z.array(z.string().min(1))).prefault({}),
  /** First match wins, no match denies. Absent: the built-in default (docs/access.md). */
  rules: z.array(accessRule).optional(),
  /** How long an upstream's answer for one client and repository is reused (access: upstream). */
  upstreamDecisionTtl: duration().prefault("60s"),
  /** In an upstream outage, clients allowed within this long before keep being served. */
  upstreamStaleWindow: duration().prefault("15m"),
});

/** A secret given inline, from an environment variable, or from a file: exactly one, or none. */
const adminToken = z
  .strictObject({
    token: z.string().min(1).nullable().prefault(null),
    tokenEnv: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
  })
  .refine((a) => [a.token ?? undefined, a.tokenEnv, a.tokenFile].filter((x) => x !== undefined).length <= 1, {
    message: "give at most one of token, tokenEnv or tokenFile",
  });

export const configSchema = z
  .strictObject({
    dataDir: z.string().min(1).prefault("./data"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).prefault("info"),
    listen: z
      .strictObject({
        http: listenAddress.prefault("0.0.0.0:5000"),
        https: listenAddress.prefault("0.0.0.0:443"),
        dns: listenAddress.prefault("0.0.0.0:53"),
        admin: listenAddress.prefault("127.0.0.1:9090"),
      })
      .prefault({}),
    // auto: one worker per usable core, within the memory limit (auto-workers.ts); 1: one process
    workers: z
      .union([z.literal("auto"), z.number().int().min(1).max(64)])
      .prefault("auto")
      .transform((v) => (v === "auto" ? autoWorkers() : v)),
    upstreamCaFile: z.string().min(1).nullable().prefault(null),
    upstreamDns: z
      .string()
      .refine((v) => parseDnsServer(v) !== undefined, { message: 'expected "ip:port" such as "8.8.8.8:53"' })
      .prefault("8.8.8.8:53")
      .transform((v) => parseDnsServer(v) as HostPort),
    upstreamProxy: z
      .url({ protocol: /^https?$/ })
      .nullable()
      .prefault(null),
    upstreamTimeouts: z
      .strictObject({
        connect: duration().prefault("10s"),
        headers: duration().prefault("30s"),
        body: duration().prefault("60s"),
      })
      .prefault({}),
    /** Period of the `GET /v2/` probe per proxied upstream (status page health); 0s: off. */
    upstreamProbeInterval: duration().prefault("1m"),
    defaultRegistry: z.string().prefault("docker.io"),
    offline: z.boolean().prefault(false),
    rateLimitReserve: z.number().int().min(0).prefault(10),
    tls: z
      .strictObject({
        caCertFile: z.string().min(1).nullable().prefault(null),
        caKeyFile: z.string().min(1).nullable().prefault(null),
        extraNames: z.array(z.string().min(1)).prefault([]),
        leafValidity: duration().prefault("90d"),
        renewBefore: duration().prefault("30d"),
      })
      .prefault({}),
    dns: z
      .strictObject({
        answer: z.array(ip).prefault([]),
        ttl: z.number().int().min(0).max(86400).prefault(30),
        extraNames: z.array(hostName).prefault([]),
        allow: z
          .array(cidr)
          .prefault([
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
            "fe80::/10",
          ]),
        failOpen: z.boolean().prefault(true),
        rateLimit: z.number().int().min(0).prefault(500),
      })
      .prefault({}),
    access: access.optional(),
    admin: adminToken.prefault({}),
    cache: z
      .strictObject({
        maxSize: size.nullable().prefault(null),
        minFree: size.prefault("1GiB"),
        fillTimeout: duration().prefault("30m"),
        evictInterval: duration().prefault("30s"),
        scrubInterval: duration().nullable().prefault("24h"),
        scrubRate: size.prefault("16MiB"),
        prefetch: z.number().int().min(0).max(64).prefault(4),
      })
      .prefault({}),
    /** Where blobs live: dataDir (filesystem) or a shared S3-compatible bucket (docs/storage.md). */
    storage: storageSchema,
    limits: z
      .strictObject({
        // No write progress to a client for this long: its connection (HTTP/2: its stream) is closed.
        sendTimeout: duration().prefault("2m"),
        // A connection with no request in flight and no traffic for this long is closed.
        idleTimeout: duration().prefault("1m"),
        maxConnections: z.number().int().min(1).max(1_000_000).prefault(4096),
      })
      .prefault({}),
    registries: z
      .record(hostName, registry)
      .prefault(DEFAULT_REGISTRIES)
      .refine((r) => Object.keys(r).length > 0, {
        message: "configure at least one registry",
      }),
    /** Managed mirror: upstream tags copied into hosted registries with history (docs/mirror.md). */
    mirror: mirrorSchema,
  })
  .superRefine((c, ctx) => {
    for (const issue of resolveMirrorEntries(c.mirror, c).issues)
      ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type RegistryConfig = Config["registries"][string];
export type HostedConfig = NonNullable<RegistryConfig["hosted"]>;
/** A proxied registry's config: the one kind that has an upstream. */
export type ProxiedRegistryConfig = RegistryConfig & { upstream: string };

export function isProxied(r: RegistryConfig): r is ProxiedRegistryConfig {
  return r.upstream !== undefined;
}
