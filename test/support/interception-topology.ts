// The world of DNS interception (issues 5 and 6) in network namespaces (testbed.md §6-8):
// - "inet": the upstreams under their real names, each on its own address: Docker Hub
//   (registry-1.docker.io, token auth with realm https://auth.docker.io/token on a separate
//   address, as on Docker Hub), ghcr.io and registry.gitlab.com; and dnsmasq, the internet's
//   resolver, which knows only those names and example.test (NXDOMAIN for everything else);
// - "gw": wharf, resolving its upstreams through dnsmasq, with or without its DNS responder;
// - builder namespaces with their own dockerd, trusting what `wharf client-config docker` wrote.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Dnsmasq, startDnsmasq } from "./dnsmasq.ts";
import { type Dockerd, startDockerd } from "./dockerd.ts";
import { createTopology, type Topology } from "./netns.ts";
import type { OwnedProcess } from "./owned-process.ts";
import { runCommand } from "./run-command.ts";
import { pushLayout } from "./skopeo.ts";
import { makeTempDir } from "./temp-dir.ts";
import { makeTestCa, type TestCa } from "./test-ca.ts";
import type { TokenGrants } from "./token-server.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "./upstream-registry.ts";
import { waitForHttp } from "./wait-http.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "./wharf-process.ts";

export interface InterceptionOptions {
  /** Topology prefix (see createTopology). */
  prefix: string;
  /** Namespaces besides "gw": builders and outsiders (at most 12 lower-case characters each). */
  hosts: string[];
  /** Run wharf's DNS responder on <gw>:53 (DNS mode); off in network-alias mode. */
  dns: boolean;
  /** Hosts whose address (/32) is in dns.allow. */
  dnsAllow?: string[];
  /** Upstream reference (without registry) -> layout tag, pushed before wharf starts. */
  images: { hub: Record<string, string>; ghcr: Record<string, string>; gitlab: Record<string, string> };
  /** More registries (e.g. a hosted one) and top-level keys (e.g. mirror) for wharf's config. */
  extraRegistries?: Record<string, unknown>;
  /** Or made from the topology (e.g. access rules naming a namespace's address). */
  extraConfig?: Record<string, unknown> | ((topo: Topology) => Record<string, unknown>);
  /**
   * Put these upstreams behind token auth as well (service = their host name, the same token
   * server as Docker Hub's), with `tokenGrants` written once the images are pushed.
   */
  tokenAuth?: ("ghcr" | "gitlab")[];
  tokenGrants?: TokenGrants;
  /** Start wharf's admin listener on <gw>:9090 (/metrics, /api/status), without a token. */
  admin?: boolean;
}

export interface BuilderOptions {
  /** resolv.conf nameservers, in order. */
  nameservers: string[];
  /** Extra /etc/hosts entries. */
  hosts?: Record<string, string>;
  /** Also trust the upstreams' CA (to pull from them directly once wharf is out of the way). */
  trustUpstreams?: boolean;
}

/** One "request" line of wharf's JSON log (gateway/http/registry-app.ts). */
export interface WharfRequest {
  registry?: string;
  repository?: string;
  reference?: string;
  kind: string;
  method: string;
  status: number;
  outcome: string;
  bytes?: number;
  errorCode?: string;
}

export interface InterceptionWorld {
  topo: Topology;
  ip: { dns: string; hub: string; auth: string; ghcr: string; gitlab: string; example: string; gw: string };
  ca: TestCa;
  hub: UpstreamRegistry;
  ghcr: UpstreamRegistry;
  gitlab: UpstreamRegistry;
  dnsmasq: Dnsmasq;
  wharf: WharfProcess;
  /** Output of `wharf client-config docker --out`: ca.crt and certs.d/<host>/ca.crt. */
  client: { dir: string; wharfCa: string; certsD: string; bothCas: string };
  /** Every name wharf intercepts (registry names and aliases), from the client-config output. */
  interceptedNames: string[];
  /** Replaces the token server's users and grants (read on its next request). */
  setTokenGrants(g: TokenGrants): Promise<void>;
  startBuilder(host: string, o: BuilderOptions): Promise<Dockerd>;
  wharfRequests(): WharfRequest[];
  /** Lines of dnsmasq's query log. */
  dnsmasqLog(): Promise<string>;
  stop(): Promise<void>;
}

