// wharf itself, as CI would run it: `node bin/wharf.mjs serve --config wharf.yml` in a child
// process (repo root as cwd), confined like every other process the tests start: private
// /etc/hosts and resolv.conf, so even a lookup wharf makes through the system resolver stays
// inside the test. Ready when GET http://<listen.http>/v2/ answers (200, or 401 with users).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { type ExitInfo, spawnOwned, tailFile } from "./owned-process.ts";
import { type RunResult, runCommand } from "./run-command.ts";
import { createSandbox } from "./sandbox.ts";
import { makeTempDir } from "./temp-dir.ts";
import { waitForHttp } from "./wait-http.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface StartWharfOptions {
  /**
   * The config document (written as YAML). Test-safe defaults: `dataDir` in a temp dir, `upstreamDns`
   * = nameserver:53, and listen.https/dns/admin off unless given. listen.http is required.
   */
  config: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Run inside this network namespace. */
  netns?: string;
  /** Entries for wharf's private /etc/hosts. */
  hosts?: Record<string, string>;
  /** Its /etc/resolv.conf nameserver (default 127.0.0.1). */
  nameserver?: string;
  /** Default 15 s. */
  readyTimeoutMs?: number;
}

export interface WharfProcess {
  /** http://host:port of listen.http. */
  httpUrl: string;
  /** The config as written (defaults filled in). */
  config: Record<string, unknown>;
  dir: string;
  pid: number;
  logs(): { stdout: string; stderr: string };
  /** SIGTERM, wait for the exit (SIGKILL after 10 s); removes its temp dir. */
  stop(): Promise<ExitInfo>;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<ExitInfo>;
}

function httpBase(config: Record<string, unknown>): string {
  const listen = config.listen as { http?: string } | undefined;
  const http = listen?.http;
  if (typeof http !== "string") throw new Error('startWharf: config.listen.http must be set ("host:port")');
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(http);
  if (!m) throw new Error(`startWharf: cannot parse listen.http ${http}`);
  let host = m[1] ?? m[2] ?? "";
  if (host === "" || host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::") host = "::1";
  return `http://${host.includes(":") ? `[${host}]` : host}:${m[3]}`;
}

export async function startWharf(o: StartWharfOptions): Promise<WharfProcess> {
  const temp = await makeTempDir("wharf-process-");
  const dir = temp.path;
  // listeners a test does not name stay off: the defaults (0.0.0.0:443, :53, 127.0.0.1:9090) would
  // collide between parallel test files
  const listen = { https: null, dns: null, admin: null, ...(o.config.listen as object | undefined) };
  const config = {
    dataDir: join(dir, "data"),
    // tests count what one process did unless they ask for workers (docs/workers.md)
    workers: 1,
    upstreamDns: `${o.nameserver ?? "127.0.0.1"}:53`,
    ...o.config,
    listen,
  };
  const httpUrl = httpBase(config);
  await mkdir(String(config.dataDir), { recursive: true });
  const configFile = join(dir, "wharf.yml");
  await writeFile(configFile, stringify(config));
  const out = join(dir, "stdout.log");
  const err = join(dir, "stderr.log");
  const sandbox = await createSandbox({ netns: o.netns, hosts: o.hosts, nameserver: o.nameserver });
  const node = join(REPO_ROOT, "node_modules", ".bin", "node");
  const argv = sandbox.wrap([node, join(REPO_ROOT, "bin", "wharf.mjs"), "serve", "--config", configFile]);
  const proc = spawnOwned(argv, { stdoutFile: out, stderrFile: err, cwd: REPO_ROOT, env: o.env });
  let exit = "";
  void proc.exited.then((i) => {
    exit = `wharf exited (code ${i.code ?? "-"}, signal ${i.signal ?? "-"})`;
  });
  let finalLogs: { stdout: string; stderr: string } | undefined;
  const logs = () => finalLogs ?? { stdout: tailFile(out, 100_000), stderr: tailFile(err, 100_000) };
  let stopping: Promise<ExitInfo> | undefined;
  const stop = (): Promise<ExitInfo> => {
    stopping ??= (async () => {
      const info = await proc.stop(10_000);
      finalLogs = logs(); // still readable once the directory is gone
      await sandbox.dispose();
      await temp.remove();
      return info;
    })();
    return stopping;
  };
  try {
    await waitForHttp(`${httpUrl}/v2/`, {
      // 401: wharf has users and a hosted registry, so /v2/ challenges anonymous clients
      accept: (s) => s === 200 || s === 401,
      alive: proc.alive,
      netns: o.netns,
      timeoutMs: o.readyTimeoutMs ?? 15_000,
      describe: () =>
        `${exit}\n--- wharf stderr ---\n${tailFile(err, 30)}\n--- wharf stdout ---\n${tailFile(out, 30)}`,
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { httpUrl, config, dir, pid: proc.pid, logs, stop, kill: (s) => proc.kill(s), exited: proc.exited };
}

/**
 * `wharf <args> --config <w's configuration file>` (or `opts.configFile`): the CLI beside a running
 * wharf, from the repo root; the exit code is the caller's to check. `env` is added to this
 * process's environment.
 */
export function runWharfCli(
  w: Pick<WharfProcess, "dir"> | undefined,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; configFile?: string } = {},
): Promise<RunResult> {
  const node = join(REPO_ROOT, "node_modules", ".bin", "node");
  const configFile = opts.configFile ?? (w ? join(w.dir, "wharf.yml") : undefined);
  if (!configFile) throw new Error("runWharfCli: a wharf or opts.configFile is needed");
  return runCommand([node, join(REPO_ROOT, "bin", "wharf.mjs"), ...args, "--config", configFile], {
    cwd: REPO_ROOT,
    allowFailure: true,
    timeoutMs: opts.timeoutMs ?? 60_000,
    ...(opts.env && { env: opts.env }),
  });
}
