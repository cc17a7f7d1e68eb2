// Issue 5, end to end: builders with a real dockerd change no image name; wharf's DNS responder
// sends the registry names to its TLS gateway, forwards the rest to the "internet's" resolver,
// refuses clients outside dns.allow, and fails open (wharf killed, or its cache unwritable).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dockerd } from "../support/dockerd.ts";
import { readManifestDigests } from "../support/images.ts";
import { dig, type InterceptionWorld, startInterceptionWorld } from "../support/interception-topology.ts";
import { runCommand } from "../support/run-command.ts";

const ALPINE = "alpine:3.20";
const GHCR = "ghcr.io/acme/app:1";
const GITLAB = "registry.gitlab.com/group/project/tools:1";
// only BuildKit pulls these: dockerd's BuildKit uses a local image without resolving it again
const BUILD_FROM = ["registry.gitlab.com/group/project/tools:2", "ghcr.io/acme/app:2"];
const busybox = readManifestDigests("busybox");
const multi = readManifestDigests("multi");

let w: InterceptionWorld;
let b1: Dockerd;
let b2: Dockerd;
let fo: Dockerd;

beforeAll(async () => {
  w = await startInterceptionWorld({
    prefix: "wdi",
    hosts: ["b1", "b2", "fo", "out"],
    dns: true,
    dnsAllow: ["b1", "b2", "fo"],
    images: {
      hub: { "library/alpine:3.20": "busybox", "library/alpine:3.21": "multi" },
      ghcr: { "acme/app:1": "busybox", "acme/app:2": "multi" },
      gitlab: { "group/project/tools:1": "busybox", "group/project/tools:2": "busybox" },
    },
  });
  const viaWharf = { nameservers: [w.ip.gw] };
  b1 = await w.startBuilder("b1", viaWharf);
  b2 = await w.startBuilder("b2", viaWharf);
  // fails open: wharf first, the internet's resolver second; trusts the upstreams too
  fo = await w.startBuilder("fo", { nameservers: [w.ip.gw, w.ip.dns], trustUpstreams: true });
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

const upstreams = () => [w.hub, w.ghcr, w.gitlab];
const marks = () => upstreams().map((u) => u.mark());
/** Requests the upstreams got since `m` from anything but wharf (i.e. builders going direct). */
const direct = (m: number[]) =>
  upstreams().flatMap((u, i) => u.requests(m[i]).filter((r) => !r.ua.startsWith("wharf/")));
const blobGets = (m: number[], digest: string) =>
  upstreams().map((u, i) =>
    u.count((r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`) && r.status !== 401, m[i]),
  );

describe("DNS interception with a real dockerd", () => {
  it("two builders pull Docker Hub, ghcr.io and GitLab images unchanged; each blob leaves upstream once", async () => {
    expect(w.interceptedNames.sort()).toEqual(
      ["docker.io", "ghcr.io", "index.docker.io", "registry-1.docker.io", "registry.gitlab.com"].sort(),
    );
    const m = marks();
    const pulls = [b1, b2].flatMap((b) => [ALPINE, GHCR, GITLAB].map((ref) => b.docker(["pull", "-q", ref])));
    await Promise.all(pulls);
    for (const b of [b1, b2]) {
      const images = await b.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      expect(images.stdout.split("\n").sort()).toEqual(expect.arrayContaining([ALPINE, GHCR, GITLAB]));
    }
    expect(direct(m)).toEqual([]);
    // wharf's store is content-addressed: the first fill serves every registry (all three images
    // share busybox's blobs), so each blob leaves the "internet" once in total
    for (const d of [busybox.config as string, ...busybox.layers]) {
      const perUpstream = blobGets(m, d);
      expect(
        perUpstream.reduce((a, b) => a + b, 0),
        d,
      ).toBe(1);
    }
    // and each tag's manifest once, though both builders asked at the same time
    for (const [i, u] of upstreams().entries())
      expect(u.count((r) => r.path.includes("/manifests/") && r.status !== 401, m[i])).toBe(1);
    const seen = w.wharfRequests().filter((r) => r.kind === "manifest");
    expect(new Set(seen.map((r) => `${r.registry}/${r.repository}`))).toEqual(
      new Set(["docker.io/library/alpine", "ghcr.io/acme/app", "registry.gitlab.com/group/project/tools"]),
    );
    const run = await b1.docker(["run", "--rm", ALPINE, "cat", "/etc/motd"]);
    expect(run.stdout).toBe("wharf test image\n");
  });

  it("a BuildKit build with FROM lines from two registries resolves both through wharf", async () => {
    const ctx = join(b2.dir, "build-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, "Dockerfile"),
      [
        `FROM ${BUILD_FROM[0]} AS tools`,
        `FROM ${BUILD_FROM[1]}`,
        "COPY --from=tools /etc/motd /from-gitlab",
        "",
      ].join("\n"),
    );
    const m = marks();
    const before = w.wharfRequests().length;
    const build = ["build", "--network", "none", "--progress", "plain", "-t", "built:1", ctx];
    await b2.docker(build, { inNetns: true, env: { DOCKER_BUILDKIT: "1" } });
    const run = await b2.docker(["run", "--rm", "built:1", "cat", "/from-gitlab"]);
    expect(run.stdout).toBe("wharf test image\n");
    const resolved = w
      .wharfRequests()
      .slice(before)
      .filter((r) => r.kind === "manifest")
      .map((r) => `${r.registry}/${r.repository}`);
    expect(new Set(resolved)).toEqual(
      new Set(["ghcr.io/acme/app", "registry.gitlab.com/group/project/tools"]),
    );
    expect(direct(m)).toEqual([]);
  });

  it("answers intercepted names itself, forwards the rest, and refuses clients outside dns.allow", async () => {
    const ghcr = await dig(w.topo, "b1", w.ip.gw, "ghcr.io");
    expect(ghcr).toMatchObject({ status: "NOERROR", answers: [w.ip.gw] });
    expect(ghcr.flags).toContain("aa");
    const example = await dig(w.topo, "b1", w.ip.gw, "example.test");
    expect(example).toMatchObject({ status: "NOERROR", answers: [w.ip.example] });
    expect(await w.dnsmasqLog()).toMatch(new RegExp(`query\\[A\\] example\\.test from ${w.ip.gw}\\b`));
    expect(await dig(w.topo, "b1", w.ip.gw, "nothing-here.test")).toMatchObject({ status: "NXDOMAIN" });
    for (const name of ["example.test", "ghcr.io"])
      expect(await dig(w.topo, "out", w.ip.gw, name)).toMatchObject({ status: "REFUSED", answers: [] });
  });

  it("forwards intercepted names while the cache directory is unwritable (dns.failOpen), and recovers", async () => {
    const tmpDir = join(String(w.wharf.config.dataDir), "tmp");
    // As root, chmod 000 changes nothing (CAP_DAC_OVERRIDE) and chattr +i would outlive a crashed
    // test; a read-only bind mount in wharf's own mount namespace gives wharf alone EROFS, and
    // vanishes with it. wharf probes dataDir/tmp every 5 s (gateway/cache/store-health.ts).
    const inWharf = ["nsenter", `--mount=/proc/${w.wharf.pid}/ns/mnt`];
    await runCommand([...inWharf, "mount", "--bind", "-o", "ro", tmpDir, tmpDir]);
    let mounted = true;
    try {
      const started = Date.now();
      const answer = async () => (await dig(w.topo, "b1", w.ip.gw, "ghcr.io")).answers;
      while ((await answer())[0] !== w.ip.ghcr && Date.now() - started < 12_000)
        await new Promise((r) => setTimeout(r, 250));
      expect(await answer()).toEqual([w.ip.ghcr]);
      expect(Date.now() - started).toBeLessThan(10_000);
      await runCommand([...inWharf, "umount", tmpDir]);
      mounted = false;
      const back = Date.now();
      while ((await answer())[0] !== w.ip.gw && Date.now() - back < 12_000)
        await new Promise((r) => setTimeout(r, 250));
      expect(await answer()).toEqual([w.ip.gw]);
    } finally {
      if (mounted) await runCommand([...inWharf, "umount", tmpDir], { allowFailure: true });
    }
  });

  it("a builder listing wharf first and the internet's resolver second keeps pulling after wharf is killed", async () => {
    const m = marks();
    const before = w.wharfRequests().length;
    await fo.docker(["pull", "-q", ALPINE]);
    expect(direct(m)).toEqual([]);
    const served = w.wharfRequests().slice(before);
    expect(served.some((r) => r.repository === "library/alpine" && r.reference === "3.20")).toBe(true);
    w.wharf.kill("SIGKILL");
    await w.wharf.exited;
    const m2 = marks();
    await fo.docker(["pull", "-q", "alpine:3.21"]);
    const hub = w.hub.requests(m2[0]);
    expect(hub.filter((r) => r.path === "/v2/library/alpine/manifests/3.21" && r.status === 200)).not.toEqual(
      [],
    );
    expect(hub.every((r) => r.ua.startsWith("docker/"))).toBe(true);
    const amd64 = multi.manifests.find((x) => x.platform === "linux/amd64");
    expect(hub.some((r) => r.path.endsWith(`/blobs/${amd64?.layers[2]}`) && r.status === 200)).toBe(true);
  });
});
