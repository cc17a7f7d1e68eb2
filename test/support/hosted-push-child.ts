// Child process for the hosted crash test: pushes images into a hosted registry in a loop
// (chunked layer uploads of random sizes, a config, a manifest PUT by tag, now and then an index)
// until its parent kills it with SIGKILL. Usage: node hosted-push-child.ts <dataDir>
import { randomBytes, randomInt } from "node:crypto";
import { OCI_INDEX, OCI_MANIFEST } from "../../gateway/oci/media-types.ts";
import { parseReference } from "../../gateway/oci/reference.ts";
import {
  digestOfBytes,
  imageManifest,
  indexManifest,
  openHosted,
  pushBlob,
  pushChunked,
} from "../../gateway/registry/hosted/hosted.test-support.ts";

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: hosted-push-child.ts <dataDir>");
const { reg } = await openHosted(dataDir);
process.stdout.write("ready\n");
for (let n = 0; ; n++) {
  const layer = await pushChunked(
    reg,
    "crash/app",
    randomBytes(randomInt(64 * 1024, 2 * 1024 * 1024)),
    randomInt(16, 512) * 1024,
  );
  const config = await pushBlob(reg, "crash/app", Buffer.from(JSON.stringify({ n, at: Date.now() })));
  const body = imageManifest(config, [layer]);
  await reg.putManifest("crash/app", parseReference(`t${n % 3}`), body, OCI_MANIFEST);
  if (n % 2 === 1) {
    const index = indexManifest([{ digest: digestOfBytes(body).value, size: body.length }]);
    await reg.putManifest("crash/app", parseReference("multi"), index, OCI_INDEX);
  }
  process.stdout.write(`pushed ${n}\n`);
}
