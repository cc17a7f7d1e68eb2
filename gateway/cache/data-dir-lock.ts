// One wharf per dataDir: two servers filling the same store would race on metadata (the workers
// of one wharf coordinate through their primary, which holds the lock: docs/workers.md). The lock
// is a listening Unix socket inside dataDir: it vanishes with its process (even after kill -9),
// so a stale lock is recognised by a refused connection, and PIDs reused in containers don't matter.
// The socket also answers one question: which blobs the server is streaming right now, so that
// `wharf cache gc` beside it never removes them (one JSON line: {"inUse":[digest,...]}).
import { existsSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join, relative } from "node:path";
import { WharfError } from "../../common/errors.ts";

export interface DataDirLock {
  release(): void;
  /**
   * What the lock socket answers: the digests in use (set once the cache is open). With workers
   * (docs/workers.md) the primary holds the lock and asks its workers, hence the promise.
   */
  inUse?: () => Iterable<string> | Promise<Iterable<string>>;
}

function lockPath(dataDir: string): { full: string; path: string } {
  const full = join(dataDir, "wharf.lock");
  // sun_path is limited to ~107 bytes: fall back to a path relative to the working directory.
  return { full, path: full.length < 100 ? full : relative(process.cwd(), full) };
}

/**
 * The digests the server holding the lock on `dataDir` is streaming, or an empty set when none
 * runs. Throws when a server runs but does not answer: removing blobs blind is not safe.
 */
export async function inUseByServer(dataDir: string): Promise<ReadonlySet<string>> {
  const { path } = lockPath(dataDir);
  if (!existsSync(path)) return new Set();
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let text = "";
    let connected = false;
    s.setTimeout(5_000, () => s.destroy(new Error("timed out")));
    s.once("connect", () => {
      connected = true;
    });
    s.on("data", (b: Buffer) => {
      text += b.toString("utf8");
    });
    s.once("error", (e) => {
      if (!connected)
        resolve(new Set()); // a stale lock: nobody serves
      else reject(new WharfError("STORE_UNAVAILABLE", `the running wharf did not answer (${e.message})`));
    });
    s.once("end", () => {
      try {
        const { inUse } = JSON.parse(text) as { inUse?: unknown };
        resolve(new Set(Array.isArray(inUse) ? inUse.filter((d) => typeof d === "string") : []));
      } catch {
        // an older server that closes without answering
        reject(new WharfError("STORE_UNAVAILABLE", "the running wharf does not report blobs in use"));
      }
    });
  });
}

function tryConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const { full, path } = lockPath(dataDir);
  if (existsSync(path)) {
    if (await tryConnect(path)) {
      throw new WharfError(
        "STORE_UNAVAILABLE",
        `another wharf is running on ${dataDir} (lock ${full}); stop it or use another dataDir`,
      );
    }
    unlinkSync(path);
  }
  const lock: DataDirLock = {
    release() {
      server.close();
    },
  };
  const server: Server = createServer((s) => {
    s.on("error", () => {});
    Promise.resolve(lock.inUse?.() ?? [])
      .then((inUse) => s.end(`${JSON.stringify({ inUse: [...inUse] })}\n`))
      // no answer rather than a partial one: gc beside the server then removes nothing
      .catch(() => s.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new WharfError("STORE_UNAVAILABLE", `another wharf is starting on ${dataDir}`)
          : new WharfError("STORE_UNAVAILABLE", `cannot lock ${dataDir} (${e.code})`),
      ),
    );
    server.listen(path, () => resolve());
  });
  server.unref();
  return lock;
}
