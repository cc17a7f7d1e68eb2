// Issue 4, end to end: upstreams known only to a local test DNS server (dnsmasq) given as
// upstreamDns, while wharf's own /etc/hosts points those names at wharf itself (as its DNS
// interception would). skopeo and ctr pull registry.gitlab.com, ghcr.io and docker.io images
// through the TLS gateway trusting only wharf's CA; another CA is not trusted.
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Containerd, startContainerd } from "../support/containerd.ts";
import { type Dnsmasq, startDnsmasq } from "../support/dns-testbed.ts";
import { readManifestDigests } from "../support/images.ts";
import { loopbackIp } from "../support/ports.ts";
import { runCommand } from "../support/run-command.ts";
import { inspectDigest, pushLayout, runSkopeo } from "../support/skopeo.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { wharfCertDir } from "../support/wharf-client.ts";
import { REPO_ROOT, startWharf, type WharfProcess } from "../support/wharf-process.ts";

const NAMES = ["registry-1.docker.io", "ghcr.io", "registry.gitlab.com"] as const;
const GITLAB_USER = "deploy-bot";
const GITLAB_PASSWORD = "gitlab-test-password";

let tmp: TempDir;
let ca: TestCa;
let dns: Dnsmasq;
let wharf: WharfProcess;
let containerd: Containerd;
const upstreams: UpstreamRegistry[] = [];
const ip: Record<string, string> = {};
let wharfIp: string;
let certDir: string;
let configFile: string;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-tls-");
  for (const n of NAMES) ip[n] = loopbackIp();
  wharfIp = loopbackIp();
  ca = await makeTestCa(join(tmp.path, "pki"), { dnsNames: [...NAMES], ips: [] });
  const direct = Object.fromEntries(NAMES.map((n) => [n, ip[n] as string]));
  for (const n of NAMES) {
    const auth =
      n === "registry.gitlab.com"
        ? { kind: "basic" as const, users: { [GITLAB_USER]: GITLAB_PASSWORD } }
        : undefined;
    upstreams.push(await startUpstreamRegistry({ host: ip[n] as string, cert: ca.cert, key: ca.key, auth }));
  }
  const push = { certDir: ca.certDir, hosts: direct };
  await pushLayout("busybox", "registry-1.docker.io/library/busybox:latest", push);
  await pushLayout("multi", "ghcr.io/acme/multi:1", push);
  await pushLayout("busybox", "registry.gitlab.com/group/project/app:1", {
    ...push,
    creds: `${GITLAB_USER}:${GITLAB_PASSWORD}`,
  });
  dns = await startDnsmasq(NAMES.map((n) => `--address=/${n}/${ip[n]}`));
  wharf = await startWharf({
    config: {
      dataDir: join(tmp.path, "data"),
      listen: { http: `${wharfIp}:5000`, https: `${wharfIp}:443` },
      upstreamCaFile: ca.caCert,
      upstreamDns: `127.0.0.1:${dns.port}`,
      registries: {
        "docker.io": {
          upstream: "https://registry-1.docker.io",
          aliases: ["registry-1.docker.io", "index.docker.io"],
        },
        "ghcr.io": { upstream: "https://ghcr.io" },
        "registry.gitlab.com": {
          upstream: "https://registry.gitlab.com",
          auth: { username: GITLAB_USER, passwordEnv: "GITLAB_TOKEN" },
        },
      },
    },
    env: { ...process.env, GITLAB_TOKEN: GITLAB_PASSWORD },
    // What wharf's own resolver would say where its DNS intercepts these names: wharf itself.
    hosts: Object.fromEntries(NAMES.map((n) => [n, wharfIp])),
  });
  configFile = join(wharf.dir, "wharf.yml");
  certDir = await wharfCertDir(join(tmp.path, "data"), join(tmp.path, "wharf-ca"));
  await mkdir(join(tmp.path, "ctd"), { recursive: true });
  containerd = await startContainerd(join(tmp.path, "ctd"));
}, 120_000);

afterAll(async () => {
  await containerd?.stop();
  await wharf?.stop();
  for (const u of upstreams) await u.stop();
  await dns?.stop();
  await tmp?.remove();
});

