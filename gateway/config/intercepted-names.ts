// The names wharf stands in for. One definition for DNS answers, compose aliases, certs.d
// directories and doctor's checks, so they cannot drift apart.
import type { Config } from "./schema.ts";

/** Registry names and aliases of every registry with `intercept: true`, ports kept (certs.d uses host:port). */
export function interceptedHosts(config: Config): string[] {
  return Object.entries(config.registries).flatMap(([name, r]) => (r.intercept ? [name, ...r.aliases] : []));
}

/** Every DNS name builders reach wharf under: interceptedHosts without ports, plus dns.extraNames; unique, config order. */
export function interceptedNames(config: Config): string[] {
  return [
    ...new Set([...interceptedHosts(config), ...config.dns.extraNames].map((h) => h.replace(/:\d+$/, ""))),
  ];
}
