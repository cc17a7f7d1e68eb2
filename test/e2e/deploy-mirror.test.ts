// Issue 17: the Docker Hub mirror mode, how most sites start: dockerd's daemon.json lists wharf under
// "registry-mirrors", exactly as `wharf client-config daemon-json` prints it. Pulls of Docker Hub
// images go through wharf; with wharf stopped, dockerd falls back to (the local stand-in for)
// Docker Hub and the pull still succeeds (notes: clients.md). Namespaces: "inet" holds Docker Hub
// (registry-1.docker.io) and the DNS, "gw" wharf (known to builders as wharf.test), "bld" dockerd.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dnsmasq, startDnsmasq } from "../support/dnsmasq.ts";
import { type Dockerd, startDockerd } from "../support/dockerd.ts";
import { createTopology, type Topology } from "../support/netns.ts";
import { runCommand } from "../support/run-command.ts";
import { pushLayout } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const NODE = join(REPO_ROOT, "node_modules", ".bin", "node");
const WHARF_NAME = "wharf.test";

let tmp: TempDir;
let topo: Topology;
let ca: TestCa;
let dns: Dnsmasq;
let hub: UpstreamRegistry;
let wharf: WharfProcess;
let wharfCa: string;
let dockerd: Dockerd | undefined;

const wharfCli = (...args: string[]) =>
  runCommand([NODE, join(REPO_ROOT, "bin", "wharf.mjs"), ...args, "--config", join(wharf.dir, "wharf.yml")]);

beforeAll(async () => {
  tmp = await makeTempDir("wharf-mirror-");
  topo = await createTopology("wmm", { hosts: ["gw", "bld"], inetAddresses: 2 });
  const [dnsIp, hubIp] = topo.inet.ips as [string, string];
  const gw = topo.hosts.gw?.ip as string;
  ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: ["registry-1.docker.io"], ips: [] });
  dns = await startDnsmasq(topo, "inet", {
    listen: dnsIp,
    addresses: { "registry-1.docker.io": hubIp, [WHARF_NAME]: gw },
  });
  hub = await startUpstreamRegistry({ host: hubIp, cert: ca.cert, key: ca.key, netns: topo.inet.ns });
  await pushLayout("busybox", "registry-1.docker.io/library/alpine:3.20", {
    certDir: ca.certDir,
    netns: topo.inet.ns,
    nameserver: dnsIp,
  });
  wharf = await startWharf({
    netns: topo.hosts.gw?.ns,
    nameserver: dnsIp,
    config: {
      listen: { http: `${gw}:5000`, https: `${gw}:443` },
      upstreamDns: `${dnsIp}:53`,
      upstreamCaFile: ca.caCert,
      // docs/config.md: wharf's own name (and address) for the HTTPS mirror endpoint. Several
      // registries: this combination used to stop wharf from starting.
      tls: { extraNames: [WHARF_NAME, gw] },
      registries: {
        "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
        "ghcr.io": { upstream: "https://ghcr.io" },
        "registry.gitlab.com": { upstream: "https://registry.gitlab.com" },
      },
    },
  });
  const client = join(tmp.path, "client");
  await wharfCli("client-config", "docker", "--out", client);
  wharfCa = join(client, "ca.crt");
}, 120_000);

afterAll(async () => {
  await dockerd?.stop();
  await wharf?.stop();
  await hub?.stop();
  await dns?.stop();
  await topo?.destroy();
  await tmp?.remove();
});

/** A fresh dockerd in "bld" whose daemon.json is what `wharf client-config daemon-json` printed. */
async function dockerdWithMirror(args: string[]): Promise<{ daemonJson: Record<string, unknown> }> {
  await dockerd?.stop();
  const printed = await wharfCli("client-config", "daemon-json", "--address", WHARF_NAME, ...args);
  const daemonJson = JSON.parse(printed.stdout) as Record<string, unknown>;
  // certs.d/<mirror host>/ca.crt: wharf's CA; the system roots hold only Docker Hub's (test) CA
  const certsD = join(tmp.path, `certs.d-${args.length}`);
  await mkdir(join(certsD, WHARF_NAME), { recursive: true });
  await writeFile(join(certsD, WHARF_NAME, "ca.crt"), await readFile(wharfCa));
  dockerd = await startDockerd(topo, "bld", {
    dnsIp: topo.inet.ip,
    caFile: ca.caCert,
    certsD,
    daemonJson,
  });
  return { daemonJson };
}

const alpineRequests = () =>
  wharf
    .logs()
    .stdout.split("\n")
    .filter((l) => l.includes('"msg":"request"') && l.includes("library/alpine"));

describe("Docker Hub mirror mode (daemon.json registry-mirrors)", () => {
  it("HTTPS under wharf's own name: docker info lists it, the pull goes through wharf", async () => {
    const { daemonJson } = await dockerdWithMirror(["--https"]);
    expect(daemonJson).toEqual({ "registry-mirrors": [`https://${WHARF_NAME}`] });
    const d = dockerd as Dockerd;
    const info = await d.docker(["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    expect(JSON.parse(info.stdout)).toEqual([`https://${WHARF_NAME}/`]);
    const m = hub.mark();
    await d.docker(["pull", "-q", "alpine:3.20"]);
    expect(alpineRequests().length).toBeGreaterThan(0);
    const seen = hub.requests(m);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.ua.startsWith("wharf/"))).toBe(true);
  });

  it("an address in tls.extraNames answers TLS clients that send no SNI", async () => {
    const gw = topo.hosts.gw?.ip as string;
    const r = await topo.run("bld", [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--cacert",
      wharfCa,
      `https://${gw}/v2/`,
    ]);
    expect(r.stdout).toBe("200");
  });

  it("plain HTTP: pulls through wharf with no insecure-registries entry", async () => {
    const { daemonJson } = await dockerdWithMirror([]);
    expect(daemonJson).toEqual({ "registry-mirrors": [`http://${WHARF_NAME}:5000`] });
    const before = alpineRequests().length;
    const m = hub.mark();
    await (dockerd as Dockerd).docker(["pull", "-q", "alpine:3.20"]);
    expect(alpineRequests().length).toBeGreaterThan(before);
    // served from wharf's cache: Docker Hub saw nothing but wharf's tag revalidation, if any
    expect(hub.requests(m).filter((r) => !r.ua.startsWith("wharf/"))).toEqual([]);
  });

  it("with wharf stopped, dockerd falls back to Docker Hub and the pull succeeds", async () => {
    const d = dockerd as Dockerd;
    await d.docker(["image", "rm", "alpine:3.20"]);
    await wharf.stop();
    const m = hub.mark();
    await d.docker(["pull", "-q", "alpine:3.20"], { timeoutMs: 120_000 });
    const seen = hub.requests(m);
    expect(seen.some((r) => r.path === "/v2/library/alpine/manifests/3.20" && r.status === 200)).toBe(true);
    expect(seen.every((r) => r.ua.startsWith("docker/"))).toBe(true);
  });
});
