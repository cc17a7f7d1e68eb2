// Issue 17: deploy/kubernetes without a cluster. No schema checker is packaged by Debian (no
// kubeconform, kubeval or kubectl in bookworm), so (1) the manifests are checked for the structure
// Kubernetes relies on (selectors, volume and port names, the Service's fixed address) and wharf's
// ConfigMap against wharf's own schema; (2) the node path runs for real: the DaemonSet's script turns
// the ConfigMap of `wharf client-config containerd` files into /etc/containerd/certs.d, and a real
// containerd pulls through wharf at the Service address with it, as a node's CRI plugin would
// (config_path; crictl is not packaged by Debian either, so ctr drives the same resolver).
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { buildConfig } from "../../gateway/config/load-config.ts";
import { type Containerd, startContainerd } from "../support/containerd.ts";
import { type Dnsmasq, startDnsmasq } from "../support/dnsmasq.ts";
import { createTopology, type Topology } from "../support/netns.ts";
import { runCommand } from "../support/run-command.ts";
import { pushLayout } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "../support/wharf-process.ts";

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
type Obj = any;
const DIR = join(REPO_ROOT, "deploy", "kubernetes");
const NODE = join(REPO_ROOT, "node_modules", ".bin", "node");

async function manifests(file: string): Promise<Obj[]> {
  const docs = parseAllDocuments(await readFile(join(DIR, file), "utf8"));
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs.map((d) => d.toJS());
}
const byKind = (docs: Obj[], kind: string): Obj => docs.find((d) => d.kind === kind);

describe("deploy/kubernetes manifests", () => {
  it("have the structure Kubernetes relies on", async () => {
    const docs = [...(await manifests("wharf.yaml")), ...(await manifests("node-config.yaml"))];
    const known: Record<string, string> = {
      Namespace: "v1",
      ConfigMap: "v1",
      PersistentVolumeClaim: "v1",
      Service: "v1",
      Deployment: "apps/v1",
      DaemonSet: "apps/v1",
    };
    for (const d of docs) {
      expect(d.apiVersion, d.kind).toBe(known[d.kind]);
      expect(d.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (d.kind !== "Namespace") expect(d.metadata.namespace).toBe("wharf");
    }
    for (const w of docs.filter((d) => d.kind === "Deployment" || d.kind === "DaemonSet")) {
      const pod = w.spec.template;
      expect(pod.metadata.labels).toMatchObject(w.spec.selector.matchLabels);
      const volumes = new Set(pod.spec.volumes.map((v: Obj) => v.name));
      for (const c of pod.spec.containers)
        for (const m of c.volumeMounts ?? []) expect(volumes, `${w.kind} mount ${m.name}`).toContain(m.name);
    }
    const deployment = docs.find((d) => d.kind === "Deployment");
    const service = byKind(docs, "Service");
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const ports = new Map(
      deployment.spec.template.spec.containers[0].ports.map((p: Obj) => [p.name, p.containerPort]),
    );
    for (const p of service.spec.ports) expect(ports.has(p.targetPort), p.targetPort).toBe(true);
    const claim = byKind(docs, "PersistentVolumeClaim").metadata.name;
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: "data",
      persistentVolumeClaim: { claimName: claim },
    });
    // wharf's config passes wharf's own schema and matches the Deployment and the Service
    const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "wharf-config");
    const { config } = buildConfig((await import("yaml")).parse(cm.data["wharf.yml"]), {}, "wharf-config");
    expect(config.tls.extraNames).toContain(service.spec.clusterIP);
    expect(ports.get("http")).toBe(config.listen.http?.port);
    expect(ports.get("https")).toBe(config.listen.https?.port);
    expect(deployment.spec.template.spec.securityContext.runAsUser).toBe(10001);
  });
});

