// The users of `access.htpasswd`: bcrypt entries as `htpasswd -B` writes them, checked with bcryptjs.
// The file is re-read when it changes (fs.watch on its directory, so editors that write a new file
// and rename it over the old one are seen, plus a stat check on use in case an event is missed).
// A reload that fails keeps the last good set of users.
import { createHmac, randomBytes } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname } from "node:path";
import bcrypt from "bcryptjs";
import { WharfError } from "../../common/errors.ts";
import type { Logger } from "../log.ts";
import { parseHtpasswd } from "./htpasswd-file.ts";
import { VerifiedCache } from "./verified-cache.ts";

export interface HtpasswdOptions {
  log: Logger;
  now?: () => number;
  /** Least time between two stat checks of the file on use. Default 1 s. */
  recheckMs?: number;
  /** How long a successful check is remembered (clients send Basic on every request). Default 60 s. */
  cacheTtlMs?: number;
  /** Most remembered checks. Default 1024. */
  cacheSize?: number;
  /** false: no fs.watch (the stat check on use still reloads). Default true. */
  watch?: boolean;
}

/** What identifies one version of the file: a rename gives a new inode, an append a new size. */
type Signature = string;

const DEFAULT_COST = 10;

export class HtpasswdUsers {
  readonly file: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #recheckMs: number;
  readonly #verified: VerifiedCache;
  /** Keys the cache and the single-flight map: HMAC(user, password) with a per-process key. */
  readonly #hmacKey = randomBytes(32);
  readonly #pending = new Map<string, Promise<boolean>>();
  #users = new Map<string, string>();
  /** Compared against for unknown users, at the cost most entries use, so timing looks alike. */
  #dummyHash = "";
  #signature: Signature = "";
  #checkedAt = Number.NEGATIVE_INFINITY;
  #reloading: Promise<void> | undefined;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  private constructor(file: string, opts: HtpasswdOptions) {
    this.file = file;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#recheckMs = opts.recheckMs ?? 1000;
    this.#verified = new VerifiedCache(opts.cacheTtlMs ?? 60_000, opts.cacheSize ?? 1024, this.#now);
  }

  /** Loads FILE; throws WharfError CONFIG_INVALID when it cannot be read or parsed. */
  static async open(file: string, opts: HtpasswdOptions): Promise<HtpasswdUsers> {
    const users = new HtpasswdUsers(file, opts);
    const error = await users.#load();
    if (error) throw new WharfError("CONFIG_INVALID", `access.htpasswd: ${error}`);
    if (opts.watch !== false) users.#startWatching();
    return users;
  }

  /** How many users can log in. */
  get size(): number {
    return this.#users.size;
  }

  /** True when USER exists with a bcrypt entry matching PASSWORD. Never logs either. */
  async verify(user: string, password: string): Promise<boolean> {
    await this.#recheck();
    const key = createHmac("sha256", this.#hmacKey).update(user).update("\0").update(password).digest("hex");
    if (this.#verified.has(key)) return true;
    // Concurrent requests with the same credentials (a push's parallel layer uploads) share one run.
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#compare(user, password, key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#debounce);
  }

  async #compare(user: string, password: string, key: string): Promise<boolean> {
    const users = this.#users;
    const hash = users.get(user);
    // Always one bcrypt run, so an unknown user costs as long as a wrong password.
    const ok = await bcrypt.compare(password, hash ?? this.#dummyHash);
    if (!ok || hash === undefined) return false;
    // A reload during the compare may have removed or changed the user: remember only current facts.
    if (this.#users === users) this.#verified.add(key);
    return true;
  }

  async #recheck(): Promise<void> {
    const now = this.#now();
    if (now - this.#checkedAt >= this.#recheckMs) {
      this.#checkedAt = now;
      await this.#reload();
    } else if (this.#reloading) {
      await this.#reloading;
    }
  }

  /** Re-reads the file if it changed, one reload at a time. */
  #reload(): Promise<void> {
    if (!this.#reloading) {
      this.#reloading = this.#load()
        .then((error) => {
          if (error)
            this.#log.warn(
              { file: this.file, reason: error },
              "htpasswd reload failed; keeping the previous users",
            );
        })
        .finally(() => {
          this.#reloading = undefined;
        });
    }
    return this.#reloading;
  }

  /** Reads and installs the file; returns why it could not (and changes nothing then). */
  async #load(): Promise<string | undefined> {
    let text: string;
    let signature: Signature;
    try {
      const fh = await open(this.file, "r");
      try {
        const st = await fh.stat();
        signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
        if (signature === this.#signature) return undefined;
        text = await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
    } catch (e) {
      return `cannot read ${this.file} (${(e as NodeJS.ErrnoException).code ?? "error"})`;
    }
    // Seen, even if broken: the same broken file is not parsed and reported again on every request.
    const first = this.#signature === "";
    this.#signature = signature;
    const parsed = parseHtpasswd(text);
    if ("error" in parsed) return `${this.file}: ${parsed.error}`;
    for (const { user, kind } of parsed.refused) {
      this.#log.warn(
        { file: this.file, user, kind },
        "htpasswd: only bcrypt entries are accepted (create them with htpasswd -B); this user cannot log in",
      );
    }
    const cost = mostCommon([...parsed.users.values()].map((h) => bcrypt.getRounds(h))) ?? DEFAULT_COST;
    if (!this.#dummyHash || bcrypt.getRounds(this.#dummyHash) !== cost) {
      this.#dummyHash = await bcrypt.hash(randomBytes(16).toString("hex"), cost);
    }
    this.#users = parsed.users;
    this.#verified.clear();
    this.#log.info(
      { file: this.file, users: parsed.users.size },
      first ? "htpasswd loaded" : "htpasswd reloaded",
    );
    return undefined;
  }

  #startWatching(): void {
    const name = basename(this.file);
    try {
      // The directory, not the file: a rename over the file would leave a file watch on the old inode.
      this.#watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.#debounce);
        // Editors write in several steps; read once they are done.
        this.#debounce = setTimeout(() => void this.#reload(), 50);
        this.#debounce.unref();
      });
      this.#watcher.on("error", (e) => {
        this.#log.warn(
          { file: this.file, err: e.message },
          "htpasswd: watching stopped; changes are seen on use",
        );
        this.close();
      });
    } catch (e) {
      this.#log.warn(
        { file: this.file, err: (e as Error).message },
        "htpasswd: cannot watch; changes are seen on use",
      );
    }
  }
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: number | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = v;
  return best;
}
