// Whether the cache can take writes: probed on an interval (free space against cache.minFree,
// then write + fsync + delete a small file) and told about every write that failed. Readiness and
// DNS fail-open read it; fills ask it for room before they start. While the store cannot take
// writes wharf serves what it has (read-only) and says why once, not on every request.
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { formatBytes } from "../config/units.ts";
import type { Logger } from "../log.ts";
import { freeBytes, type StoreProblem, storeProblem, storeUnavailable } from "./store-errors.ts";

export class StoreHealth {
  /** "ok", or what stops writes. */
  state: "ok" | StoreProblem = "ok";
  lastError: string | undefined;
  readonly #tmpDir: string;
  readonly #minFree: number;
  readonly #log: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Called after every probe that found the store writable (an in-memory index persists then). */
  onWritable: (() => void) | undefined;

  constructor(tmpDir: string, opts: { minFree?: number; log?: Logger } = {}) {
    this.#tmpDir = tmpDir;
    this.#minFree = opts.minFree ?? 0;
    this.#log = opts.log;
  }

  get writable(): boolean {
    return this.state === "ok";
  }

  #fullReason(free: number): string {
    return `disk full: ${formatBytes(free)} free for dataDir, cache.minFree is ${formatBytes(this.#minFree)}; serving cached content only`;
  }

  #set(state: "ok" | StoreProblem, reason: string | undefined): void {
    const was = this.state;
    this.state = state;
    this.lastError = reason;
    if (state !== "ok" && was === "ok") this.#log?.warn({ reason }, "store cannot take writes; read-only");
    if (state === "ok" && was !== "ok") this.#log?.info("store takes writes again");
  }

  async probe(): Promise<boolean> {
    const free = await freeBytes(this.#tmpDir);
    if (free < this.#minFree) {
      this.#set("full", this.#fullReason(free));
      return false;
    }
    const file = join(this.#tmpDir, `.probe-${process.pid}`);
    try {
      const fh = await open(file, "w", 0o600);
      try {
        await fh.writeFile("ok");
        await fh.sync();
      } finally {
        await fh.close();
      }
      await unlink(file);
      this.#set("ok", undefined);
      this.onWritable?.();
    } catch (e) {
      await unlink(file).catch(() => {});
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      this.#set(storeProblem(e) ?? "io", `${code} writing ${this.#tmpDir}`);
    }
    return this.writable;
  }

  /**
   * Records a write that failed. Returns true when `e` is store trouble (full, read-only, I/O):
   * the caller may then skip an optional write; anything else is a bug and should propagate.
   */
  noteWriteFailure(what: string, e: unknown): boolean {
    const problem = storeProblem(e);
    if (!problem) return false;
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
    this.#set(
      problem,
      `${problem === "full" ? "disk full" : problem}: ${what} failed (${(cause as Error).message})`,
    );
    return true;
  }

  /**
   * Throws a 503 (Retry-After) unless `bytes` more fit while leaving cache.minFree: a fill is
   * refused before it starts rather than failing half-way.
   */
  async ensureRoom(bytes: number): Promise<void> {
    if (this.state === "read-only" || this.state === "io")
      throw storeUnavailable(`cache cannot take new content: ${this.lastError}`);
    const free = await freeBytes(this.#tmpDir);
    if (free - bytes >= this.#minFree) return;
    if (free < this.#minFree) this.#set("full", this.#fullReason(free));
    throw storeUnavailable(
      `cache has no room for ${formatBytes(bytes)}: ${formatBytes(free)} free, cache.minFree is ${formatBytes(this.#minFree)}`,
    );
  }

  start(intervalMs = 5_000): void {
    this.#timer = setInterval(() => void this.probe(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
