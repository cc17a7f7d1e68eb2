// Issue 6: the network-alias deployment (compose/network-alias) reproduced with namespaces. In
// compose the wharf container joins the builders' network with the registry names as aliases, so
// Docker's embedded DNS answers them with wharf's address and forwards every other name to the
// host's resolvers. Here the builder's /etc/hosts plays the alias table and dnsmasq the host's
// resolvers. When the wharf container stops, the aliases go with it: the same names then resolve
// to the real registries, and builders pull from them directly with unchanged image names.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dockerd } from "../support/dockerd.ts";
import { readManifestDigests } from "../support/images.ts";
import {
  type InterceptionWorld,
  rewriteBuilderEtc,
  startInterceptionWorld,
} from "../support/interception-topology.ts";
import { hostsFileText } from "../support/sandbox.ts";

const THROUGH_WHARF = ["alpine:3.20", "ghcr.io/acme/app:1", "registry.gitlab.com/group/project/tools:1"];
const DIRECT = ["alpine:3.21", "ghcr.io/acme/app:2"];
const multi = readManifestDigests("multi");

let w: InterceptionWorld;
let bld: Dockerd;

beforeAll(async () => {
  w = await startInterceptionWorld({
    prefix: "wna",
    hosts: ["bld"],
    dns: false, // network-alias mode: Docker's embedded DNS does the interception
    images: {
      hub: { "library/alpine:3.20": "busybox", "library/alpine:3.21": "multi" },
      ghcr: { "acme/app:1": "busybox", "acme/app:2": "multi" },
      gitlab: { "group/project/tools:1": "busybox" },
    },
  });
  // The builder trusts wharf's CA (certs.d + system store, as the dind entrypoint installs it) and,
  // standing in for the public roots, the upstreams' CA.
  bld = await w.startBuilder("bld", {
    nameservers: [w.ip.dns],
    hosts: Object.fromEntries(w.interceptedNames.map((n) => [n, w.ip.gw])),
    trustUpstreams: true,
  });
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

const upstreams = () => [w.hub, w.ghcr, w.gitlab];
const marks = () => upstreams().map((u) => u.mark());
const since = (m: number[]) => upstreams().flatMap((u, i) => u.requests(m[i]));

describe("network-alias mode with a real dockerd", () => {
  it("while wharf holds the aliases, pulls go through it with image names unchanged", async () => {
    const m = marks();
    for (const ref of THROUGH_WHARF) await bld.docker(["pull", "-q", ref]);
    const seen = since(m);
    expect(seen.filter((r) => r.path.includes("/manifests/") && r.status === 200)).toHaveLength(3);
    expect(seen.filter((r) => !r.ua.startsWith("wharf/"))).toEqual([]);
    const byTag = w
      .wharfRequests()
      .filter((r) => r.kind === "manifest" && r.status === 200 && !r.reference?.startsWith("sha256:"));
    expect(new Set(byTag.map((r) => `${r.registry}/${r.repository}:${r.reference}`))).toEqual(
      new Set([
        "docker.io/library/alpine:3.20",
        "ghcr.io/acme/app:1",
        "registry.gitlab.com/group/project/tools:1",
      ]),
    );
    const run = await bld.docker(["run", "--rm", "alpine:3.20", "cat", "/etc/motd"]);
    expect(run.stdout).toBe("wharf test image\n");
  });

  it("once wharf and its aliases are gone, the same names pull straight from the upstreams", async () => {
    await w.wharf.stop();
    const before = w.wharfRequests().length;
    // The embedded DNS no longer knows the aliases: the names go to the upstream resolver.
    await rewriteBuilderEtc(bld, "hosts", hostsFileText());
    // dockerd's Go resolver re-reads /etc/hosts at most every 5 s (net/hosts.go, cacheMaxAge);
    // the embedded DNS it stands for has no such delay
    await new Promise((r) => setTimeout(r, 5_500));
    const m = marks();
    for (const ref of DIRECT) await bld.docker(["pull", "-q", ref]);
    const [hub, ghcr] = [w.hub.requests(m[0]), w.ghcr.requests(m[1])];
    expect(hub.filter((r) => r.path === "/v2/library/alpine/manifests/3.21" && r.status === 200)).not.toEqual(
      [],
    );
    expect(ghcr.filter((r) => r.path === "/v2/acme/app/manifests/2" && r.status === 200)).not.toEqual([]);
    expect(since(m).every((r) => r.ua.startsWith("docker/"))).toBe(true);
    const amd64 = multi.manifests.find((x) => x.platform === "linux/amd64");
    expect(hub.some((r) => r.path.endsWith(`/blobs/${amd64?.layers[2]}`) && r.status === 200)).toBe(true);
    expect(w.wharfRequests().length).toBe(before);
    const images = await bld.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(images.stdout.split("\n")).toEqual(expect.arrayContaining([...THROUGH_WHARF, ...DIRECT]));
  });
});
