// With storage.kind s3, from wharf's host: can this replica reach its bucket with its keys, and its
// shared metadata database? The same reachability a replica needs at start, checked without
// starting one (no migration runs here; the schema version is only read).
import type { LoadedConfig } from "../config/load-config.ts";
import { loadPg } from "../store/pg/load-pg.ts";
import { describePgError } from "../store/pg/open-postgres.ts";
import { type CheckResult, fail, pass, reason } from "./check-result.ts";

export async function checkStorage(loaded: LoadedConfig, timeoutMs: number): Promise<CheckResult[]> {
  const { storage } = loaded.config;
  if (storage.kind !== "s3" || !storage.s3 || !loaded.storageCredentials) return [];
  const out: CheckResult[] = [];
  const where = `${storage.s3.endpoint} bucket ${storage.s3.bucket}`;
  // loaded only when storage.kind is s3 (open-shared-store.ts says why)
  const [{ HeadBucketCommand }, { createS3Client }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("../store/s3/s3-client.ts"),
  ]);
  const s3 = createS3Client(storage.s3, loaded.storageCredentials);
  try {
    await s3.client.send(new HeadBucketCommand({ Bucket: storage.s3.bucket }), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    out.push(pass("storage s3", `${where}: reachable with the configured keys`));
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const why =
      status === 403 ? "403: the keys are refused" : status === 404 ? "404: no such bucket" : reason(e);
    out.push(
      fail(
        "storage s3",
        `${where}: ${why}`,
        "check storage.s3 (endpoint, bucket, keys) and that the bucket exists",
      ),
    );
  } finally {
    s3.client.destroy();
  }
  if (loaded.metadataUrl) out.push(await checkPostgres(loaded.metadataUrl, timeoutMs));
  return out;
}

async function checkPostgres(
  url: NonNullable<LoadedConfig["metadataUrl"]>,
  timeoutMs: number,
): Promise<CheckResult> {
  const { Client } = await loadPg();
  const client = new Client({ connectionString: url.reveal(), connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    const exists = await client.query("SELECT to_regclass('wharf_schema') IS NOT NULL AS e");
    const version = exists.rows[0]?.e
      ? (await client.query("SELECT max(version) AS v FROM wharf_schema")).rows[0]?.v
      : null;
    return pass(
      "storage postgres",
      version
        ? `reachable, schema version ${version}`
        : "reachable, empty (the first replica to start creates the schema)",
    );
  } catch (e) {
    return fail(
      "storage postgres",
      describePgError(e, url),
      "check storage.postgres's URL, that the database exists and that this host may connect (pg_hba.conf)",
    );
  } finally {
    await client.end().catch(() => {});
  }
}
