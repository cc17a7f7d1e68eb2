// How long a tag stays fresh: per-registry tagTtl, overridden by the first repository rule whose
// glob matches. 0 = revalidate every time, Infinity ("never") = pinned until evicted.
import picomatch from "picomatch";
import type { RegistryConfig } from "../config/schema.ts";

export class TagPolicy {
  readonly #rules: { test: (repo: string) => boolean; ttl: number }[];
  readonly #default: number;

  constructor(reg: Pick<RegistryConfig, "tagTtl" | "repositories">) {
    this.#default = reg.tagTtl;
    this.#rules = reg.repositories
      .filter((r) => r.tagTtl !== undefined)
      .map((r) => ({ test: picomatch(r.match), ttl: r.tagTtl as number }));
  }

  ttlFor(repository: string): number {
    return this.#rules.find((r) => r.test(repository))?.ttl ?? this.#default;
  }

  isFresh(repository: string, checkedAt: number, now: number): boolean {
    const ttl = this.ttlFor(repository);
    return ttl === Number.POSITIVE_INFINITY || now - checkedAt < ttl;
  }
}
