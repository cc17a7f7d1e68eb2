// Issue 16: no password or token may show in wharf's logs, /metrics, /api/status or an error
// body. Searches each text for each secret as written and as it travels in a Basic header
// (base64 of user:password), and names the places it was found.

export interface Login {
  user: string;
  password: string;
}

/** Every form a secret could leak in: the text itself, and base64 of user:secret for logins. */
function forms(secrets: readonly string[], logins: readonly Login[]): string[] {
  const out = new Set(secrets.filter((s) => s.length >= 6));
  for (const l of logins) {
    out.add(l.password);
    out.add(Buffer.from(`${l.user}:${l.password}`).toString("base64"));
  }
  return [...out];
}

/** "<place>: <secret prefix>…" for every secret found; empty when none. */
export function leakedSecrets(
  places: Record<string, string>,
  secrets: readonly string[],
  logins: readonly Login[] = [],
): string[] {
  const found: string[] = [];
  for (const secret of forms(secrets, logins))
    for (const [place, text] of Object.entries(places))
      if (text.includes(secret)) found.push(`${place}: ${secret.slice(0, 4)}…`);
  return found;
}
