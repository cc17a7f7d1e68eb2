// The OCI distribution-spec conformance suite (a compiled copy lives in ../shared/tools/
// oci-conformance/, beside the clone; see its README) against wharf's plain-HTTP listener:
// the pull workflow against a proxied registry whose upstream holds a seeded image, and all four
// workflows (pull, push, content discovery, content management) against a hosted registry,
// reached by path prefix (/v2/<registry>/<repository>/…). Each run must report 0 failed specs.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifestDigests } from "../support/images.ts";
import { type LoopbackInternet, startLoopbackInternet } from "../support/loopback-internet.ts";
import { assertConformanceSuite, runConformance } from "../support/oci-conformance.ts";
import { freePort, loopbackIp } from "../support/ports.ts";
import { makeTempDir, type TempDir } from "../support/temp-dir.ts";
import { startWharf, type WharfProcess } from "../support/wharf-process.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
let tmp: TempDir;

beforeAll(async () => {
  assertConformanceSuite();
  tmp = await makeTempDir("wharf-e2e-conformance-");
});

afterAll(async () => {
  await tmp?.remove();
});

describe("OCI conformance: proxied registry, pull workflow on seeded content", () => {
  let net: LoopbackInternet;
  let wharf: WharfProcess;

  beforeAll(async () => {
    net = await startLoopbackInternet({ push: ["busybox"] });
    wharf = await startWharf({
      config: {
        dataDir: join(tmp.path, "proxy-data"),
        listen: { http: `${loopbackIp()}:5000`, https: null, dns: null, admin: null },
        upstreamCaFile: net.ca.caCert,
        upstreamDns: `127.0.0.1:${await freePort()}`,
        registries: {
          "docker.io": { upstream: net.hubProxy.url, aliases: ["registry-1.docker.io"] },
          "registry.internal": { hosted: {} },
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await wharf?.stop();
    await net?.stop();
  });

  it("passes every pull spec through the path prefix", async () => {
    const image = readManifestDigests("busybox");
    expect(image.mediaType).toBe(OCI_MANIFEST);
    const s = await runConformance({
      root: wharf.httpUrl,
      namespace: "docker.io/library/busybox",
      workflows: "pull",
      env: {
        OCI_TAG_NAME: "latest",
        OCI_MANIFEST_DIGEST: image.manifest,
        OCI_BLOB_DIGEST: image.config as string,
      },
      reportDir: tmp.path,
    });
    expect(s.failed, s.failures).toBe(0);
    expect(s.passed).toBeGreaterThanOrEqual(10);
  }, 320_000);
});

describe("OCI conformance: hosted registry, all four workflows", () => {
  let wharf: WharfProcess | undefined;
  const user = "conformance";
  const password = "conformance-password-for-tests";

  beforeAll(async () => {
    const htpasswd = join(tmp.path, "htpasswd");
    await writeFile(htpasswd, `${user}:${bcrypt.hashSync(password, 10)}\n`);
    wharf = await startWharf({
      config: {
        dataDir: join(tmp.path, "hosted-data"),
        listen: { http: `${loopbackIp()}:5000`, https: null, dns: null, admin: null },
        upstreamDns: `127.0.0.1:${await freePort()}`,
        access: { htpasswd },
        defaultRegistry: "registry.internal",
        registries: {
          "registry.internal": { hosted: { allowDelete: true } },
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await wharf?.stop();
  });

  it("passes pull, push, discovery and management", async () => {
    const s = await runConformance({
      root: (wharf as WharfProcess).httpUrl,
      namespace: "registry.internal/conformance/test",
      workflows: "pull,push,discovery,management",
      env: { OCI_USERNAME: user, OCI_PASSWORD: password },
      reportDir: tmp.path,
    });
    expect(s.failed, s.failures).toBe(0);
    expect(s.passed).toBeGreaterThanOrEqual(60);
  }, 320_000);
});
