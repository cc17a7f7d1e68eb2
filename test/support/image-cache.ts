// Builds the test images (images.sh) once per machine: the OCI layout lands in a directory under
// os.tmpdir() named after the hash of the script, the busybox binary it packs and the big layer
// size, so an unchanged setup reuses it and any change rebuilds. Written to a temp name first and
// renamed into place, so a half-built layout is never used, even with parallel runs.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "./run-command.ts";
import { findBinary } from "./system-packages.ts";

export const IMAGES_SCRIPT = fileURLToPath(new URL("./images.sh", import.meta.url));

async function cacheKey(bigMiB: number): Promise<string> {
  const busybox = findBinary("busybox");
  if (!busybox) throw new Error("busybox (busybox-static) is not installed");
  const hash = createHash("sha256");
  hash.update(await readFile(IMAGES_SCRIPT));
  hash.update(await readFile(busybox));
  hash.update(`big=${bigMiB}`);
  return hash.digest("hex").slice(0, 16);
}

/** Returns the path of the OCI layout, building it first when no cached copy exists. */
export async function buildImageCache(bigMiB = 100): Promise<string> {
  const dir = join(tmpdir(), `wharf-test-images-${await cacheKey(bigMiB)}`);
  if (existsSync(join(dir, "index.json"))) return dir;
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  try {
    await runCommand(["bash", IMAGES_SCRIPT, work, String(bigMiB)], { timeoutMs: 300_000 });
    await rename(work, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(join(dir, "index.json"))) throw e;
    // another run finished the same layout first: use theirs
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return dir;
}
