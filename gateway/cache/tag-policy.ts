// How long a tag stays fresh: per-registry tagTtl, overridden by the first repository rule whose
// glob matches. 0 = revalidate every time, Infinity ("never") = pinned until evicted.
import picomatch from "picomatch";
import type { RegistryConfig } from "../config/schema.ts";

/** Repositories whose ttl is remembered; past that the memo starts over. */
const MAX_REMEMBERED = 10_000;

export class TagPolicy {
  readonly #rules: { test: (repo: string) => boolean; ttl: number }[];
  readonly #default: number;
  /** Every pull of a tag asks; the globs ran per request (about 1 % of a cached manifest hit's bytes). */
  readonly #ttls = new Map<string, number>();

  constructor(reg: Pick<RegistryConfig, "tagTtl" | "repositories">) {
    this.#default = reg.tagTtl;
    this.#rules = reg.repositories
      .filter((r) => r.tagTtl !== undefined)
      .map((r) => ({ test: picomatch(r.match), ttl: r.tagTtl as number }));
  }

  ttlFor(repository: string): number {
    let ttl = this.#ttls.get(repository);
    if (ttl === undefined) {
      ttl = this.#rules.find((r) => r.test(repository))?.ttl ?? this.#default;
      if (this.#ttls.size >= MAX_REMEMBERED) this.#ttls.clear();
      this.#ttls.set(repository, ttl);
    }
    return ttl;
  }

  isFresh(repository: string, checkedAt: number, now: number): boolean {
    const ttl = this.ttlFor(repository);
    return ttl === Number.POSITIVE_INFINITY || now - checkedAt < ttl;
  }
}