let tmp: TempDir;
let topo: Topology;
let ca: TestCa;
let dns: Dnsmasq;
let hub: UpstreamRegistry;
let wharf: WharfProcess;
let containerd: Containerd;
let clusterIp: string;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-k8s-");
  const docs = await manifests("wharf.yaml");
  clusterIp = byKind(docs, "Service").spec.clusterIP;
  topo = await createTopology("wkn", { hosts: ["gw", "node"], inetAddresses: 2 });
  const [dnsIp, hubIp] = topo.inet.ips as [string, string];
  // the Service address: on wharf's namespace, routed from the node's (kube-proxy's job in a cluster)
  await runCommand([
    "ip",
    "-n",
    topo.hosts.gw?.ns as string,
    "addr",
    "add",
    `${clusterIp}/32`,
    "dev",
    "eth0",
  ]);
  await runCommand([
    "ip",
    "-n",
    topo.hosts.node?.ns as string,
    "route",
    "add",
    `${clusterIp}/32`,
    "dev",
    "eth0",
  ]);
  ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: ["registry-1.docker.io"], ips: [] });
  dns = await startDnsmasq(topo, "inet", { listen: dnsIp, addresses: { "registry-1.docker.io": hubIp } });
  hub = await startUpstreamRegistry({ host: hubIp, cert: ca.cert, key: ca.key, netns: topo.inet.ns });
  await pushLayout("busybox", "registry-1.docker.io/library/alpine:3.20", {
    certDir: ca.certDir,
    netns: topo.inet.ns,
    nameserver: dnsIp,
  });
  // the ConfigMap's wharf.yml, with the test's "internet" and a temp data directory
  const cm = byKind(docs, "ConfigMap");
  const config = (await import("yaml")).parse(cm.data["wharf.yml"]);
  delete config.dataDir;
  wharf = await startWharf({
    netns: topo.hosts.gw?.ns,
    nameserver: dnsIp,
    config: { ...config, upstreamDns: `${dnsIp}:53`, upstreamCaFile: ca.caCert },
  });
  const ctdDir = join(tmp.path, "containerd");
  await mkdir(ctdDir);
  containerd = await startContainerd(ctdDir);
}, 120_000);

afterAll(async () => {
  await containerd?.stop();
  await wharf?.stop();
  await hub?.stop();
  await dns?.stop();
  await topo?.destroy();
  await tmp?.remove();
});

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const sub of await readdir(dir))
    for (const f of await readdir(join(dir, sub)))
      out[`${sub}/${f}`] = createHash("sha256")
        .update(await readFile(join(dir, sub, f)))
        .digest("hex");
  return out;
}

describe("the node path: DaemonSet + containerd", () => {
  it("writes what `wharf client-config containerd` made, and containerd pulls through wharf with it", async () => {
    const nodeCertsD = join(tmp.path, "node", "etc-containerd-certs.d");
    const out = join(tmp.path, "node-config");
    // README: the files, generated with the config the server uses, for the node's certs.d
    await runCommand(
      [NODE, join(REPO_ROOT, "bin", "wharf.mjs"), "client-config", "containerd"]
        .concat(["--config", join(wharf.dir, "wharf.yml"), "--address", clusterIp])
        .concat(["--install-dir", nodeCertsD, "--out", out]),
    );
    // the ConfigMap as mounted: one file per key, "<dir>--<file>"
    const mounted = join(tmp.path, "configmap");
    await mkdir(mounted);
    for (const sub of await readdir(join(out, "certs.d")))
      for (const f of await readdir(join(out, "certs.d", sub)))
        await writeFile(join(mounted, `${sub}--${f}`), await readFile(join(out, "certs.d", sub, f)));
    const ds = byKind(await manifests("node-config.yaml"), "DaemonSet");
    const c = ds.spec.template.spec.containers[0];
    const run = await runCommand([...c.command, c.args[0]], {
      env: { FROM: mounted, TO: nodeCertsD, ONCE: "1" },
    });
    expect(run.stdout).toContain(`wrote ${nodeCertsD}/docker.io/hosts.toml`);
    expect(await tree(nodeCertsD)).toEqual(await tree(join(out, "certs.d")));

    const before = wharf.logs().stdout.length;
    const m = hub.mark();
    await topo.run(
      "node",
      ["ctr", "-a", containerd.socket, "images", "pull", "--hosts-dir", nodeCertsD].concat([
        "docker.io/library/alpine:3.20",
      ]),
      { resolv: topo.inet.ip, timeoutMs: 60_000 },
    );
    const lines = wharf
      .logs()
      .stdout.slice(before)
      .split("\n")
      .filter((l) => l.includes('"msg":"request"'));
    expect(lines.some((l) => l.includes("library/alpine") && l.includes('"status":200'))).toBe(true);
    expect(hub.requests(m).every((r) => r.ua.startsWith("wharf/"))).toBe(true);
    expect(stringify(hub.requests(m).map((r) => r.path))).toContain("/v2/library/alpine/manifests/3.20");
  });
});
