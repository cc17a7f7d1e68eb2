// The world the shipped deployments (Dockerfile, compose/) run in during tests: a Docker host
// namespace ("host") with a dockerd that gives containers networks (bridge + NAT, so compose and
// swarm work), and an "internet" namespace with the upstreams under their real names (TLS from a
// test CA, no auth) and dnsmasq as the only resolver. The host has no default route: a container
// reaches the upstreams and dnsmasq and nothing else. The wharf image is built from the repository's
// Dockerfile with `--network none` on the locally made Node 24 base (base-images.ts).
import { join } from "node:path";
import { ensureBaseImages } from "./base-images.ts";
import { type Dnsmasq, startDnsmasq } from "./dnsmasq.ts";
import { type Dockerd, startDockerd } from "./dockerd.ts";
import { createTopology, type Topology } from "./netns.ts";
import { pushLayout } from "./skopeo.ts";
import { makeTempDir } from "./temp-dir.ts";
import { makeTestCa, type TestCa } from "./test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "./upstream-registry.ts";
import { REPO_ROOT } from "./wharf-process.ts";

export const WHARF_IMAGE = "wharf:test";
export const NODE_IMAGE = "local/node:24-npmcache";
export const DIND_IMAGE = "local/dind:test";

/** Upstream reference (without registry) -> tag of the test layout (images.sh). */
export const DEPLOY_IMAGES = {
  hub: { "library/alpine:3.20": "busybox" },
  ghcr: { "acme/app:1": "busybox" },
  gitlab: { "group/project/tools:1": "busybox" },
};

export interface DeployWorld {
  topo: Topology;
  ip: { dns: string; hub: string; ghcr: string; gitlab: string; host: string };
  ca: TestCa;
  hub: UpstreamRegistry;
  ghcr: UpstreamRegistry;
  gitlab: UpstreamRegistry;
  dnsmasq: Dnsmasq;
  /** dockerd of the Docker host namespace; the CLI runs outside it (it only needs the socket). */
  docker: Dockerd;
  dir: string;
  /** Upstream request counts now, to pass to `since`. */
  marks(): number[];
  since(marks: number[]): ReturnType<UpstreamRegistry["requests"]>;
  stop(): Promise<void>;
}

export async function startDeployWorld(prefix: string): Promise<DeployWorld> {
  const tmp = await makeTempDir("wharf-deploy-");
  const stops: (() => Promise<unknown>)[] = [() => tmp.remove()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    stops.length = 0;
  };
  try {
    const base = await ensureBaseImages(); // before the namespaces: the first run builds for minutes
    const topo = await createTopology(prefix, { hosts: ["host"], inetAddresses: 4 });
    stops.push(() => topo.destroy());
    const [dns, hub, ghcr, gitlab] = topo.inet.ips as [string, string, string, string];
    const ip = { dns, hub, ghcr, gitlab, host: topo.hosts.host?.ip as string };
    const names = { "registry-1.docker.io": hub, "ghcr.io": ghcr, "registry.gitlab.com": gitlab };
    const ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: Object.keys(names), ips: [] });
    const dnsmasq = await startDnsmasq(topo, "inet", { listen: dns, addresses: names });
    stops.push(() => dnsmasq.stop());
    const up = (host: string) =>
      startUpstreamRegistry({ host, cert: ca.cert, key: ca.key, netns: topo.inet.ns });
    const registries = { hub: await up(hub), ghcr: await up(ghcr), gitlab: await up(gitlab) };
    for (const r of Object.values(registries)) stops.push(() => r.stop());
    const access = { certDir: ca.certDir, netns: topo.inet.ns, nameserver: dns };
    const hosts = { hub: "registry-1.docker.io", ghcr: "ghcr.io", gitlab: "registry.gitlab.com" };
    for (const [key, refs] of Object.entries(DEPLOY_IMAGES) as [keyof typeof hosts, Record<string, string>][])
      for (const [ref, tag] of Object.entries(refs)) await pushLayout(tag, `${hosts[key]}/${ref}`, access);

    const docker = await startDockerd(topo, "host", {
      dnsIp: dns,
      caFile: ca.caCert,
      containerNetworks: true,
      // away from the topology's 10.x/24, swarm's 10.0.0.0/8 pools and dns-mode's 172.30.53.0/24
      daemonJson: {
        bip: "172.29.0.1/24",
        "default-address-pools": [{ base: "172.29.64.0/18", size: 24 }],
      },
    });
    stops.push(() => docker.stop());
    const long = { timeoutMs: 300_000 };
    for (const [img, name] of [
      [base.node, NODE_IMAGE],
      [base.dind, DIND_IMAGE],
    ] as const) {
      const changes = img.changes.flatMap((c) => ["--change", c]);
      await docker.docker(["import", ...changes, img.tar, name], long);
    }
    await buildWharfImage(docker);

    const upstreams = () => Object.values(registries);
    return {
      topo,
      ip,
      ca,
      ...registries,
      dnsmasq,
      docker,
      dir: tmp.path,
      marks: () => upstreams().map((u) => u.mark()),
      since: (m) => upstreams().flatMap((u, i) => u.requests(m[i])),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * `docker build` of the repository's Dockerfile as the README shows it, plus what this machine
 * needs: NODE_IMAGE (the local base with its npm cache) and no network at all. BuildKit (the
 * Dockerfile has no `# syntax=` line, so no frontend image is fetched).
 */
export async function buildWharfImage(d: Dockerd, tag = WHARF_IMAGE): Promise<void> {
  await d.docker(
    ["build", "--network", "none", "--build-arg", `NODE_IMAGE=${NODE_IMAGE}`, "-t", tag, REPO_ROOT],
    { env: { DOCKER_BUILDKIT: "1" }, inNetns: true, timeoutMs: 300_000 },
  );
}
