// What the soak runs against, all on loopback addresses of its own: docker-registry (TLS, no
// auth) holding random single-layer images, the tamper proxy in front of it (faults on demand),
// and a real wharf process whose cache is much smaller than the images (constant eviction).
// Two registries share the one upstream: soak.test (tags fresh for an hour) and storm.soak.test
// (tagTtl 0: every manifest request revalidates), reached by path prefix on wharf's HTTP listener.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loopbackIp } from "../test/support/ports.ts";
import { runCommand } from "../test/support/run-command.ts";
import { runSkopeo } from "../test/support/skopeo.ts";
import { startTamperProxy, type TamperProxy } from "../test/support/tamper-proxy.ts";
import { makeTempDir } from "../test/support/temp-dir.ts";
import { makeTestCa, type TestCa } from "../test/support/test-ca.ts";
import { startUpstreamRegistry, type UpstreamRegistry } from "../test/support/upstream-registry.ts";
import { startWharf, type WharfProcess } from "../test/support/wharf-process.ts";
import { ensureBenchTools } from "./bench-world.ts";

const RANDOM_IMAGES = fileURLToPath(new URL("../test/support/random-images.sh", import.meta.url));

export const STORM_REGISTRY = "storm.soak.test";

export interface SoakBlob {
  digest: string;
  bytes: Buffer;
}

export interface SoakImage {
  /** Repository in the upstream (and in wharf's default registry). */
  repository: string;
  tag: string;
  manifest: SoakBlob;
  config: SoakBlob;
  layer: SoakBlob;
}

export interface SoakWorld {
  ca: TestCa;
  upstream: UpstreamRegistry;
  proxy: TamperProxy;
  wharf: WharfProcess;
  /** The config file wharf was started with (for `wharf cache gc`). */
  configFile: string;
  images: SoakImage[];
  scratch: string;
  stop(): Promise<void>;
}

export interface SoakWorldOptions {
  images: number;
  layerMiB: number;
  maxSize: string;
  log: (line: string) => void;
}

function readLayout(layout: string, count: number): SoakImage[] {
  const blob = (digest: string): SoakBlob => ({
    digest,
    bytes: readFileSync(join(layout, "blobs", "sha256", digest.slice("sha256:".length))),
  });
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string }[];
  };
  return index.manifests.slice(0, count).map((d, i) => {
    const manifest = blob(d.digest);
    const m = JSON.parse(manifest.bytes.toString("utf8")) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    return {
      repository: `soak/r${i}`,
      tag: "1",
      manifest,
      config: blob(m.config.digest),
      layer: blob(m.layers[0]?.digest as string),
    };
  });
}

export async function startSoakWorld(o: SoakWorldOptions): Promise<SoakWorld> {
  await ensureBenchTools(o.log);
  const temp = await makeTempDir("wharf-soak-");
  const stops: (() => Promise<unknown>)[] = [() => temp.remove()];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
  };
  try {
    const ip = { upstream: loopbackIp(), proxy: loopbackIp(), wharf: loopbackIp() };
    const ca = await makeTestCa(join(temp.path, "pki"), { dnsNames: ["soak.test"], ips: Object.values(ip) });
    const layout = join(temp.path, "layout");
    await runCommand(["bash", RANDOM_IMAGES, layout, String(o.images), String(o.layerMiB)], {
      timeoutMs: 300_000,
    });
    const images = readLayout(layout, o.images);
    const upstream = await startUpstreamRegistry({ host: ip.upstream, cert: ca.cert, key: ca.key });
    stops.push(() => upstream.stop());
    await Promise.all(
      images.map((img, i) =>
        runSkopeo([
          "copy",
          "--dest-cert-dir",
          ca.certDir,
          `oci:${layout}:img${i}`,
          `docker://${ip.upstream}/${img.repository}:${img.tag}`,
        ]),
      ),
    );
    o.log(`soak: ${images.length} images of ${o.layerMiB} MiB pushed to the upstream`);
    const proxy = await startTamperProxy({
      host: ip.proxy,
      cert: ca.cert,
      key: ca.key,
      upstream: upstream.url,
      caFile: ca.caCert,
    });
    stops.push(() => proxy.stop());
    const wharf = await startWharf({
      config: {
        listen: { http: `${ip.wharf}:5000` },
        upstreamCaFile: ca.caCert,
        // nothing resolves through DNS here (upstreams are IP addresses): a dead port on loopback
        upstreamDns: `${ip.wharf}:9`,
        logLevel: "warn",
        defaultRegistry: "soak.test",
        cache: { maxSize: o.maxSize, minFree: "1MiB", evictInterval: "2s" },
        registries: {
          "soak.test": { upstream: proxy.url, tagTtl: "1h" },
          [STORM_REGISTRY]: { upstream: proxy.url, tagTtl: 0 },
        },
      },
    });
    stops.push(() => wharf.stop());
    return {
      ca,
      upstream,
      proxy,
      wharf,
      configFile: join(wharf.dir, "wharf.yml"),
      images,
      scratch: temp.path,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
