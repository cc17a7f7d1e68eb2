// Access control for a configuration with an `access:` section, loaded only then: its modules (jose
// for tokens, bcryptjs for htpasswd) add about 15 MiB of resident memory to a process that never
// checks a password. Without the section there is no authenticator: pulls work as before, pushes
// are refused.
import type { MetadataDb } from "../cache/metadata-db.ts";
import type { SharedMetadata } from "../store/pg/open-postgres.ts";
import type { AuthenticatorOptions, ClosableAuthenticator } from "./create-authenticator.ts";

export async function openAccess(
  opts: Omit<AuthenticatorOptions, "robots" | "tokenKey"> & {
    /** Robot tokens and the signing key live here, or in `shared` in a replica set. */
    db: Pick<MetadataDb, "connection">;
    shared: SharedMetadata | undefined;
  },
): Promise<ClosableAuthenticator | undefined> {
  if (!opts.config.access) return undefined;
  const { db, shared, ...rest } = opts;
  const [{ createAuthenticator }, { openIdentities }] = await Promise.all([
    import("./create-authenticator.ts"),
    import("../store/pg/shared-identities.ts"),
  ]);
  return createAuthenticator({ ...rest, ...(await openIdentities(db, shared)) });
}
