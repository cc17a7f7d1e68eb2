// Replaces wharf's own CA: the old pair is kept aside (ca.crt.old-<time>), a new CA is created and
// cached leaves are deleted, since they were signed by the old CA. Builders must then trust the new CA.
import { rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Ca, type CertLog, caFiles, loadOrCreateCa } from "./certificate-authority.ts";

export interface RotateCaOptions {
  dir: string;
  hostname: string;
  now?: number;
  log?: CertLog;
}

export interface RotatedCa {
  ca: Ca;
  /** Where the previous certificate and key were moved, if there were any. */
  previous?: { certFile: string; keyFile: string };
}

/** "2025-03-01T12:00:00.000Z" -> "20250301T120000.000Z": sortable and free of ':' for file names. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "");
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function rotateCa(opts: RotateCaOptions): Promise<RotatedCa> {
  const now = opts.now ?? Date.now();
  const { certFile, keyFile } = caFiles(opts.dir);
  let previous: RotatedCa["previous"];
  if ((await exists(certFile)) || (await exists(keyFile))) {
    const suffix = `.old-${stamp(now)}`;
    previous = { certFile: certFile + suffix, keyFile: keyFile + suffix };
    if (await exists(keyFile)) await rename(keyFile, previous.keyFile);
    if (await exists(certFile)) await rename(certFile, previous.certFile);
  }
  await rm(join(opts.dir, "leaves"), { recursive: true, force: true });
  const ca = await loadOrCreateCa({ dir: opts.dir, hostname: opts.hostname, now, log: opts.log });
  opts.log?.info({ certFile: ca.certFile, fingerprint256: ca.fingerprint256 }, "rotated local CA");
  return { ca, previous };
}
