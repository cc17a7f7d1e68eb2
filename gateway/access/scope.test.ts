// Token scopes as docker, skopeo and containerd send them (distribution docs "spec/auth/scope.md").
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Action } from "./authenticator.ts";
import { formatScope, parseScope, parseScopes } from "./scope.ts";

describe("scopes", () => {
  it("reads names with a port, plugin classes, and drops unknown types and actions", () => {
    expect(parseScope("repository:localhost:5000/team/app:pull,push")).toEqual({
      repository: "localhost:5000/team/app",
      actions: ["pull", "push"],
    });
    expect(parseScope("repository(plugin):vieux/sshfs:pull")).toEqual({
      repository: "vieux/sshfs",
      actions: ["pull"],
    });
    expect(parseScope("repository:team/app:*")).toEqual({ repository: "team/app", actions: [] });
    expect(parseScope("registry:catalog:*")).toBeUndefined();
    expect(parseScope("repository::pull")).toBeUndefined();
    expect(parseScope("repository:team/app")).toBeUndefined();
  });

  it("merges repeated and space-separated scopes per repository", () => {
    expect(
      parseScopes([
        "repository:a:pull repository:b:pull",
        "repository:a:push",
        "repository:a:delete,pull",
        "",
      ]),
    ).toEqual([
      { repository: "a", actions: ["pull", "push", "delete"] },
      { repository: "b", actions: ["pull"] },
    ]);
  });

  it("reads back what it writes", () => {
    const name = fc.stringMatching(/^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]{1,5}\/[a-z0-9]+)?$/);
    const actions = fc.subarray<Action>(["pull", "push", "delete"], { minLength: 1 });
    fc.assert(
      fc.property(name, actions, (repository, acts) => {
        expect(parseScope(formatScope({ repository, actions: acts }))).toEqual({ repository, actions: acts });
      }),
    );
  });
});
