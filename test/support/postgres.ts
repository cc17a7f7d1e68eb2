// A throwaway PostgreSQL server for tests: initdb into a temp directory and `postgres` on a
// loopbackIp() address, from Debian's packages (installed when missing). Trust authentication on
// that private address; durability switched off (the data is throwaway), so it starts in about a
// second. The server runs as the `postgres` user (it refuses root) and is SIGKILLed by stop() or by
// the exit hooks when the worker dies.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pg from "pg";
import { type OwnedProcess, spawnOwned, tailFile } from "./owned-process.ts";
import { loopbackIp } from "./ports.ts";
import { PDEATHSIG, runCommand } from "./run-command.ts";
import { makeTempDir } from "./temp-dir.ts";

export interface Postgres {
  ip: string;
  port: number;
  /** postgres://… of a fresh database (one per call), for wharf's `storage.postgres`. */
  createDatabase(): Promise<string>;
  pid(): number;
  logTail(): string;
  stop(): Promise<void>;
}

const PG_PACKAGE = "postgresql";

async function binDir(): Promise<string> {
  const find = async () =>
    (
      await runCommand(["sh", "-c", "ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1"])
    ).stdout.trim();
  const found = await find();
  if (found) return found;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  try {
    await runCommand(["apt-get", "update"], { env, timeoutMs: 300_000 });
    await runCommand(["apt-get", "install", "-y", "--no-install-recommends", PG_PACKAGE], {
      env,
      timeoutMs: 600_000,
    });
  } catch (e) {
    throw new Error(
      `the replica tests need PostgreSQL (${PG_PACKAGE}); apt-get failed:\n${(e as Error).message}`,
    );
  }
  const again = await find();
  if (!again) throw new Error(`still no /usr/lib/postgresql/*/bin after apt-get install ${PG_PACKAGE}`);
  return again;
}

/** As the postgres user; the death signal is set after the uid change (a change of uid clears it). */
const asPostgres = (argv: string[]) => [
  "setpriv",
  "--reuid=postgres",
  "--regid=postgres",
  "--clear-groups",
  ...PDEATHSIG,
  ...argv,
];

export async function startPostgres(): Promise<Postgres> {
  const bin = await binDir();
  const tmp = await makeTempDir("wharf-pg-");
  await runCommand(["chown", "-R", "postgres:postgres", tmp.path]);
  const data = join(tmp.path, "data");
  const logFile = join(tmp.path, "postgres.log");
  const ip = loopbackIp();
  const port = 5432;
  let proc: OwnedProcess | undefined;
  const logTail = () => tailFile(logFile, 20);
  try {
    await runCommand(
      asPostgres([
        join(bin, "initdb"),
        "-D",
        data,
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "-E",
        "UTF8",
      ]),
      { timeoutMs: 120_000 },
    );
    proc = spawnOwned(
      asPostgres([
        join(bin, "postgres"),
        "-D",
        data,
        "-h",
        ip,
        "-p",
        String(port),
        "-k",
        tmp.path,
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=200",
      ]),
      { stdoutFile: logFile, stderrFile: logFile },
    );
    const admin = new pg.Pool({ host: ip, port, user: "postgres", database: "postgres", max: 1 });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await admin.query("SELECT 1");
        break;
      } catch (e) {
        if (!proc.alive() || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const server = proc;
    return {
      ip,
      port,
      async createDatabase() {
        const name = `wharf_${randomBytes(5).toString("hex")}`;
        await admin.query(`CREATE DATABASE ${name}`);
        return `postgres://postgres@${ip}:${port}/${name}`;
      },
      pid: () => server.pid,
      logTail,
      async stop() {
        await admin.end().catch(() => {});
        server.kill("SIGKILL");
        await server.exited;
        await tmp.remove();
      },
    };
  } catch (e) {
    const tail = logTail();
    proc?.kill("SIGKILL");
    await proc?.exited;
    await tmp.remove();
    throw new Error(`PostgreSQL did not start: ${(e as Error).message}\n${tail}`);
  }
}
