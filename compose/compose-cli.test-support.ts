// Shared by the compose tests: Debian's docker-compose, installed when missing and run where it can
// reach neither a network (an empty network namespace) nor a daemon (DOCKER_HOST points at
// nothing), on a copy of compose/ in which every secret file a compose file declares exists.
import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { COMPOSE_DIR } from "./sync-aliases.ts";

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 110_000, ...opts });
  const stdout = r.stdout ?? "";
  return { status: r.status, stdout, out: `${stdout}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

/** Installs docker-compose from Debian when it is missing; throws (never skips) when it can't. */
export function ensureDockerCompose(): void {
  if (run("docker-compose", ["version"]).status === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["-q", "update"], { env });
  const r = run("apt-get", ["-q", "-y", "-o", "DPkg::Lock::Timeout=120", "install", "docker-compose"], {
    env,
  });
  if (run("docker-compose", ["version"]).status !== 0)
    throw new Error(`docker-compose is missing and apt-get could not install it:\n${r.out}`);
}

/** `docker-compose -f <file> <args>` in `cwd`, offline; `tmp` holds its home and config. */
export function dockerCompose(tmp: string, cwd: string, file: string, args: string[]) {
  const env = {
    PATH: process.env.PATH,
    HOME: tmp,
    DOCKER_CONFIG: path.join(tmp, "docker-config"),
    DOCKER_HOST: `unix://${path.join(tmp, "no-docker.sock")}`,
    METRICS_SOCKET_FILE: `http+unix://${path.join(tmp, "no-metrics.sock")}`,
  };
  const r = run("unshare", ["--net", "docker-compose", "-f", file, ...args], { cwd, env });
  if (/unshare: /.test(r.out)) throw new Error(`cannot run docker-compose in a private netns:\n${r.out}`);
  return r;
}

/**
 * A copy of compose/ (and the Dockerfile beside it) at `root`, as a user would have it: every
 * secret file that `files` (paths under compose/) declare, and `.env` from `.env.example`.
 * Returns the copy's compose/ folder.
 */
export async function userCopy(root: string, files: string[]): Promise<string> {
  await rm(root, { recursive: true, force: true });
  const dir = path.join(root, "compose");
  await cp(COMPOSE_DIR, dir, { recursive: true });
  await cp(path.join(COMPOSE_DIR, "..", "Dockerfile"), path.join(root, "Dockerfile"));
  for (const file of files) {
    const at = path.join(dir, path.dirname(file));
    const doc = parse(await readFile(path.join(COMPOSE_DIR, file), "utf8"), { version: "1.1" }) as {
      secrets?: Record<string, { file: string }>;
    };
    for (const s of Object.values(doc.secrets ?? {})) {
      await mkdir(path.dirname(path.join(at, s.file)), { recursive: true });
      await writeFile(path.join(at, s.file), "dummy\n");
    }
    const example = await readFile(path.join(at, ".env.example"), "utf8").catch(() => undefined);
    if (example !== undefined) await writeFile(path.join(at, ".env"), example);
  }
  return dir;
}