// The token server (test/support/token-server.ts) in a child process: a server in this process
// could only listen in the test's own network namespace.
const TOKEN_MAIN = `const { startTokenServer } = await import(process.env.WHARF_TOKEN_MODULE);
await startTokenServer(JSON.parse(process.env.WHARF_TOKEN_OPTIONS));`;

const NODE = join(REPO_ROOT, "node_modules", ".bin", "node");

export async function startInterceptionWorld(o: InterceptionOptions): Promise<InterceptionWorld> {
  const tmp = await makeTempDir("wharf-interception-");
  const stops: (() => Promise<unknown>)[] = [() => tmp.remove()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    stops.length = 0;
  };
  try {
    const topo = await createTopology(o.prefix, { hosts: ["gw", ...o.hosts], inetAddresses: 6 });
    stops.push(() => topo.destroy());
    const [dns, hub, auth, ghcr, gitlab, example] = topo.inet.ips as [string, ...string[]];
    const ip = { dns, hub, auth, ghcr, gitlab, example, gw: topo.hosts.gw?.ip } as InterceptionWorld["ip"];
    const upstreamNames = {
      "registry-1.docker.io": ip.hub,
      "auth.docker.io": ip.auth,
      "ghcr.io": ip.ghcr,
      "registry.gitlab.com": ip.gitlab,
    };
    const ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: Object.keys(upstreamNames), ips: [] });
    const dnsLog = join(tmp.path, "dnsmasq.log");
    const dnsmasq = await startDnsmasq(topo, "inet", {
      listen: ip.dns,
      addresses: { ...upstreamNames, "example.test": ip.example },
      logFile: dnsLog,
    });
    stops.push(() => dnsmasq.stop());
    const grantsFile = join(tmp.path, "token-grants.json");
    const tokens = await startTokens(topo, ip.auth, ca, grantsFile);
    stops.push(() => tokens.stop());

    const inet = topo.inet.ns;
    const realm = "https://auth.docker.io/token";
    const hubAuth = { kind: "token" as const, realm, service: "registry.docker.io", issuer: "wharf-test" };
    const upstream = (host: string, service: string | undefined) =>
      startUpstreamRegistry({
        host,
        cert: ca.cert,
        key: ca.key,
        netns: inet,
        ...(service ? { auth: { ...hubAuth, service, rootCertBundle: ca.caCert } } : {}),
      });
    const tokenAuth = new Set(o.tokenAuth ?? []);
    const registries = {
      hub: await upstream(ip.hub, hubAuth.service),
      ghcr: await upstream(ip.ghcr, tokenAuth.has("ghcr") ? "ghcr.io" : undefined),
      gitlab: await upstream(ip.gitlab, tokenAuth.has("gitlab") ? "registry.gitlab.com" : undefined),
    };
    for (const r of Object.values(registries)) stops.push(() => r.stop());
    const hosts = { hub: "registry-1.docker.io", ghcr: "ghcr.io", gitlab: "registry.gitlab.com" };
    const access = { certDir: ca.certDir, netns: inet, nameserver: ip.dns };
    for (const [key, refs] of Object.entries(o.images) as [keyof typeof hosts, Record<string, string>][])
      for (const [ref, tag] of Object.entries(refs)) await pushLayout(tag, `${hosts[key]}/${ref}`, access);
    const setTokenGrants = (g: TokenGrants) => writeFile(grantsFile, JSON.stringify(g));
    if (o.tokenGrants) await setTokenGrants(o.tokenGrants);

    const allow = (o.dnsAllow ?? []).map((h) => `${topo.hosts[h]?.ip}/32`);
    const wharf = await startWharf({
      netns: topo.hosts.gw?.ns,
      nameserver: ip.dns,
      config: {
        listen: {
          http: `${ip.gw}:5000`,
          https: `${ip.gw}:443`,
          dns: o.dns ? `${ip.gw}:53` : null,
          ...(o.admin && { admin: `${ip.gw}:9090` }),
        },
        upstreamDns: `${ip.dns}:53`,
        upstreamCaFile: ca.caCert,
        dns: { answer: [ip.gw], allow, failOpen: true },
        registries: {
          "docker.io": {
            upstream: "https://registry-1.docker.io",
            aliases: ["registry-1.docker.io", "index.docker.io"],
          },
          "ghcr.io": { upstream: "https://ghcr.io" },
          "registry.gitlab.com": { upstream: "https://registry.gitlab.com" },
          ...o.extraRegistries,
        },
        ...(typeof o.extraConfig === "function" ? o.extraConfig(topo) : o.extraConfig),
      },
    });
    stops.push(() => wharf.stop());

    // What an operator runs: the CLI against the same configuration file.
    const clientDir = join(tmp.path, "client");
    const cli = [NODE, join(REPO_ROOT, "bin", "wharf.mjs"), "client-config", "docker"];
    await runCommand([...cli, "--config", join(wharf.dir, "wharf.yml"), "--out", clientDir], {
      cwd: REPO_ROOT,
    });
    const wharfCa = join(clientDir, "ca.crt");
    const bothCas = join(tmp.path, "both-cas.crt");
    await writeFile(bothCas, (await readFile(wharfCa, "utf8")) + (await readFile(ca.caCert, "utf8")));
    const certsD = join(clientDir, "certs.d");
    const interceptedNames = await readdir(certsD);

    const builders: Dockerd[] = [];
    const startBuilder = async (host: string, b: BuilderOptions): Promise<Dockerd> => {
      const d = await startDockerd(topo, host, {
        // the harness writes "nameserver <dnsIp>": further servers go on lines of their own
        dnsIp: b.nameservers.join("\nnameserver "),
        caFile: b.trustUpstreams ? bothCas : wharfCa,
        certsD,
        hosts: b.hosts,
      });
      builders.push(d);
      return d;
    };
    // builders go first: dockerd unmounts while everything else still runs
    stops.push(async () => {
      for (const d of builders.reverse()) await d.stop();
    });
    const wharfRequests = (): WharfRequest[] =>
      wharf
        .logs()
        .stdout.split("\n")
        .filter((line) => line.includes('"msg":"request"'))
        .map((line) => JSON.parse(line) as WharfRequest);
    return {
      topo,
      ip,
      ca,
      ...registries,
      dnsmasq,
      wharf,
      client: { dir: clientDir, wharfCa, certsD, bothCas },
      interceptedNames,
      setTokenGrants,
      startBuilder,
      wharfRequests,
      dnsmasqLog: () => readFile(dnsLog, "utf8").catch(() => ""),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function startTokens(
  topo: Topology,
  host: string,
  ca: TestCa,
  grantsFile: string,
): Promise<OwnedProcess> {
  const module = pathToFileURL(join(REPO_ROOT, "test", "support", "token-server.ts")).href;
  const options = { host, port: 443, cert: ca.cert, key: ca.key, issuer: "wharf-test", grantsFile };
  const proc = await topo.spawnIn("inet", [NODE, "--input-type=module", "-e", TOKEN_MAIN], {
    env: { WHARF_TOKEN_MODULE: module, WHARF_TOKEN_OPTIONS: JSON.stringify(options) },
  });
  try {
    await waitForHttp(`https://${host}/token`, {
      accept: (s) => s === 200,
      alive: proc.alive,
      netns: topo.inet.ns,
    });
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return proc;
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: string[];
}

/** `dig @server name` from namespace `from`: the rcode, header flags and A records. */
export async function dig(topo: Topology, from: string, server: string, name: string): Promise<DigResult> {
  const r = await topo.run(from, ["dig", "+time=2", "+tries=1", `@${server}`, name, "A"], {
    allowFailure: true,
  });
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer (dig exit ${r.code})`;
  const flags = (/;; flags: ([^;]*);/.exec(r.stdout)?.[1] ?? "").trim().split(/\s+/).filter(Boolean);
  const answers = [...r.stdout.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1] as string);
  return { status, flags, answers };
}

/**
 * Rewrites one of a builder's private /etc files (hosts, resolv.conf) while dockerd runs: through
 * /proc/<pid>/root the path resolves in dockerd's mount namespace, i.e. to the bind-mounted file.
 */
export async function rewriteBuilderEtc(d: Dockerd, file: "hosts" | "resolv.conf", text: string) {
  const pid = (await readFile(join(d.dir, "dockerd.pid"), "utf8")).trim();
  await writeFile(`/proc/${pid}/root/etc/${file}`, text);
}
