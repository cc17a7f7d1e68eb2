// A pull as dockerd does it (clients.md): HEAD the tag, GET the manifest by digest, GET every
// blob it names, each body checked against its digest. Speaks plain HTTP to wharf's mirror
// endpoint with a registry path prefix, so tests can count precisely what one pull costs.
import { createHash } from "node:crypto";

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface PullResult {
  digest: string;
  warning: string | null;
  blobs: string[];
}

async function checked(url: string, expected: string): Promise<Buffer> {
  const res = await fetch(url, { headers: { accept: ACCEPT } });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  const body = Buffer.from(await res.arrayBuffer());
  const actual = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  if (actual !== expected) throw new Error(`GET ${url}: digest ${actual}, expected ${expected}`);
  return body;
}

/** Pulls registry/repo:tag (single-platform manifests; for an index, its first platform). */
export async function pullImage(base: string, image: string, tag: string): Promise<PullResult> {
  const head = await fetch(`${base}/v2/${image}/manifests/${tag}`, {
    method: "HEAD",
    headers: { accept: ACCEPT },
  });
  if (head.status !== 200) {
    const body = await fetch(`${base}/v2/${image}/manifests/${tag}`, { headers: { accept: ACCEPT } }).then(
      (r) => r.text(),
    );
    throw new Error(`HEAD ${image}:${tag}: ${head.status} ${body}`);
  }
  const digest = head.headers.get("docker-content-digest") as string;
  let manifest = JSON.parse(
    (await checked(`${base}/v2/${image}/manifests/${digest}`, digest)).toString(),
  ) as {
    manifests?: { digest: string }[];
    config?: { digest: string };
    layers?: { digest: string }[];
  };
  if (manifest.manifests?.[0]) {
    const child = manifest.manifests[0].digest;
    manifest = JSON.parse((await checked(`${base}/v2/${image}/manifests/${child}`, child)).toString());
  }
  const blobs = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)].filter(
    (d): d is string => !!d,
  );
  for (const b of blobs) await checked(`${base}/v2/${image}/blobs/${b}`, b);
  return { digest, warning: head.headers.get("warning"), blobs };
}
