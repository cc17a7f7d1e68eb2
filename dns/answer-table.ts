// Which names the DNS responder answers itself, and with which addresses. Pure helpers: the caller
// (wharf's serve command) builds the table once from the configuration and looks names up per query.
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import ipaddr from "ipaddr.js";

export interface AnswerEntry {
  readonly addresses: readonly string[];
}

export type AnswerTable = ReadonlyMap<string, AnswerEntry>;

/**
 * The lookup key for a name: ASCII lower case (DNS names compare case-insensitively, RFC 4343 §3)
 * without the trailing dot of the absolute form.
 */
export function normalizeName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** Maps every name to the same answer. Throws on an address that is not an IP literal. */
export function buildAnswerTable(opts: {
  names: readonly string[];
  addresses: readonly string[];
}): AnswerTable {
  const addresses = Object.freeze(opts.addresses.map(canonicalAddress));
  const entry: AnswerEntry = Object.freeze({ addresses });
  const table = new Map<string, AnswerEntry>();
  for (const name of opts.names) {
    const key = normalizeName(name.trim());
    if (key !== "") table.set(key, entry);
  }
  return table;
}

function canonicalAddress(address: string): string {
  const text = address.trim();
  if (!ipaddr.isValid(text)) throw new Error(`DNS answer "${address}" is not an IP address`);
  return ipaddr.parse(text).toString();
}

/**
 * The addresses to answer with when the configuration names none: the HTTPS listener's own address
 * when it is bound to one, otherwise this host's primary addresses (the first non-internal IPv4 and,
 * if any, the first global IPv6). A listener on 0.0.0.0 accepts IPv4 only, so it gets no AAAA:
 * answering with an address nobody listens on would break clients that prefer IPv6.
 */
export function defaultAnswerAddresses(
  httpsListenHost: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const host = httpsListenHost.trim().replace(/^\[(.*)\]$/, "$1");
  if (ipaddr.isValid(host)) {
    const addr = ipaddr.parse(host);
    if (addr.range() !== "unspecified") return [addr.toString()];
  }
  const ipv4Only = host === "0.0.0.0";
  const all = Object.values(interfaces).flatMap((list) => list ?? []);
  const out: string[] = [];
  const v4 = all.find((i) => i.family === "IPv4" && !i.internal);
  if (v4) out.push(v4.address);
  if (!ipv4Only) {
    const v6 = all.find((i) => i.family === "IPv6" && !i.internal && isGlobalIPv6(i.address));
    if (v6) out.push(ipaddr.parse(v6.address).toString());
  }
  return out;
}

// Global unicast only: link-local addresses need a zone and ULA/mapped ones are not "primary".
function isGlobalIPv6(address: string): boolean {
  if (!ipaddr.IPv6.isValid(address)) return false;
  return ipaddr.IPv6.parse(address).range() === "unicast";
}
