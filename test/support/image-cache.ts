// Builds image layouts (images.sh, bench/images.sh) once per machine: the OCI layout lands in a
// directory under os.tmpdir() named after the hash of the scripts, the busybox binary they pack
// and their arguments, so an unchanged setup reuses it and any change rebuilds. Written to a temp
// name first and renamed into place, so a half-built layout is never used, even with parallel runs.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "./run-command.ts";
import { findBinary } from "./system-packages.ts";

export const IMAGES_SCRIPT = fileURLToPath(new URL("./images.sh", import.meta.url));
const LAYOUT_HELPERS = fileURLToPath(new URL("./oci-layout.sh", import.meta.url));

export interface LayoutRecipe {
  /** Directory name prefix under os.tmpdir(). */
  name: string;
  /** Run as `bash script OUT ...args`. */
  script: string;
  args: string[];
  /** Other files the script reads (they are part of the cache key). */
  inputs?: string[];
  timeoutMs: number;
}

async function cacheKey(r: LayoutRecipe): Promise<string> {
  const busybox = findBinary("busybox");
  if (!busybox) throw new Error("busybox (busybox-static) is not installed");
  const hash = createHash("sha256");
  for (const f of [r.script, LAYOUT_HELPERS, ...(r.inputs ?? []), busybox]) hash.update(await readFile(f));
  hash.update(r.args.join(" "));
  return hash.digest("hex").slice(0, 16);
}

/** Returns the path of the OCI layout, building it first when no cached copy exists. */
export async function cachedLayout(r: LayoutRecipe): Promise<string> {
  const dir = join(tmpdir(), `${r.name}-${await cacheKey(r)}`);
  if (existsSync(join(dir, "index.json"))) return dir;
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  try {
    await runCommand(["bash", r.script, work, ...r.args], { timeoutMs: r.timeoutMs });
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

/** The test images (images.sh). */
export function buildImageCache(bigMiB = 100): Promise<string> {
  return cachedLayout({
    name: "wharf-test-images",
    script: IMAGES_SCRIPT,
    args: [String(bigMiB)],
    timeoutMs: 300_000,
  });
}
