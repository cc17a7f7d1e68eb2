// The htpasswd format (Apache's htpasswd(1)): one `user:hash` per line. wharf accepts bcrypt only
// (`$2y$` as htpasswd -B writes it, `$2a$`/`$2b$` as other tools do), the one kind in the file that
// is slow to brute-force; the others (MD5 `$apr1$`, `{SHA}`, crypt, plain text) are refused.

export type RefusedKind = "md5" | "sha1" | "crypt" | "sha2-crypt" | "plain" | "unknown";

export type ParsedHtpasswd =
  | { users: Map<string, string>; refused: { user: string; kind: RefusedKind }[] }
  | { error: string };

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** Users with a bcrypt hash, and the users refused for another kind. Errors never quote a line. */
export function parseHtpasswd(text: string): ParsedHtpasswd {
  const users = new Map<string, string>();
  const refused: { user: string; kind: RefusedKind }[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    // The line may hold a hash or a pasted password: say where, never what.
    if (colon <= 0) return { error: `line ${i + 1}: expected user:hash` };
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (users.has(user) || refused.some((r) => r.user === user)) {
      return { error: `line ${i + 1}: user ${JSON.stringify(user)} appears twice` };
    }
    if (BCRYPT.test(hash)) users.set(user, hash);
    else refused.push({ user, kind: hashKind(hash) });
  }
  return { users, refused };
}

function hashKind(hash: string): RefusedKind {
  if (hash.startsWith("$apr1$") || hash.startsWith("$1$")) return "md5";
  if (hash.startsWith("{SHA}")) return "sha1";
  if (/^\$[56]\$/.test(hash)) return "sha2-crypt";
  if (hash.startsWith("$")) return "unknown";
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return "crypt";
  return "plain";
}
