// Images of random, incompressible layers (random-images.sh) pushed to the loopback internet's
// hub, for tests that need blobs no other test has cached: big layers to range over, to tamper
// with, to stall on or to evict.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoopbackInternet, PRIVATE_PASSWORD, PRIVATE_USER } from "./loopback-internet.ts";
import { runCommand } from "./run-command.ts";
import { runSkopeo } from "./skopeo.ts";

const RANDOM_IMAGES = fileURLToPath(new URL("./random-images.sh", import.meta.url));

/** The single layer of one pushed image. */
export interface RandomLayer {
  digest: string;
  size: number;
  bytes: Buffer;
}

/**
 * Builds `count` single-layer images of `mib` MiB in `layout` and pushes image i to the hub as
 * `reference(i)` ("library/r0:1"); returns each image's layer, in order.
 */
export async function pushRandomImages(
  net: LoopbackInternet,
  o: { layout: string; count: number; mib: number; reference: (i: number) => string },
): Promise<RandomLayer[]> {
  await runCommand(["bash", RANDOM_IMAGES, o.layout, String(o.count), String(o.mib)]);
  const indices = Array.from({ length: o.count }, (_, i) => i);
  await Promise.all(
    indices.map((i) =>
      runSkopeo([
        "copy",
        "--dest-cert-dir",
        net.ca.certDir,
        "--dest-creds",
        `${PRIVATE_USER}:${PRIVATE_PASSWORD}`,
        `oci:${o.layout}:img${i}`,
        `docker://${net.hub.host}/${o.reference(i)}`,
      ]),
    ),
  );
  return Promise.all(indices.map((i) => layerOf(o.layout, i)));
}

async function layerOf(layout: string, i: number): Promise<RandomLayer> {
  const path = (d: string) => join(layout, "blobs", d.replace(":", "/"));
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const top = index.manifests.find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === `img${i}`,
  );
  const manifest = JSON.parse(await readFile(path(top.digest), "utf8"));
  const l = manifest.layers[0] as { digest: string; size: number };
  return { digest: l.digest, size: l.size, bytes: await readFile(path(l.digest)) };
}
