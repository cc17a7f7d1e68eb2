// Addresses for servers started by tests. Each call to loopbackIp() gives an address of
// 127.0.0.0/8 that no other live test process holds, so servers can use fixed ports (443, 53)
// and parallel test files (or parallel runs) never collide. Linux answers on all of 127/8
// without configuration. The candidate comes from the PID and a counter; a lock file per
// address (created with O_EXCL, naming its owner PID) settles the rare collision.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addExitHook } from "./exit-hooks.ts";

const LOCK_DIR = join(tmpdir(), "wharf-test-loopback");
const held: string[] = [];
let counter = 0;
let hooked = false;

function ownerAlive(lock: string): boolean {
  try {
    const pid = Number(readFileSync(lock, "utf8"));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryClaim(ip: string): boolean {
  const lock = join(LOCK_DIR, ip);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.push(lock);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || ownerAlive(lock)) return false;
      try {
        unlinkSync(lock); // stale: its owner is gone
      } catch {}
    }
  }
  return false;
}

function releaseAll(): void {
  for (const lock of held.splice(0)) {
    try {
      unlinkSync(lock);
    } catch {}
  }
}

/** A fresh 127.a.b.c (never 127.0.0.x) owned by this process until it exits. */
export function loopbackIp(): string {
  mkdirSync(LOCK_DIR, { recursive: true });
  if (!hooked) {
    addExitHook(releaseAll); // held until the process exits
    hooked = true;
  }
  const a = 100 + (process.pid % 150);
  while (counter < 65_000) {
    counter++;
    const b = counter >> 8;
    const c = counter & 0xff;
    if (c === 0 || c === 255) continue;
    const ip = `127.${a}.${b}.${c}`;
    if (tryClaim(ip)) return ip;
  }
  throw new Error("loopbackIp: no free address left");
}

/** A TCP port that is free on `host` right now (the kernel picks it). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("freePort: no address"));
      });
    });
  });
}
