// The benchmark's images (bench/images.sh), built once per machine and size (cachedLayout: keyed by
// the scripts, the busybox binary and the sizes; a half-built layout is never used).
import { fileURLToPath } from "node:url";
import { cachedLayout, IMAGES_SCRIPT } from "../test/support/image-cache.ts";
import { readManifestDigests, type TagDigests } from "../test/support/images.ts";
import { runSkopeo } from "../test/support/skopeo.ts";

const BENCH_SCRIPT = fileURLToPath(new URL("./images.sh", import.meta.url));

export interface Layer {
  digest: string;
  size: number;
}

export interface BenchImages {
  layout: string;
  big: TagDigests;
  /** The big image's large layer (figures 2 and 5). */
  bigLayer: Layer;
  /** The layer 32 clients fetch while it is not cached yet (figure 4). */
  fillLayer: Layer;
  /** Repository and tag of every pushed image: tag -> "library/<tag>:latest". */
  refs: Record<string, string>;
}

function buildLayout(bigMiB: number, midMiB: number): Promise<string> {
  return cachedLayout({
    name: "wharf-bench-images",
    script: BENCH_SCRIPT,
    args: [String(bigMiB), String(midMiB)],
    inputs: [IMAGES_SCRIPT],
    timeoutMs: 600_000,
  });
}

function largest(t: TagDigests): Layer {
  const size = Math.max(...t.layerSizes);
  return { digest: t.layers[t.layerSizes.indexOf(size)] as string, size };
}

/** Builds (or reuses) the layout. With midMiB 0 the fill figure uses the big layer itself. */
export async function benchImages(bigMiB: number, midMiB: number): Promise<BenchImages> {
  const layout = await buildLayout(bigMiB, midMiB);
  const big = readManifestDigests("big", layout);
  const bigLayer = largest(big);
  const fillLayer = midMiB > 0 ? largest(readManifestDigests("mid", layout)) : bigLayer;
  const tags = ["big", "many", "multi", "busybox", ...(midMiB > 0 ? ["mid"] : [])];
  const refs: Record<string, string> = {};
  for (const tag of tags) refs[tag] = `library/${tag}:latest`;
  // The tag-TTL figure gets a repository of its own, so its short TTL touches nothing else.
  refs.ttl = "library/ttl:latest";
  // ...and the revalidation-storm figure one whose tags are checked upstream on every pull
  refs.always = "library/always:latest";
  return { layout, big, bigLayer, fillLayer, refs };
}

/** Pushes every image (all platforms, digests kept) to `host`, which `hosts` maps to an address. */
export async function pushBenchImages(
  images: BenchImages,
  host: string,
  access: { certDir: string; hosts: Record<string, string> },
): Promise<void> {
  const sources: Record<string, string> = { ttl: "busybox", always: "busybox" };
  await Promise.all(
    Object.entries(images.refs).map(([tag, ref]) =>
      runSkopeo(
        [
          "copy",
          "--all",
          "--preserve-digests",
          "--dest-cert-dir",
          access.certDir,
          `oci:${images.layout}:${sources[tag] ?? tag}`,
          `docker://${host}/${ref}`,
        ],
        { hosts: access.hosts, timeoutMs: 600_000 },
      ),
    ),
  );
}
