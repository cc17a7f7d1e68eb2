// vitest globalSetup: runs once per `vitest run`, before any test file. Makes sure the tools the
// end-to-end tests drive are installed, builds the test images once (cached across runs), and
// deletes network namespaces left behind by test workers that were killed.
import type { TestProject } from "vitest/node";
import { buildImageCache } from "./image-cache.ts";
import { sweepStaleTopologies } from "./netns-cleanup.ts";
import { ensureSystemPackages } from "./system-packages.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the OCI image layout built by images.sh (tags busybox, multi, big). */
    imagesDir: string;
  }
}

/** Read by images.ts when `inject` is not available (code run outside a vitest worker). */
export const IMAGES_ENV = "WHARF_TEST_IMAGES";

async function sweep(): Promise<void> {
  const swept = await sweepStaleTopologies();
  if (swept.length > 0) console.warn(`e2e: deleted leftover network namespaces: ${swept.join(" ")}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureSystemPackages();
  await sweep();
  const started = Date.now();
  const imagesDir = await buildImageCache();
  const took = Date.now() - started;
  if (took > 1000) console.log(`e2e: test images built in ${(took / 1000).toFixed(1)} s: ${imagesDir}`);
  project.provide("imagesDir", imagesDir);
  process.env[IMAGES_ENV] = imagesDir;
  return sweep;
}