const viaWharf = () => ({ certDir, hosts: Object.fromEntries(NAMES.map((n) => [n, wharfIp])) });

describe("TLS gateway with upstreams resolved through upstreamDns", () => {
  it("skopeo pulls from all three registries trusting only wharf's CA", async () => {
    expect(await inspectDigest("docker.io/library/busybox:latest", viaWharf())).toBe(
      readManifestDigests("busybox").manifest,
    );
    expect(await inspectDigest("ghcr.io/acme/multi:1", viaWharf())).toBe(
      readManifestDigests("multi").manifest,
    );
    expect(await inspectDigest("registry.gitlab.com/group/project/app:1", viaWharf())).toBe(
      readManifestDigests("busybox").manifest,
    );
    const out = join(tmp.path, "out");
    await mkdir(out);
    await runSkopeo(
      [
        "copy",
        "--all",
        "--src-cert-dir",
        certDir,
        "docker://ghcr.io/acme/multi:1",
        `dir:${join(out, "multi")}`,
      ],
      { hosts: viaWharf().hosts },
    );
    const names = await dns.queriedNames();
    for (const n of NAMES) expect(names).toContain(n);
    expect((upstreams[2] as UpstreamRegistry).count({ method: "GET", status: 200 })).toBeGreaterThan(0);
  });

  it("a CA from another run is not trusted", async () => {
    const other = await makeTestCa(join(tmp.path, "other-pki"), { dnsNames: ["x.test"], ips: [] });
    const r = await runSkopeo(
      ["inspect", "--raw", "--cert-dir", other.certDir, "docker://ghcr.io/acme/multi:1"],
      { hosts: viaWharf().hosts, allowFailure: true },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/x509|certificate/);
  });

  it("refuses an unknown server name at the handshake, and every alias verifies", async () => {
    const sClient = (name: string) =>
      runCommand(
        [
          "openssl",
          "s_client",
          "-connect",
          `${wharfIp}:443`,
          "-servername",
          name,
          "-CAfile",
          join(certDir, "ca.crt"),
          "-verify_return_error",
          "-brief",
        ],
        {
          allowFailure: true,
          input: "",
          timeoutMs: 10_000,
        },
      );
    for (const name of [
      "docker.io",
      "registry-1.docker.io",
      "index.docker.io",
      "ghcr.io",
      "registry.gitlab.com",
    ]) {
      const r = await sClient(name);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(/Verification: OK/);
    }
    const unknown = await sClient("quay.io");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/handshake failure|alert/i);
    expect((await stat(join(tmp.path, "data", "ca.key"))).mode & 0o777).toBe(0o600);
  });

  it("ctr pulls through generated hosts.toml, by mirror (?ns=) and by TLS", async () => {
    const node = join(REPO_ROOT, "node_modules", ".bin", "node");
    for (const mode of ["mirror", "tls"] as const) {
      const out = join(tmp.path, `ctd-${mode}`);
      const args = [
        node,
        join(REPO_ROOT, "bin", "wharf.mjs"),
        "client-config",
        "containerd",
        "--config",
        configFile,
        "--out",
        out,
        "--address",
        wharfIp,
      ];
      if (mode === "tls") args.push("--https");
      const gen = await runCommand(args, { allowFailure: true });
      expect(gen.code, gen.stderr).toBe(0);
      const image =
        mode === "tls" ? "registry.gitlab.com/group/project/app:1" : "docker.io/library/busybox:latest";
      // The mirror mode reaches wharf by address; the TLS mode by the registry names, mapped to wharf.
      const r = await containerd.ctr(["images", "pull", "--hosts-dir", join(out, "certs.d"), image], {
        hosts: mode === "tls" ? viaWharf().hosts : {},
        allowFailure: true,
      });
      expect(r.code, `${mode}: ${r.stderr}`).toBe(0);
      await containerd.ctr(["images", "rm", image]);
    }
    expect(wharf.logs().stdout).toMatch(/"via":"ns"|"registry":"docker.io"/);
  });
});
