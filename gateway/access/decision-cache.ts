// What an upstream answered for one client and one repository (access: upstream), kept for
// access.upstreamDecisionTtl so that a pull's dozens of requests cost one upstream check. Keys are
// HMACs over the client's credentials with a per-process random key: the cache holds no password
// and nothing that reveals one. An allowed answer is kept longer, for access.upstreamStaleWindow:
// in an upstream outage it lets the clients that were allowed before go on; a client the upstream
// refused or never saw is not let in by an outage.
import { createHmac, randomBytes } from "node:crypto";

export interface UpstreamDecision {
  allowed: boolean;
  /** The upstream's HTTP status (200 when allowed), or 503 when it could not be asked. */
  status: number;
  /** For the audit line: "upstream 200", "upstream 403", "upstream outage (stale allow)". */
  reason: string;
}

interface Entry {
  decision: UpstreamDecision;
  at: number;
}

export class DecisionCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Entry>();
  readonly ttlMs: number;
  readonly staleMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs: number; staleMs: number; maxEntries?: number; now?: () => number }) {
    this.ttlMs = opts.ttlMs;
    this.staleMs = opts.staleMs;
    this.#max = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The key of one client at one registry: its user name and password when it sent them, else its
   * address (anonymous clients are told apart by where they connect from).
   */
  clientKey(registry: string, client: { user: string; password: string } | { address: string }): string {
    const h = createHmac("sha256", this.#key).update(registry).update("\0");
    if ("user" in client) h.update("u\0").update(client.user).update("\0").update(client.password);
    else h.update("a\0").update(client.address);
    return h.digest("base64url");
  }

  /** A decision younger than the TTL. */
  fresh(key: string): UpstreamDecision | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    const age = this.#now() - e.at;
    if (age < this.ttlMs) return e.decision;
    if (age >= this.ttlMs + this.staleMs || !e.decision.allowed) this.#entries.delete(key);
    return undefined;
  }

  /** An allowed decision within TTL + stale window: what an outage may fall back to. */
  staleAllowed(key: string): UpstreamDecision | undefined {
    const e = this.#entries.get(key);
    if (!e?.decision.allowed) return undefined;
    return this.#now() - e.at < this.ttlMs + this.staleMs ? e.decision : undefined;
  }

  put(key: string, decision: UpstreamDecision): void {
    if (this.ttlMs <= 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { decision, at: this.#now() });
  }

  get size(): number {
    return this.#entries.size;
  }
}
