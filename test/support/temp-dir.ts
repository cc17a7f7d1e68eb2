// Temp directories owned by one test worker: removed by remove(), or at the latest when the
// worker exits (also on SIGTERM, see exit-hooks.ts), so crashed tests do not fill os.tmpdir().
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addExitHook } from "./exit-hooks.ts";

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** mkdtemp under os.tmpdir(); `prefix` like "wharf-upstream-". */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  const removeHook = addExitHook(() => rmSync(path, { recursive: true, force: true }));
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      removeHook();
    },
  };
}
