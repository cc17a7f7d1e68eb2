// `access.rules`: an ordered list, first match wins, no match denies. A rule matches a request when
// its `registry` and `repository` globs match and its conditions on the client hold:
// - `users` / `groups` / `anonymous`: alternatives — the client is one of the users, a member of one
//   of the groups, or (anonymous: true) sent no credentials. A rule naming none of them is about
//   every client, with or without credentials.
// - `networks`: the address of the client's connection is in one of the blocks. Combined with the
//   above by AND: `users: [ci-bot], networks: [10.0.0.0/8]` is ci-bot from 10/8 only.
// The matching rule's `allow` is what the client gets; `allow: []` is an explicit denial.
import type { Action } from "./authenticator.ts";
import { addressBytes, type Cidr, inCidr, parseCidr } from "./cidr.ts";

export interface RuleConfig {
  registry: string;
  repository: string;
  allow: Action[];
  users?: string[] | undefined;
  groups?: string[] | undefined;
  anonymous?: boolean | undefined;
  networks?: string[] | undefined;
}

/** Who asks, as rules see it: a named client (user or robot token) or anonymous. */
export interface RuleSubject {
  /** undefined: no credentials. */
  name: string | undefined;
  /** The groups `name` is in (access.groups). */
  groups: ReadonlySet<string>;
  /** The connection's source address; undefined when unknown (never matches a network rule). */
  address: string | undefined;
}

export interface RuleMatch {
  /** 1-based position in access.rules, as operators count them in the log. */
  rule: number;
  allow: readonly Action[];
}

interface CompiledRule {
  registry: RegExp;
  repository: RegExp;
  allow: readonly Action[];
  users: ReadonlySet<string> | undefined;
  groups: readonly string[] | undefined;
  anonymous: boolean;
  networks: Cidr[] | undefined;
}

/**
 * A glob over names: `*` is any run of characters within one path segment, `**` any run across
 * segments (so `acme/*` is acme's repositories one level down and `acme/**` everything below acme).
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Parsed source addresses: a connection's address repeats for every request it carries. */
const MAX_ADDRESSES = 4096;

export class AccessRules {
  readonly #rules: CompiledRule[];
  readonly #addresses = new Map<string, Uint8Array | undefined>();

  constructor(rules: readonly RuleConfig[]) {
    this.#rules = rules.map((r) => ({
      // "*" for a registry means every registry (registry names hold dots, never slashes)
      registry: globToRegExp(r.registry),
      repository: r.repository === "*" ? /^.*$/ : globToRegExp(r.repository),
      allow: [...r.allow],
      users: r.users && new Set(r.users),
      groups: r.groups,
      anonymous: r.anonymous === true,
      networks: r.networks?.map((n) => parseCidr(n)).filter((c): c is Cidr => c !== undefined),
    }));
  }

  get size(): number {
    return this.#rules.length;
  }

  /** The first rule matching the request, or undefined (denied). */
  match(registry: string, repository: string, who: RuleSubject): RuleMatch | undefined {
    let address: Uint8Array | undefined | null = null;
    for (let i = 0; i < this.#rules.length; i++) {
      const r = this.#rules[i] as CompiledRule;
      if (!r.registry.test(registry) || !r.repository.test(repository)) continue;
      if (!identityHolds(r, who)) continue;
      if (r.networks) {
        if (address === null) address = who.address === undefined ? undefined : this.#bytes(who.address);
        const a = address;
        if (!a || !r.networks.some((n) => inCidr(a, n))) continue;
      }
      return { rule: i + 1, allow: r.allow };
    }
    return undefined;
  }

  #bytes(address: string): Uint8Array | undefined {
    if (this.#addresses.has(address)) return this.#addresses.get(address);
    if (this.#addresses.size >= MAX_ADDRESSES) this.#addresses.clear();
    const bytes = addressBytes(address);
    this.#addresses.set(address, bytes);
    return bytes;
  }
}

function identityHolds(r: CompiledRule, who: RuleSubject): boolean {
  const named = r.users !== undefined || r.groups !== undefined;
  if (!named && !r.anonymous) return true;
  if (who.name === undefined) return r.anonymous;
  if (r.users?.has(who.name)) return true;
  return r.groups?.some((g) => who.groups.has(g)) ?? false;
}

/** Group membership from `access.groups` ({ci: [alice, bob]}): user -> groups. */
export function groupsByUser(groups: Readonly<Record<string, readonly string[]>>): Map<string, Set<string>> {
  const byUser = new Map<string, Set<string>>();
  for (const [group, members] of Object.entries(groups))
    for (const m of members) byUser.set(m, (byUser.get(m) ?? new Set()).add(group));
  return byUser;
}
