// Source-network conditions of access rules: CIDR blocks matched against the address of the
// client's connection. IPv4 and IPv6; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a
// dual-stack socket reports for an IPv4 client) matches IPv4 blocks.
import { isIP } from "node:net";

export interface Cidr {
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
  prefix: number;
}

/** "10.0.0.0/8", "fd00::/8"; undefined when not a valid block. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return undefined;
  const bytes = addressBytes(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!bytes || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bytes.length * 8) return undefined;
  return { bytes, prefix };
}

/** The address as bytes (4 for IPv4, 16 for IPv6); a mapped IPv4 address as its 4 bytes. */
export function addressBytes(address: string): Uint8Array | undefined {
  const a = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const kind = isIP(a);
  if (kind === 4) return Uint8Array.from(a.split(".").map(Number));
  if (kind !== 6) return undefined;
  const zoneless = a.replace(/%.*$/, "");
  let head = zoneless;
  let tail = "";
  const dbl = zoneless.indexOf("::");
  if (dbl >= 0) {
    head = zoneless.slice(0, dbl);
    tail = zoneless.slice(dbl + 2);
  }
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const v4 = g.split(".").map(Number);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  // ::ffff:a.b.c.d
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return bytes.slice(12);
  return bytes;
}

export function inCidr(address: Uint8Array, block: Cidr): boolean {
  if (address.length !== block.bytes.length) return false;
  let bits = block.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((address[i] as number) & mask) !== ((block.bytes[i] as number) & mask)) return false;
  }
  return true;
}
