// Whether the cache directory can take writes: probed on an interval (write + fsync + delete a
// small file). Readiness and DNS fail-open read it; a full or read-only disk flips it quickly.
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";

export class StoreHealth {
  writable = true;
  lastError: string | undefined;
  readonly #dir: string;
  #timer: NodeJS.Timeout | undefined;

  constructor(tmpDir: string) {
    this.#dir = tmpDir;
  }

  async probe(): Promise<boolean> {
    const file = join(this.#dir, `.probe-${process.pid}`);
    try {
      const fh = await open(file, "w", 0o600);
      try {
        await fh.writeFile("ok");
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(file);
      this.writable = true;
      this.lastError = undefined;
    } catch (e) {
      this.writable = false;
      this.lastError = `${(e as NodeJS.ErrnoException).code ?? "error"} writing ${this.#dir}`;
    }
    return this.writable;
  }

  start(intervalMs = 5_000): void {
    this.#timer = setInterval(() => void this.probe(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
