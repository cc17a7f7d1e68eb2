// wharf on loopback with a hosted registry (issue 14): users from an htpasswd file made by
// `htpasswd -B`, the plain-HTTP listener (hosted registries by path prefix, /v2/<registry>/…), a
// data directory that outlives restarts (crash tests kill and restart wharf on it), and the CLI
// (`wharf gc`, `wharf cache verify`) run against the same configuration file.
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { OciPushClient } from "./oci-push-client.ts";
import { loopbackIp } from "./ports.ts";
import { type RunResult, runCommand } from "./run-command.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "./wharf-process.ts";

export const HOSTED = "registry.internal";
export const USER = { name: "alice", password: "s3cret-push" };
export const CREDS = `${USER.name}:${USER.password}`;

/** An htpasswd file as `htpasswd -B` writes it (bcrypt, `$2y$`). */
export async function writeHtpasswd(path: string, users: Record<string, string>): Promise<void> {
  let text = "";
  for (const [user, password] of Object.entries(users))
    text += `${(await runCommand(["htpasswd", "-Bbn", user, password])).stdout.trim()}\n`;
  await writeFile(path, text, { mode: 0o600 });
}

export interface HostedWharfOptions {
  /** `hosted:` of registry.internal (allowDelete, anonymousPull, uploadTtl). */
  hosted?: Record<string, unknown>;
  /** More config (merged at the top level). */
  config?: Record<string, unknown>;
}

export interface HostedWharf {
  wharf: WharfProcess;
  /** The plain-HTTP listener, e.g. http://127.1.2.3:5000 */
  httpUrl: string;
  dataDir: string;
  /** A copy of the config outside wharf's own temp dir: it survives kills and restarts. */
  configFile: string;
  /** A client for registry.internal through its path prefix, with alice's Basic credentials. */
  client(creds?: string | null): OciPushClient;
  /** Starts wharf again on the same data directory and address (after a kill or stop). */
  restart(): Promise<void>;
  /** `node bin/wharf.mjs ARGS --config <configFile>`. */
  cli(args: string[], allowFailure?: boolean): Promise<RunResult>;
  /** True when the content-addressed store holds a file for `digest` (<dataDir>/blobs/…). */
  hasBlobFile(digest: string): boolean;
  blobFiles(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startHostedWharf(o: HostedWharfOptions = {}): Promise<HostedWharf> {
  const tmp: TempDir = await makeTempDir("wharf-hosted-");
  const dataDir = join(tmp.path, "data");
  await mkdir(dataDir, { recursive: true });
  const htpasswd = join(tmp.path, "htpasswd");
  await writeHtpasswd(htpasswd, { [USER.name]: USER.password, bob: "bobs-password" });
  const ip = loopbackIp();
  const config: Record<string, unknown> = {
    dataDir,
    listen: { http: `${ip}:5000` },
    access: { htpasswd },
    registries: {
      // proxied, to check that writes are refused there; nothing in these tests pulls from it
      "docker.io": { upstream: `https://${loopbackIp()}`, aliases: ["registry-1.docker.io"] },
      [HOSTED]: { hosted: { ...o.hosted } },
    },
    ...o.config,
  };
  const configFile = join(tmp.path, "wharf.yml");
  let wharf = await startWharf({ config });
  await writeFile(configFile, stringify(wharf.config));
  const httpUrl = wharf.httpUrl;
  const node = join(REPO_ROOT, "node_modules", ".bin", "node");
  const hexPath = (digest: string) => {
    const hex = digest.replace(/^sha256:/, "");
    return join(dataDir, "blobs", "sha256", hex.slice(0, 2), hex);
  };
  return {
    get wharf() {
      return wharf;
    },
    httpUrl,
    dataDir,
    configFile,
    client: (creds) => new OciPushClient({ base: `${httpUrl}/v2/${HOSTED}`, creds: creds ?? undefined }),
    async restart() {
      await wharf.stop(); // after a SIGKILL: reaps, removes the old temp dir (not dataDir)
      wharf = await startWharf({ config });
    },
    cli: (args, allowFailure) =>
      runCommand([node, join(REPO_ROOT, "bin", "wharf.mjs"), ...args, "--config", configFile], {
        cwd: REPO_ROOT,
        allowFailure,
        timeoutMs: 60_000,
      }),
    hasBlobFile: (digest) => existsSync(hexPath(digest)),
    async blobFiles() {
      const root = join(dataDir, "blobs", "sha256");
      const out: string[] = [];
      for (const prefix of await readdir(root).catch(() => [] as string[]))
        for (const hex of await readdir(join(root, prefix)).catch(() => [] as string[]))
          out.push(`sha256:${hex}`);
      return out.sort();
    },
    async stop() {
      await wharf.stop();
      await tmp.remove();
    },
  };
}
