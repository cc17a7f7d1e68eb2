// upstreamProxy: wharf reaches its upstream (and the token realm) only through an HTTP CONNECT
// proxy; the pull works and the proxy saw the tunnels.
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ConnectProxy, startConnectProxy } from "../support/connect-proxy.ts";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { pullImage } from "../support/registry-pull.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

let net: LoopbackInternet;
let proxy: ConnectProxy;
let wharf: WharfProcess;
let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("wharf-e2e-proxy-");
  net = await startLoopbackInternet({ push: ["busybox"] });
  proxy = await startConnectProxy(loopbackIp());
  wharf = await startWharf({
    config: {
      dataDir: join(tmp.path, "data"),
      listen: { http: `${loopbackIp()}:5000` },
      upstreamCaFile: net.ca.caCert,
      upstreamDns: `127.0.0.1:${await freePort()}`,
      upstreamProxy: proxy.url,
      registries: { "docker.io": { upstream: net.hubProxy.url } },
    },
  });
});

afterAll(async () => {
  await wharf?.stop();
  await proxy?.stop();
  await net?.stop();
  await tmp?.remove();
});

it("pulls through an HTTP CONNECT proxy, token realm included", async () => {
  const r = await pullImage(wharf.httpUrl, "docker.io/library/busybox", "latest");
  expect(r.digest).toBe(readManifestDigests("busybox").manifest);
  const registry = new URL(net.hubProxy.url).host;
  const realm = new URL(net.tokens.url).host;
  expect(proxy.tunnels).toContain(registry.includes(":") ? registry : `${registry}:443`);
  expect(proxy.tunnels).toContain(realm.includes(":") ? realm : `${realm}:443`);
});
