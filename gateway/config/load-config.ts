// Reads, validates and freezes the configuration. The only module that reads the environment
// (for passwordEnv) and credential files (passwordFile), so that nothing else touches process.env.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { ZodError } from "zod";
import { WharfError } from "../../common/errors.ts";
import { type Config, configSchema } from "./schema.ts";
import { Secret } from "./secret.ts";

export interface Credentials {
  username: string;
  password: Secret;
}

export interface LoadedConfig {
  config: Config;
  /** Per-registry upstream credentials, resolved from password / passwordEnv / passwordFile. */
  credentials: ReadonlyMap<string, Credentials>;
  /** Where the config came from, for logs: a path or "embedded defaults". */
  source: string;
  /** admin.token / tokenEnv / tokenFile, resolved like upstream passwords; null: no bearer auth. */
  adminToken: Secret | null;
  /** storage.s3 access and secret key (Env or File), resolved likewise; null: not s3 or not resolved. */
  storageCredentials: StorageCredentials | null;
  /** storage.postgres's connection URL (urlEnv or urlFile), resolved like the keys; null: none. */
  metadataUrl: Secret | null;
}

export interface StorageCredentials {
  accessKeyId: Secret;
  secretAccessKey: Secret;
}

export function configError(message: string): WharfError {
  return new WharfError("CONFIG_INVALID", message);
}

function describeZodError(err: ZodError): string {
  const issue = err.issues[0];
  if (!issue) return "invalid configuration";
  const path = issue.path.map(String).join(".") || "(top level)";
  let message = issue.message;
  if (issue.code === "unrecognized_keys")
    message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return `${path}: ${message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Validates a parsed document (an object from YAML, or {} for embedded defaults). */
export interface LoadOptions {
  /**
   * false: leave upstream credentials unresolved (no env or secret files read). For commands
   * that never talk to an upstream (ca, client-config, cache), so they run where secrets aren't.
   */
  credentials?: boolean;
  /**
   * Resolve storage.s3 keys even when `credentials` is false: the cache commands reach the bucket
   * but never an upstream. Default: as `credentials`.
   */
  storageCredentials?: boolean;
}

export function buildConfig(
  doc: unknown,
  env: Record<string, string | undefined> = {},
  source = "embedded defaults",
  opts: LoadOptions = {},
): LoadedConfig {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) throw configError(describeZodError(parsed.error));
  const config = parsed.data;
  if (!(config.defaultRegistry in config.registries)) {
    throw configError(`defaultRegistry: "${config.defaultRegistry}" is not one of the configured registries`);
  }
  const seen = new Map<string, string>();
  for (const [name, reg] of Object.entries(config.registries)) {
    for (const host of [name, ...reg.aliases]) {
      const other = seen.get(host);
      if (other) throw configError(`registries.${name}.aliases: "${host}" is already used by ${other}`);
      seen.set(host, name);
    }
  }
  const credentials = new Map<string, Credentials>();
  for (const [name, reg] of Object.entries(config.registries)) {
    const a = reg.auth;
    if (!a) continue;
    if (opts.credentials === false) {
      if (a.password) a.password = "[redacted]";
      continue;
    }
    let password: string | undefined = a.password;
    if (a.passwordEnv) {
      password = env[a.passwordEnv];
      if (!password) {
        throw configError(
          `registries.${name}.auth.passwordEnv: environment variable ${a.passwordEnv} is not set`,
        );
      }
    } else if (a.passwordFile) {
      try {
        password = readFileSync(a.passwordFile, "utf8").trim();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "error";
        throw configError(`registries.${name}.auth.passwordFile: cannot read ${a.passwordFile} (${code})`);
      }
    }
    credentials.set(name, { username: a.username, password: new Secret(password ?? "") });
    // Drop the inline password from the frozen config so that dumping the config never shows it.
    if (a.password) a.password = "[redacted]";
  }
  const adminToken = opts.credentials === false ? null : resolveAdminToken(config.admin, env);
  const storageCredentials =
    (opts.storageCredentials ?? opts.credentials) !== false && config.storage.s3
      ? {
          accessKeyId: resolveStorageSecret(
            "storage.s3.accessKey",
            config.storage.s3.accessKeyEnv,
            config.storage.s3.accessKeyFile,
            env,
          ),
          secretAccessKey: resolveStorageSecret(
            "storage.s3.secretKey",
            config.storage.s3.secretKeyEnv,
            config.storage.s3.secretKeyFile,
            env,
          ),
        }
      : null;
  const pgConfig = config.storage.postgres;
  const metadataUrl =
    (opts.storageCredentials ?? opts.credentials) !== false && pgConfig
      ? resolveStorageSecret("storage.postgres.url", pgConfig.urlEnv, pgConfig.urlFile, env)
      : null;
  config.dataDir = resolve(config.dataDir);
  if (config.access?.htpasswd) config.access.htpasswd = resolve(config.access.htpasswd);
  return {
    config: deepFreeze(config),
    credentials,
    source,
    adminToken,
    storageCredentials,
    metadataUrl,
  };
}

/** <key>Env or <key>File of a storage secret; the error names the key, never the value. */
function resolveStorageSecret(
  key: string,
  envName: string | undefined,
  file: string | undefined,
  env: Record<string, string | undefined>,
): Secret {
  if (envName) {
    const value = env[envName];
    if (!value) throw configError(`${key}Env: environment variable ${envName} is not set`);
    return new Secret(value);
  }
  let value = "";
  try {
    value = readFileSync(file ?? "", "utf8").trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw configError(`${key}File: cannot read ${file} (${code})`);
  }
  if (!value) throw configError(`${key}File: ${file} is empty`);
  return new Secret(value);
}

/** The admin endpoint's bearer token, in the same three styles as an upstream password. */
function resolveAdminToken(
  admin: { token: string | null; tokenEnv?: string | undefined; tokenFile?: string | undefined },
  env: Record<string, string | undefined>,
): Secret | null {
  if (admin.token !== null) return new Secret(admin.token);
  if (admin.tokenEnv) {
    const value = env[admin.tokenEnv];
    if (!value) throw configError(`admin.tokenEnv: environment variable ${admin.tokenEnv} is not set`);
    return new Secret(value);
  }
  if (admin.tokenFile) {
    try {
      const value = readFileSync(admin.tokenFile, "utf8").trim();
      if (!value) throw configError(`admin.tokenFile: ${admin.tokenFile} is empty`);
      return new Secret(value);
    } catch (e) {
      if (e instanceof WharfError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw configError(`admin.tokenFile: cannot read ${admin.tokenFile} (${code})`);
    }
  }
  return null;
}

/** Loads FILE (YAML) or, without one, the embedded defaults. Throws WharfError CONFIG_INVALID. */
export function loadConfig(
  file: string | undefined,
  env: Record<string, string | undefined>,
  opts: LoadOptions = {},
): LoadedConfig {
  if (!file) return buildConfig({}, env, "embedded defaults", opts);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw configError(`cannot read config file ${file} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const pos = e.linePos?.[0];
      throw configError(`${file}${pos ? `:${pos.line}:${pos.col}` : ""}: ${e.message.split("\n")[0]}`);
    }
    // yaml throws plain errors too: ReferenceError for an unresolved alias ("a: *x") or an alias
    // bomb ("Excessive alias count"). Still the operator's file, not a crash.
    throw configError(`${file}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    throw configError(`${file}: expected a YAML mapping at the top level`);
  }
  return buildConfig(doc, env, resolve(file), opts);
}
