// Issue 15 with a real dockerd: a builder that keeps pulling the unchanged name `alpine:3.20`
// through wharf's DNS interception follows the mirror (serveUpstreamName), including a rollback
// made with the CLI beside the running server; a BuildKit `FROM alpine:3.20` uses it too.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dockerd } from "../support/dockerd.ts";
import { readManifestDigests } from "../support/images.ts";
import { type InterceptionWorld, startInterceptionWorld } from "../support/interception-topology.ts";
import { pushLayout } from "../support/skopeo.ts";
import { REPO_ROOT } from "../support/wharf-process.ts";

const TARGET = "registry.internal/library/alpine";
const busybox = readManifestDigests("busybox");
const multi = readManifestDigests("multi");

let w: InterceptionWorld;
let b1: Dockerd;
let b2: Dockerd;

/** `wharf mirror …` inside wharf's namespace (it reaches the upstream as the server does). */
async function mirror(...args: string[]) {
  const node = join(REPO_ROOT, "node_modules", ".bin", "node");
  const cli = [node, join(REPO_ROOT, "bin", "wharf.mjs"), "mirror", ...args];
  return w.topo.run("gw", [...cli, "--config", join(w.wharf.dir, "wharf.yml")], {
    resolv: w.ip.dns,
    cwd: REPO_ROOT,
  });
}

async function pulledDigest(b: Dockerd): Promise<string> {
  await b.docker(["pull", "-q", "alpine:3.20"]);
  const r = await b.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", "alpine:3.20"]);
  const digests = JSON.parse(r.stdout) as string[];
  return (digests.find((d) => d.includes("alpine@")) ?? "").split("@")[1] ?? "";
}

/** Pulls until the digest is `want` (the server notices the CLI's change within a second). */
async function pullUntil(b: Dockerd, want: string): Promise<string> {
  let got = "";
  for (let i = 0; i < 10 && got !== want; i++) {
    got = await pulledDigest(b);
    if (got !== want) await new Promise((r) => setTimeout(r, 500));
  }
  return got;
}

beforeAll(async () => {
  w = await startInterceptionWorld({
    prefix: "wmd",
    hosts: ["b1", "b2"],
    dns: true,
    dnsAllow: ["b1", "b2"],
    images: { hub: { "library/alpine:3.20": "busybox" }, ghcr: {}, gitlab: {} },
    extraRegistries: { "registry.internal": { hosted: {} } },
    extraConfig: {
      mirror: [
        { source: "docker.io/library/alpine", tags: ["3.20"], target: TARGET, serveUpstreamName: true },
      ],
    },
  });
  const viaWharf = { nameservers: [w.ip.gw] };
  b1 = await w.startBuilder("b1", viaWharf);
  b2 = await w.startBuilder("b2", viaWharf);
}, 120_000);

afterAll(async () => {
  await w?.stop();
});

describe("mirror with a real dockerd pulling the upstream name", () => {
  it("docker pull and BuildKit FROM alpine:3.20 get the mirror's digest, rolled back by the CLI", async () => {
    await mirror("sync");
    // an upstream release: alpine:3.20 becomes the multi-platform image
    await pushLayout("multi", "registry-1.docker.io/library/alpine:3.20", {
      certDir: w.ca.certDir,
      netns: w.topo.inet.ns,
      nameserver: w.ip.dns,
    });
    const synced = await mirror("sync", "--json");
    expect(JSON.parse(synced.stdout).tags[0]).toMatchObject({
      previous: busybox.manifest,
      current: multi.manifest,
    });
    expect(await pullUntil(b1, multi.manifest)).toBe(multi.manifest);
    expect((await b1.docker(["run", "--rm", "alpine:3.20", "cat", "/platform"])).stdout).toContain(
      "linux/amd64",
    );

    await mirror("rollback", `${TARGET}:3.20`);
    // upstream still has the new image: the pull gets the rolled-back one
    const got = await pullUntil(b1, busybox.manifest);
    expect(got).toBe(busybox.manifest);

    const ctx = join(b2.dir, "mirror-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "Dockerfile"), "FROM alpine:3.20\nCOPY Dockerfile /built-from\n");
    await b2.docker(["build", "--network", "none", "--progress", "plain", "-t", "built:1", ctx], {
      inNetns: true,
      env: { DOCKER_BUILDKIT: "1" },
    });
    const run = await b2.docker([
      "run",
      "--rm",
      "built:1",
      "sh",
      "-c",
      "cat /etc/motd; ls /platform || true",
    ]);
    expect(run.stdout).toContain("wharf test image");
    expect(run.stdout).not.toContain("/platform\n");
    expect(run.stderr + run.stdout).toMatch(/No such file|can't access|not found/);
  });
});
