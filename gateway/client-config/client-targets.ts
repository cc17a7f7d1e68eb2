// What every client-config generator starts from: the registries wharf serves, the host names it
// intercepts, and the mirror endpoint builders should use. Pure functions of the configuration.
import { isIP } from "node:net";
import type { Config } from "../config/schema.ts";

/** A file a generator produces, relative to the output directory (always "/"-separated). */
export interface GeneratedFile {
  path: string;
  content: string;
}

export interface ClientConfig {
  files: GeneratedFile[];
  /** What the operator still has to do on each builder, one paragraph per entry. */
  notes: string[];
}

export interface ClientTarget {
  registry: string;
  /** The upstream's URL; undefined for a hosted registry (wharf is its only server). */
  upstream: string | undefined;
  /** A hosted registry takes pushes through wharf. */
  hosted: boolean;
  /** The registry name and its aliases. */
  hosts: string[];
  /** True when wharf's DNS answers these names, so builders reach wharf's TLS listener under them. */
  intercept: boolean;
}

export function clientTargets(config: Config): ClientTarget[] {
  return Object.entries(config.registries).map(([registry, r]) => ({
    registry,
    upstream: r.upstream?.replace(/\/+$/, ""),
    hosted: r.hosted !== undefined,
    hosts: [registry, ...r.aliases],
    intercept: r.intercept,
  }));
}

export { interceptedHosts } from "../config/intercepted-names.ts";

/** Docker Hub's names: dockerd reads only the system trust store for them (see notes/clients.md). */
export function isDockerHub(host: string): boolean {
  return ["docker.io", "registry-1.docker.io", "index.docker.io"].includes(host);
}

/** Host part of a URL: IPv6 literals need brackets (RFC 3986 3.2.2). */
export function urlHost(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/**
 * wharf's mirror endpoint: the plain-HTTP listener (listen.http), or with `https` the TLS listener.
 * Throws when that listener is turned off.
 */
export function mirrorEndpoint(config: Config, address: string, https: boolean): string {
  const listener = https ? config.listen.https : config.listen.http;
  if (!listener) {
    const key = https ? "listen.https" : "listen.http";
    throw new Error(
      `${key} is off in the configuration, so there is no ${https ? "HTTPS" : "HTTP"} mirror endpoint`,
    );
  }
  const defaultPort = https ? 443 : 80;
  const port = listener.port === defaultPort ? "" : `:${listener.port}`;
  return `${https ? "https" : "http"}://${urlHost(address)}${port}`;
}

/** A note for TLS mirror endpoints given by IP: clients send no SNI for IP literals (RFC 6066 3). */
export function sniNote(address: string): string[] {
  if (!isIP(address)) return [];
  return [
    `The HTTPS mirror endpoint is given as the IP address ${address}. TLS clients send no server name (SNI) ` +
      "for IP addresses: list the address in tls.extraNames, and wharf answers such handshakes with the " +
      "certificate of its own names (or use a host name, --address NAME, or the plain-HTTP endpoint).",
  ];
}
