// WWW-Authenticate challenges (RFC 7235; registry token auth, distribution docs "token.md").

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a b"`. */
export function parseWwwAuthenticate(header: string | undefined | null): Challenge[] {
  if (!header) return [];
  const challenges: Challenge[] = [];
  const re =
    /\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)((?:\s*,?\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*))*)\s*,?/gy;
  let m: RegExpExecArray | null = re.exec(header);
  while (m && m[0].length > 0) {
    const params: Record<string, string> = {};
    const paramRe = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
    for (const p of (m[2] ?? "").matchAll(paramRe)) {
      params[(p[1] as string).toLowerCase()] =
        p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
    }
    challenges.push({ scheme: (m[1] as string).toLowerCase(), params });
    m = re.exec(header);
  }
  return challenges;
}
