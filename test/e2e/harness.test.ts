// Smoke test of the end-to-end harness (test/support): real registries, token server, skopeo,
// tamper proxy, network namespaces with dnsmasq and dockerd. If this fails, e2e failures
// elsewhere are probably the harness's fault, not wharf's.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { startDnsmasq } from "../support/dnsmasq.ts";
import { startDockerd } from "../support/dockerd.ts";
import { readBlob, readManifestDigests } from "../support/images.ts";
import { createTopology } from "../support/netns.ts";
import { listNetns } from "../support/netns-cleanup.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { copyToDir, inspectDigest, pushLayout, runSkopeo } from "../support/skopeo.ts";
import { startTamperProxy } from "../support/tamper-proxy.ts";
import { makeTestCa, type TestCa } from "../support/test-ca.ts";
import { startTokenServer, type TokenServer } from "../support/token-server.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../support/upstream-registry.ts";
import { startWharf } from "../support/wharf-process.ts";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const busybox = readManifestDigests("busybox");
const multi = readManifestDigests("multi");

describe("e2e harness", () => {
  const hubIp = loopbackIp(); // "registry-1.docker.io": no auth
  const ghcrIp = loopbackIp(); // "ghcr.io": token auth; the token server listens on another port
  const proxyIp = loopbackIp();
  const cdnIp = loopbackIp();
  const hosts = { "registry-1.docker.io": hubIp, "ghcr.io": ghcrIp, "auth.test": ghcrIp };
  let dir: string;
  let ca: TestCa;
  let hub: UpstreamRegistry | undefined;
  let ghcr: UpstreamRegistry | undefined;
  let token: TokenServer | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wharf-harness-"));
    const dnsNames = ["registry-1.docker.io", "docker.io", "ghcr.io", "auth.test"];
    ca = await makeTestCa(join(dir, "pki"), { dnsNames, ips: [hubIp, ghcrIp, proxyIp, cdnIp] });
    hub = await startUpstreamRegistry({ host: hubIp, cert: ca.cert, key: ca.key });
    token = await startTokenServer({
      host: ghcrIp,
      cert: ca.cert,
      key: ca.key,
      issuer: "wharf-test",
      users: { alice: "secret" },
      // acme/private: nothing for anonymous users, so the registry denies them
      allow: (user, scope) => (user === null && scope.name.startsWith("acme/private") ? [] : scope.actions),
    });
    const realm = `https://auth.test:${token.port}/token`;
    ghcr = await startUpstreamRegistry({
      host: ghcrIp,
      cert: ca.cert,
      key: ca.key,
      auth: { kind: "token", realm, service: "ghcr.test", issuer: "wharf-test", rootCertBundle: ca.caCert },
    });
  });

  afterAll(async () => {
    await Promise.allSettled([hub?.stop(), ghcr?.stop(), token?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the image layout holds busybox, multi and big, content-addressed", () => {
    expect(busybox.layers).toHaveLength(2);
    expect(sha256(readBlob(busybox.manifest))).toBe(busybox.manifest);
    for (const d of [busybox.config as string, ...busybox.layers]) expect(sha256(readBlob(d))).toBe(d);
    expect(multi.manifests.map((m) => m.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const [amd64, arm64] = multi.manifests;
    expect(amd64?.layers.slice(0, 2)).toEqual(busybox.layers);
    expect(arm64?.layers.slice(0, 2)).toEqual(busybox.layers);
    expect(amd64?.layers[2]).not.toBe(arm64?.layers[2]);
    const big = readManifestDigests("big");
    expect(big.layers).toHaveLength(2);
    expect(big.layerSizes[0]).toBeGreaterThan(100 * 1024 * 1024); // incompressible
  });

  test("loopbackIp and freePort hand out distinct addresses", async () => {
    const ips = new Set([hubIp, ghcrIp, proxyIp, cdnIp, loopbackIp()]);
    expect(ips.size).toBe(5);
    for (const ip of ips) expect(ip).toMatch(/^127\.(?!0\.0\.)\d+\.\d+\.\d+$/);
    expect(await freePort(hubIp)).toBeGreaterThan(0);
  });

  test("skopeo pushes and inspects through a private hosts file; the upstream counts it", async () => {
    if (!hub || !ghcr || !token) throw new Error("upstreams not started");
    const access = { certDir: ca.certDir, hosts };
    const m = hub.mark();
    await pushLayout("busybox", "docker.io/library/busybox:latest", access);
    await pushLayout("multi", "docker.io/library/multi:1", access);
    // busybox tag, then both platform manifests by digest and the index by tag
    expect(await hub.waitForCount({ method: "PUT", path: /\/manifests\// }, 4, m)).toBe(4);
    expect(hub.count({ method: "PUT", path: "/v2/library/multi/manifests/1", status: 201 }, m)).toBe(1);
    // 2 layers + config, uploaded once each: skopeo's blob-info cache is a fresh tmpfs every run
    expect(hub.count({ method: "PUT", path: /^\/v2\/library\/busybox\/blobs\/uploads\// }, m)).toBe(3);

    const m2 = hub.mark();
    expect(await inspectDigest("docker.io/library/busybox:latest", access)).toBe(busybox.manifest);
    expect(await inspectDigest("registry-1.docker.io/library/multi:1", access)).toBe(multi.manifest);
    expect(await hub.waitForCount({ method: "GET", path: "/v2/library/multi/manifests/1" }, 1, m2)).toBe(1);

    // token auth: alice may push; anonymous users get no actions on acme/private
    await pushLayout("busybox", "ghcr.io/acme/private:1", { ...access, creds: "alice:secret" });
    expect(
      token.requests.some((r) => r.user === "alice" && r.scopes.some((s) => s.endsWith(":pull,push"))),
    ).toBe(true);
    expect(await inspectDigest("ghcr.io/acme/private:1", { ...access, creds: "alice:secret" })).toBe(
      busybox.manifest,
    );
    await expect(inspectDigest("ghcr.io/acme/private:1", access)).rejects.toThrow(
      /unauthorized|denied|authentication/i,
    );
    await expect(
      inspectDigest("ghcr.io/acme/private:1", { ...access, creds: "alice:wrong" }),
    ).rejects.toThrow();
    expect(token.requests.some((r) => r.user === "alice" && r.status === 401)).toBe(true);
    expect(ghcr.count({ status: 401 })).toBeGreaterThan(0);
  });

  test("the tamper proxy corrupts, redirects, fails and truncates blobs on demand", async () => {
    if (!hub) throw new Error("upstream not started");
    await pushLayout("busybox", "docker.io/library/tamper:1", { certDir: ca.certDir, hosts });
    const proxy = await startTamperProxy({
      host: proxyIp,
      cert: ca.cert,
      key: ca.key,
      upstream: hub.url,
      caFile: ca.caCert,
      cdn: { host: cdnIp },
    });
    const agent = new Agent({ connect: { ca: await readFile(ca.caCert) } });
    onTestFinished(async () => {
      await proxy.stop();
      await agent.destroy();
    });
    const layer = busybox.layers[0] as string;
    const blobUrl = `${proxy.url}/v2/library/tamper/blobs/${layer}`;
    const get = async (url: string, headers: Record<string, string> = {}) => {
      const res = await request(url, { dispatcher: agent, headers });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, headers: res.headers, body };
    };
    const plain = await get(blobUrl);
    expect([plain.status, sha256(plain.body)]).toEqual([200, layer]);

    proxy.setRule(layer, { kind: "corrupt" });
    const bad = await get(blobUrl);
    expect(bad.body.length).toBe(plain.body.length);
    expect(sha256(bad.body)).not.toBe(layer);

    proxy.setRule(layer, { kind: "redirect" });
    const moved = await get(blobUrl, { authorization: "Bearer registry-token" });
    expect(moved.status).toBe(307);
    const location = String(moved.headers.location);
    expect(location.startsWith(`https://${cdnIp}:`)).toBe(true);
    expect((await get(location, { authorization: "Bearer registry-token" })).status).toBe(400);
    const viaCdn = await get(location);
    expect([viaCdn.status, sha256(viaCdn.body)]).toEqual([200, layer]);

    proxy.setRule("*", { kind: "status", status: 429, headers: { "retry-after": "7" }, times: 1 });
    const limited = await get(`${proxy.url}/v2/`);
    expect([limited.status, limited.headers["retry-after"]]).toEqual([429, "7"]);
    expect((await get(`${proxy.url}/v2/`)).status).toBe(200); // times: 1

    proxy.setRule(layer, { kind: "truncate" });
    await expect(get(blobUrl)).rejects.toThrow();
    proxy.clear();
    expect(sha256((await get(blobUrl)).body)).toBe(layer);

    // a real client notices too: skopeo refuses the corrupted layer, and succeeds once cleared
    const viaProxy = { certDir: ca.certDir, hosts: { "registry-1.docker.io": proxyIp } };
    proxy.setRule(layer, { kind: "corrupt" });
    await expect(copyToDir("docker.io/library/tamper:1", join(dir, "bad"), viaProxy)).rejects.toThrow(
      /digest/i,
    );
    proxy.clear();
    await copyToDir("docker.io/library/tamper:1", join(dir, "good"), viaProxy);
    expect(sha256(await readFile(join(dir, "good", layer.slice(7))))).toBe(layer);
    expect(proxy.count((r) => r.rule === "corrupt")).toBeGreaterThanOrEqual(2);
    expect(proxy.cdn.requests.map((r) => [r.status, r.authorization])).toEqual([
      [400, true],
      [200, false],
    ]);
  });

  test("a namespace topology: dnsmasq answers inside it, dockerd pulls and runs, destroy removes it", async () => {
    const topo = await createTopology("wht");
    onTestFinished(() => topo.destroy());
    const [dnsIp, registryIp] = topo.inet.ips as [string, string];
    const dns = await startDnsmasq(topo, "inet", {
      listen: dnsIp,
      addresses: { "registry-1.docker.io": registryIp },
    });
    expect(await dns.lookup("bld", "registry-1.docker.io")).toEqual([registryIp]);
    expect(await dns.lookup("bld", "example.com")).toEqual([]); // NXDOMAIN: nothing is forwarded
    expect((await topo.run("bld", ["ip", "route"])).stdout).not.toMatch(/default/);

    const up = await startUpstreamRegistry({
      host: registryIp,
      cert: ca.cert,
      key: ca.key,
      netns: topo.inet.ns,
    });
    onTestFinished(() => up.stop());
    await pushLayout("busybox", "docker.io/library/busybox:latest", {
      certDir: ca.certDir,
      netns: topo.hosts.bld?.ns,
      nameserver: dnsIp,
    });
    const dockerd = await startDockerd(topo, "bld", { dnsIp, caFile: ca.caCert });
    onTestFinished(() => dockerd.stop());
    const m = up.mark();
    await dockerd.docker(["pull", "-q", "busybox:latest"]);
    expect(up.count({ method: "GET", path: `/v2/library/busybox/blobs/${busybox.layers[1]}` }, m)).toBe(1);
    const run = await dockerd.docker("run --rm --network none busybox:latest cat /etc/motd".split(" "));
    expect(run.stdout).toBe("wharf test image\n");
    await dockerd.stop();
    await up.stop();

    const names = [topo.inet.ns, ...Object.values(topo.hosts).map((h) => h.ns)];
    expect(listNetns()).toEqual(expect.arrayContaining(names));
    await topo.destroy();
    expect(listNetns().filter((n) => names.includes(n))).toEqual([]);
    expect(dns.proc.alive()).toBe(false);
  });

  test("skopeo cannot reach names missing from its hosts file", async () => {
    // the private resolv.conf points at 127.0.0.1:53, where nothing answers: the lookup fails locally
    const r = await runSkopeo(["inspect", "--raw", "docker://unknown.invalid/x:1"], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown\.invalid/);
  });

  test("startWharf runs wharf serve until it answers /v2/, and stops it with SIGTERM", async () => {
    if (!hub) throw new Error("upstream not started");
    await pushLayout("busybox", "docker.io/library/busybox:latest", { certDir: ca.certDir, hosts });
    const http = `${loopbackIp()}:5000`;
    const wharf = await startWharf({
      config: {
        listen: { http },
        upstreamCaFile: ca.caCert,
        registries: { "docker.io": { upstream: hub.url } },
      },
    });
    onTestFinished(() => wharf.stop().then(() => undefined));
    expect(wharf.httpUrl).toBe(`http://${http}`);
    const m = hub.mark();
    const raw = await runSkopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${http}/library/busybox:latest`,
    ]);
    expect(sha256(raw.stdout)).toBe(busybox.manifest);
    expect(hub.count({ ua: /^wharf\// }, m)).toBeGreaterThan(0);
    const exit = await wharf.stop();
    expect(exit.code !== null || exit.signal !== null).toBe(true);
    expect(wharf.logs().stdout + wharf.logs().stderr).not.toBe("");
  });

  test("startWharf reports wharf's exit and log tail when it does not come up", async () => {
    const http = `${loopbackIp()}:${await freePort()}`;
    const start = startWharf({ config: { listen: { http }, noSuchKey: true } });
    await expect(start).rejects.toThrow(/wharf exited \(code 2[\s\S]*--- wharf stderr ---[\s\S]*noSuchKey/);
  });
});
