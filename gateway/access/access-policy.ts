// What a local identity (htpasswd user, robot token, anonymous) may do on a repository: the
// access rules when configured, else the built-in default; a robot token never more than its
// scopes. Registries with `access: upstream` are decided at the upstream (upstream-access.ts) for
// clients that rules do not name.
import type { Config } from "../config/schema.ts";
import { AccessRules, globToRegExp, groupsByUser } from "./access-rules.ts";
import type { Action, Identity } from "./authenticator.ts";
import type { RobotScope } from "./robot-tokens.ts";

export interface PolicyAnswer {
  actions: Action[];
  /** For the audit line: "rule 2", "no rule", "default", "token scope". */
  by: string;
}

type AccessConfig = NonNullable<Config["access"]>;
type RegistriesConfig = Config["registries"];

export class AccessPolicy {
  readonly rules: AccessRules | undefined;
  readonly #groups: Map<string, Set<string>>;
  readonly #registries: RegistriesConfig;
  readonly #scopeRes = new WeakMap<RobotScope, { registry: RegExp; repository: RegExp }>();
  static readonly #NO_GROUPS: ReadonlySet<string> = new Set();

  constructor(access: Pick<AccessConfig, "rules" | "groups">, registries: RegistriesConfig) {
    this.rules = access.rules ? new AccessRules(access.rules) : undefined;
    this.#groups = groupsByUser(access.groups);
    this.#registries = registries;
  }

  /** True for a proxied registry whose pulls the upstream decides. */
  upstreamDecides(registry: string): boolean {
    return this.#registries[registry]?.access === "upstream";
  }

  /** Whether rules name this client for this repository (an `access: upstream` registry asks that first). */
  ruleMatches(
    identity: Identity,
    address: string | undefined,
    registry: string,
    repository: string,
  ): boolean {
    return this.rules?.match(registry, repository, this.#subject(identity, address)) !== undefined;
  }

  /** The actions of `requested` that `identity` gets on registry/repository. */
  decide(
    identity: Identity,
    address: string | undefined,
    registry: string,
    repository: string,
    requested: readonly Action[],
    robotScopes?: readonly RobotScope[],
  ): PolicyAnswer {
    let allowed: readonly Action[];
    let by: string;
    if (this.rules) {
      const m = this.rules.match(registry, repository, this.#subject(identity, address));
      allowed = m?.allow ?? [];
      by = m ? `rule ${m.rule}` : "no rule";
    } else {
      allowed = this.#defaultActions(identity, registry);
      by = "default";
    }
    let actions = requested.filter((a) => allowed.includes(a));
    if (robotScopes) {
      const ceiling = this.#robotActions(robotScopes, registry, repository);
      const before = actions.length;
      actions = actions.filter((a) => ceiling.has(a));
      if (actions.length < before) by = `${by}, token scope`;
    }
    return { actions, by };
  }

  #subject(identity: Identity, address: string | undefined) {
    const name = identity.kind === "user" || identity.kind === "robot" ? identity.name : undefined;
    return {
      name,
      groups: (name !== undefined && this.#groups.get(name)) || AccessPolicy.#NO_GROUPS,
      address,
    };
  }

  /**
   * Without rules, today's behaviour: users may do everything, anonymous clients pull every proxied
   * registry and the hosted ones with `hosted.anonymousPull`; nobody else gets anything from an
   * `access: upstream` registry but what its upstream allows.
   */
  #defaultActions(identity: Identity, registry: string): readonly Action[] {
    const r = this.#registries[registry];
    // a name in no configured registry (only without the gateway's router): users all, anonymous pull
    if (!r)
      return identity.kind === "user" || identity.kind === "robot" ? ["pull", "push", "delete"] : ["pull"];
    if (r.access === "upstream") return [];
    if (identity.kind === "user" || identity.kind === "robot") return ["pull", "push", "delete"];
    if (identity.kind === "anonymous" && (r.hosted === undefined || r.hosted.anonymousPull)) return ["pull"];
    return [];
  }

  #robotActions(scopes: readonly RobotScope[], registry: string, repository: string): Set<Action> {
    const out = new Set<Action>();
    for (const s of scopes) {
      let re = this.#scopeRes.get(s);
      if (!re) {
        re = { registry: globToRegExp(s.registry), repository: globToRegExp(s.repository) };
        this.#scopeRes.set(s, re);
      }
      if (re.registry.test(registry) && re.repository.test(repository)) for (const a of s.actions) out.add(a);
    }
    return out;
  }
}
