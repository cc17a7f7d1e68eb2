import { describe, expect, it } from "vitest";
import { resolveMirrorEntries } from "../mirror/mirror-entries.ts";
import { buildConfig } from "./load-config.ts";

const registries = {
  "docker.io": { upstream: "https://registry-1.docker.io" },
  "registry.internal": { hosted: {} },
};

const load = (mirror: unknown, regs: unknown = registries) => buildConfig({ registries: regs, mirror });

describe("mirror config", () => {
  it("accepts the documented list, defaulting the target to the one hosted registry", () => {
    const { config } = load([
      { source: "docker.io/library/alpine", tags: ["3.20", "3.21*"], schedule: "6h" },
    ]);
    const [e] = resolveMirrorEntries(config.mirror, config).entries;
    expect(e).toMatchObject({
      key: "mirror.0",
      source: { registry: "docker.io", repository: "library/alpine" },
      target: { registry: "registry.internal", repository: "library/alpine" },
      platforms: "all",
      keep: 10,
      serveUpstreamName: false,
      schedule: { kind: "every", ms: 21_600_000 },
      historyTag: "{tag}-{time}",
    });
  });

  it("accepts the object form with defaultTarget (a path prefix) and historyTag", () => {
    const { config } = load({
      defaultTarget: "registry.internal/vetted",
      historyTag: "{tag}-backup-{date}",
      entries: [{ source: "python", tags: [">=3.11 <4"], schedule: "0 6 * * *", platforms: ["linux/amd64"] }],
    });
    const [e] = resolveMirrorEntries(config.mirror, config).entries;
    expect(e?.target).toEqual({ registry: "registry.internal", repository: "vetted/library/python" });
    expect(e?.schedule).toEqual({ kind: "cron", text: "0 6 * * *" });
    expect(e?.historyTag).toBe("{tag}-backup-{date}");
  });

  it("names the key of each mistake", () => {
    const bad = (mirror: unknown, regs?: unknown) => {
      try {
        load(mirror, regs);
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(bad([{ source: "ghcr.io/acme/app", tags: ["1"] }])).toMatch(
      /^mirror\.0\.source: ghcr\.io is not a configured proxied registry/,
    );
    expect(
      bad([{ source: "docker.io/library/alpine", tags: ["1"], target: "docker.io/vetted/alpine" }]),
    ).toMatch(/^mirror\.0\.target: docker\.io is not a hosted registry/);
    expect(bad([{ source: "docker.io/library/alpine", tags: ["1"], schedule: "sometimes" }])).toMatch(
      /^mirror\.0\.schedule: expected a duration/,
    );
    expect(bad([{ source: "docker.io/library/alpine", tags: [] }])).toMatch(/^mirror\.0\.tags:/);
    expect(bad({ entries: [{ source: "docker.io/library/alpine", tags: ["1"], keep: -1 }] })).toMatch(
      /^mirror\.entries\.0\.keep:/,
    );
    expect(
      bad([
        { source: "docker.io/library/alpine", tags: ["1"] },
        { source: "docker.io/library/alpine", tags: ["2"] },
      ]),
    ).toMatch(/^mirror\.1\.target: registry\.internal\/library\/alpine is already the target of mirror\.0/);
    expect(
      bad([{ source: "docker.io/library/alpine", tags: ["1"] }], {
        ...registries,
        "other.internal": { hosted: {} },
      }),
    ).toMatch(/^mirror\.0\.target: give a target/);
  });
});
