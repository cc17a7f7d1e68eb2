// Properties of request routing: Host / TLS server name, containerd's ?ns=, and /v2/<registry>/
// prefixes. Any input routes or fails with a 4xx; every spelling of a configured host routes to it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientErrorOnly, fuzzRuns } from "../../test/fuzz/fuzz-budget.ts";
import { hostileText, repositoryName } from "../../test/fuzz/oci-grammar.ts";
import { buildConfig } from "../config/load-config.ts";
import { RegistryRouter } from "./registry-router.ts";

const numRuns = fuzzRuns(500);
const { config } = buildConfig({
  registries: {
    "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
    "ghcr.io": { upstream: "https://ghcr.io" },
    "registry.gitlab.com": { upstream: "https://registry.gitlab.com", aliases: ["gitlab.test:5050"] },
  },
});
const router = new RegistryRouter(config);
const hosts = [...router.hostGroups()].flatMap(([registry, names]) =>
  names.map((h) => ({ registry, host: h })),
);
const configured = fc.constantFrom(...hosts);

// How clients spell a host: any case, the absolute form's trailing dot, an explicit port.
function spell(host: string, upper: boolean[], dot: boolean, port: number | null): string {
  const [name = "", own] = host.split(":");
  const cased = [...name].map((c, i) => (upper[i % upper.length] ? c.toUpperCase() : c)).join("");
  const p = own ?? (port === null ? undefined : String(port));
  return `${cased}${dot ? "." : ""}${p === undefined ? "" : `:${p}`}`;
}
const spelling = fc.tuple(
  configured,
  fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
  fc.boolean(),
  fc.option(fc.integer({ min: 1, max: 65535 })),
);

describe("RegistryRouter properties", () => {
  it("routes any request or refuses it with a 4xx WharfError", () => {
    const field = fc.option(
      fc.oneof(
        hostileText,
        configured.map((c) => c.host),
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(hostileText, field, field, field, (name, servername, host, ns) => {
        clientErrorOnly(() => router.route({ name, servername, host, ns }));
      }),
      { numRuns },
    );
  });

  it("routes every spelling of a configured host (Host, TLS server name, ?ns=) to its registry", () => {
    fc.assert(
      fc.property(spelling, repositoryName, ([c, upper, dot, port], repo) => {
        const spelled = spell(c.host, upper, dot, port);
        expect(router.registryForHost(spelled)).toBe(c.registry);
        for (const opts of [{ host: spelled }, { servername: spelled }, { ns: spelled }]) {
          const routed = router.route({ name: repo, ...opts });
          expect(routed.registry).toBe(c.registry);
          expect(routed.repository.endsWith(repo)).toBe(true);
        }
      }),
      { numRuns },
    );
  });

  it("routes /v2/<registry>/<repo> prefixes and keeps the repository", () => {
    fc.assert(
      fc.property(configured, repositoryName, (c, repo) => {
        if (!c.host.includes(".")) return;
        const routed = router.route({ name: `${c.host}/${repo}` });
        expect(routed).toMatchObject({ registry: c.registry, via: "prefix" });
        expect(routed.repository.endsWith(repo)).toBe(true);
      }),
      { numRuns },
    );
  });
});
