// Token scopes as clients write them (distribution docs "spec/auth/scope.md"):
// `repository:<name>:<action>[,<action>…]`, e.g. `repository:team/app:pull,push`. The name may hold
// a port (`repository:localhost:5000/app:pull`), so the actions are what follows the last colon.
import type { Action, Scope } from "./authenticator.ts";

const ACTIONS: readonly Action[] = ["pull", "push", "delete"];

/** One scope; undefined for other resource types (`registry:catalog:*`) and malformed text. */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first < 0 || last <= first + 1) return undefined;
  // `repository(plugin)` is Docker's resource class for plugins: the same repository for wharf.
  if (!/^repository(\([a-z0-9]+\))?$/.test(text.slice(0, first))) return undefined;
  const repository = text.slice(first + 1, last);
  if (/\s/.test(repository)) return undefined;
  const requested = text.slice(last + 1).split(",");
  // `*` (all actions) is what an admin scope asks for; wharf grants the actions it knows by name.
  return { repository, actions: ACTIONS.filter((a) => requested.includes(a)) };
}

/**
 * The scopes of a token request: each `scope` parameter (GET repeats it; containerd's OAuth POST
 * puts several in one, space-separated). Scopes for the same repository are merged.
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const byName = new Map<string, Set<Action>>();
  for (const value of values) {
    for (const text of value.split(" ")) {
      const scope = text ? parseScope(text) : undefined;
      if (!scope) continue;
      const actions = byName.get(scope.repository) ?? new Set<Action>();
      for (const a of scope.actions) actions.add(a);
      byName.set(scope.repository, actions);
    }
  }
  return [...byName].map(([repository, actions]) => ({
    repository,
    actions: ACTIONS.filter((a) => actions.has(a)),
  }));
}

export function formatScope(scope: Scope): string {
  return `repository:${scope.repository}:${scope.actions.join(",")}`;
}
