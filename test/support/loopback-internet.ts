// The "internet" most end-to-end tests need, on loopback addresses of their own:
// - a token server (Bearer realm on its own address), shared by both registries;
// - "hub": docker-registry with token auth like Docker Hub, reached through a tamper proxy
//   (counting, corrupting, truncating, redirecting blobs to a CDN host that refuses Authorization);
// - "ghcr": docker-registry with token auth where anonymous users get nothing on private/*;
// - the test images pushed: hub library/{busybox:latest, multi:1, big:latest},
//   ghcr acme/public:1 and private/app:1.
import { join } from "node:path";
import { freePort, loopbackIp } from "./ports.ts";
import { pushLayout } from "./skopeo.ts";
import { startTamperProxy, type TamperProxy } from "./tamper-proxy.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";
import { makeTestCa, type TestCa } from "./test-ca.ts";
import { startTokenServer, type TokenServer } from "./token-server.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "./upstream-registry.ts";

export const PRIVATE_USER = "alice";
export const PRIVATE_PASSWORD = "s3cret-for-tests-only";
/** Docker Hub's registry name, which wharf's TLS gateway answers for in hubGatewayConfig. */
export const HUB = "registry-1.docker.io";

export interface LoopbackInternet {
  ca: TestCa;
  tokens: TokenServer;
  hub: UpstreamRegistry;
  /** The address wharf uses for docker.io: the tamper proxy in front of `hub`. */
  hubProxy: TamperProxy;
  ghcr: UpstreamRegistry;
  stop(): Promise<void>;
}

export async function startLoopbackInternet(
  opts: { push?: ("busybox" | "multi" | "big")[] } = {},
): Promise<LoopbackInternet> {
  const dir: TempDir = await makeTempDir("wharf-internet-");
  const ip = {
    token: loopbackIp(),
    hub: loopbackIp(),
    proxy: loopbackIp(),
    cdn: loopbackIp(),
    ghcr: loopbackIp(),
  };
  const stops: (() => Promise<void>)[] = [() => dir.remove()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const ca = await makeTestCa(join(dir.path, "pki"), {
      dnsNames: ["registry-1.docker.io", "ghcr.io", "auth.docker.io", "cdn.test"],
      ips: Object.values(ip),
    });
    const tokens = await startTokenServer({
      host: ip.token,
      cert: ca.cert,
      key: ca.key,
      issuer: "wharf-test",
      users: { [PRIVATE_USER]: PRIVATE_PASSWORD },
      allow: (user, scope) => (user === null && scope.name.startsWith("private/") ? [] : scope.actions),
    });
    stops.push(() => tokens.stop());
    const tokenAuth = (service: string) => ({
      kind: "token" as const,
      realm: `${tokens.url}/token`,
      service,
      issuer: "wharf-test",
      rootCertBundle: ca.caCert,
    });
    const hub = await startUpstreamRegistry({
      host: ip.hub,
      cert: ca.cert,
      key: ca.key,
      auth: tokenAuth("registry.docker.io"),
    });
    stops.push(() => hub.stop());
    const ghcr = await startUpstreamRegistry({
      host: ip.ghcr,
      cert: ca.cert,
      key: ca.key,
      auth: tokenAuth("ghcr.io"),
    });
    stops.push(() => ghcr.stop());
    const hubProxy = await startTamperProxy({
      host: ip.proxy,
      cert: ca.cert,
      key: ca.key,
      upstream: hub.url,
      caFile: ca.caCert,
      cdn: { host: ip.cdn },
    });
    stops.push(() => hubProxy.stop());
    const access = { certDir: ca.certDir, creds: `${PRIVATE_USER}:${PRIVATE_PASSWORD}` };
    const hubHost = `${ip.hub}`;
    const push = opts.push ?? ["busybox", "multi", "big"];
    const targets: Record<string, string> = {
      busybox: "library/busybox:latest",
      multi: "library/multi:1",
      big: "library/big:latest",
    };
    await Promise.all(push.map((tag) => pushLayout(tag, `${hubHost}/${targets[tag]}`, access)));
    await pushLayout("busybox", `${ip.ghcr}/acme/public:1`, access);
    await pushLayout("busybox", `${ip.ghcr}/private/app:1`, access);
    return { ca, tokens, hub, hubProxy, ghcr, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Config for a wharf on `ip` standing in for Docker Hub: TLS gateway on :443 (alias HUB) and plain
 * HTTP on :5000, upstream the hub's tamper proxy, no prefetch, DNS and admin off. `registry` adds to
 * the docker.io registry's settings, `config` to the top level.
 */
export async function hubGatewayConfig(
  net: LoopbackInternet,
  o: { ip: string; dataDir: string; registry?: Record<string, unknown>; config?: Record<string, unknown> },
): Promise<Record<string, unknown>> {
  return {
    dataDir: o.dataDir,
    listen: { http: `${o.ip}:5000`, https: `${o.ip}:443`, dns: null, admin: null },
    upstreamCaFile: net.ca.caCert,
    upstreamDns: `127.0.0.1:${await freePort()}`,
    cache: { prefetch: 0 },
    registries: { "docker.io": { upstream: net.hubProxy.url, aliases: [HUB], ...o.registry } },
    ...o.config,
  };
}
