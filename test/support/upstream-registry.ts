// A real upstream registry: Debian's docker-registry (distribution 2.8) over TLS, with no auth,
// Basic (htpasswd) or token auth, optionally in proxy (pull-through) mode (testbed.md §3).
// Requests are counted from its access log (stdout, opened O_APPEND); its app log is stderr.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { AccessLog, type LoggedRequest, type RequestFilter, waitForCount } from "./access-log.ts";
import { spawnOwned, tailFile } from "./owned-process.ts";
import { freePort } from "./ports.ts";
import { runCommand } from "./run-command.ts";
import { createSandbox } from "./sandbox.ts";
import { makeTempDir } from "./temp-dir.ts";
import { waitForHttp } from "./wait-http.ts";

export type RegistryAuth =
  | { kind: "basic"; users: Record<string, string> }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface RegistryProxy {
  remoteUrl: string;
  username?: string;
  password?: string;
  /** The only roots it trusts for the remote (SSL_CERT_FILE). */
  caFile: string;
  /** Name resolution for the remote: a hosts file, or entries for a private one. */
  hostsFile?: string;
  hosts?: Record<string, string>;
  /** Resolver for names not in hosts (default 127.0.0.1: nothing leaves the machine). */
  nameserver?: string;
}

export interface UpstreamRegistryOptions {
  host: string;
  /** Default 443 (host is normally a loopbackIp() of its own); 0 picks a free port. */
  port?: number;
  cert: string;
  key: string;
  auth?: RegistryAuth;
  proxy?: RegistryProxy;
  /** Run inside this network namespace. */
  netns?: string;
}

export interface UpstreamRegistry {
  url: string;
  host: string;
  port: number;
  /** Holds config.yml, data/ (storage), access.log, registry.log. Removed by stop() (counts and logs stay readable). */
  dir: string;
  /** Number of requests so far: pass it to requests()/count() to see only what came after. */
  mark(): number;
  requests(since?: number): LoggedRequest[];
  count(filter?: RequestFilter, since?: number): number;
  /** Waits (default 5 s) until count(filter, since) >= n; returns the last count. */
  waitForCount(
    filter: RequestFilter | undefined,
    n: number,
    since?: number,
    timeoutMs?: number,
  ): Promise<number>;
  /** The registry's application log (stderr). */
  appLog(): string;
  alive(): boolean;
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; call stop() afterwards to clean up. */
  kill(): void;
}

async function htpasswd(users: Record<string, string>): Promise<string> {
  let text = "";
  for (const [user, password] of Object.entries(users)) {
    // bcrypt only: docker-registry rejects other htpasswd hashes
    const line = (await runCommand(["htpasswd", "-Bbn", user, password])).stdout.trim();
    text += `${line}\n`;
  }
  return text;
}

function registryConfig(o: UpstreamRegistryOptions, dir: string, port: number): Record<string, unknown> {
  const addr = o.host.includes(":") ? `[${o.host}]:${port}` : `${o.host}:${port}`;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: join(dir, "data") },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr, secret: "wharf-test-secret", tls: { certificate: o.cert, key: o.key } },
  };
  if (o.auth?.kind === "basic") config.auth = { htpasswd: { realm: "test", path: join(dir, "htpasswd") } };
  if (o.auth?.kind === "token") {
    const { realm, service, issuer, rootCertBundle } = o.auth;
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } };
  }
  if (o.proxy) {
    const { remoteUrl, username, password } = o.proxy;
    config.proxy = { remoteurl: remoteUrl, ...(username ? { username, password: password ?? "" } : {}) };
  }
  return config;
}

export async function startUpstreamRegistry(o: UpstreamRegistryOptions): Promise<UpstreamRegistry> {
  const port = o.port === 0 ? await freePort(o.host) : (o.port ?? 443);
  const temp = await makeTempDir("wharf-upstream-");
  const dir = temp.path;
  const accessLog = join(dir, "access.log");
  const errorLog = join(dir, "registry.log");
  if (o.auth?.kind === "basic") await writeFile(join(dir, "htpasswd"), await htpasswd(o.auth.users));
  // every string double-quoted: an unquoted "[::1]:443" would be a YAML list (testbed.md §3)
  const yaml = stringify(registryConfig(o, dir, port), {
    defaultStringType: "QUOTE_DOUBLE",
    defaultKeyType: "PLAIN",
  });
  await writeFile(join(dir, "config.yml"), yaml);
  await writeFile(accessLog, "");
  await writeFile(errorLog, "");

  const sandbox = await createSandbox({
    netns: o.netns,
    hosts: o.proxy?.hosts,
    hostsFile: o.proxy?.hostsFile,
    nameserver: o.proxy?.nameserver,
  });
  const env = o.proxy ? { SSL_CERT_FILE: o.proxy.caFile } : {};
  const proc = spawnOwned(sandbox.wrap(["docker-registry", "serve", join(dir, "config.yml")]), {
    stdoutFile: accessLog,
    stderrFile: errorLog,
    env,
  });
  const log = new AccessLog(accessLog);
  const url = `https://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;
  let stopped = false;
  let finalAppLog: string | undefined;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await proc.stop();
    log.freeze(); // counts stay readable after the directory is gone
    finalAppLog = tailFile(errorLog, 10_000);
    await sandbox.dispose();
    await temp.remove();
  };
  try {
    await waitForHttp(`${url}/v2/`, {
      accept: (s) => s === 200 || s === 401,
      alive: proc.alive,
      netns: o.netns,
      timeoutMs: 10_000,
      describe: () => tailFile(errorLog, 10),
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    host: o.host,
    port,
    dir,
    mark: () => log.mark(),
    requests: (since) => log.requests(since),
    count: (filter, since) => log.count(filter, since),
    waitForCount: (filter, n, since, timeoutMs) => waitForCount(() => log.count(filter, since), n, timeoutMs),
    appLog: () => finalAppLog ?? tailFile(errorLog, 10_000),
    alive: proc.alive,
    stop,
    kill: () => proc.kill("SIGKILL"),
  };
}
