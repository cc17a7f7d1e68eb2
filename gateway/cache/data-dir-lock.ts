// One wharf per dataDir: two processes filling the same store would race on metadata. The lock
// is a listening Unix socket inside dataDir: it vanishes with its process (even after kill -9),
// so a stale lock is recognised by a refused connection, and PIDs reused in containers don't matter.
import { existsSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join, relative } from "node:path";
import { WharfError } from "../errors.ts";

export interface DataDirLock {
  release(): void;
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
  const full = join(dataDir, "wharf.lock");
  // sun_path is limited to ~107 bytes: fall back to a path relative to the working directory.
  const path = full.length < 100 ? full : relative(process.cwd(), full);
  if (existsSync(path)) {
    if (await tryConnect(path)) {
      throw new WharfError(
        "STORE_UNAVAILABLE",
        `another wharf is running on ${dataDir} (lock ${full}); stop it or use another dataDir`,
      );
    }
    unlinkSync(path);
  }
  const server: Server = createServer((s) => s.destroy());
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
  return {
    release() {
      server.close();
    },
  };
}
