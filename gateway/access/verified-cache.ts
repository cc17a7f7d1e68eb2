// Remembers successful password checks for a short time, so that a client sending Basic on every
// request (a push of 50 layers) costs one bcrypt run, not 50. Keys are HMACs the caller computes
// with a per-process random key: the cache never holds a password or anything that reveals one.

export class VerifiedCache {
  readonly #expiry = new Map<string, number>();
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now: () => number;

  constructor(ttlMs: number, maxEntries: number, now: () => number) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.now = now;
  }

  has(key: string): boolean {
    const until = this.#expiry.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#expiry.delete(key);
    return false;
  }

  add(key: string): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    this.#expiry.delete(key);
    // Map keeps insertion order: the first key is the oldest.
    while (this.#expiry.size >= this.maxEntries) {
      const oldest = this.#expiry.keys().next().value;
      if (oldest === undefined) break;
      this.#expiry.delete(oldest);
    }
    this.#expiry.set(key, this.now() + this.ttlMs);
  }

  clear(): void {
    this.#expiry.clear();
  }

  get size(): number {
    return this.#expiry.size;
  }
}
