// Parsing the queries we receive (RFC 1035 §4.1). dns2 decodes the header and the question; two
// pieces are our own because dns2 gets them wrong:
// - its name decoder turns each label into text and joins with ".", so a label holding a "." byte
//   reads as two labels. A question is accepted only if dns2 re-encodes it to the exact wire bytes,
//   which also guarantees that the question we echo is the client's, byte for byte (0x20 case
//   randomisation, draft-vixie-dnsext-dns0x20, relies on that);
// - its record parser skips unknown EDNS options by their length in bits, not bytes (so dig's
//   COOKIE option derails it), and tries every record the header counts, catching one exception
//   per missing record (a 12-byte packet claiming 3 × 65535 records costs it seconds). The OPT
//   record is therefore found by a small bounds-checked walk below.
import { Packet } from "dns2";
import { normalizeName } from "./answer-table.ts";

export const TYPE_OPT = 41;

/** The size every DNS client accepts over UDP without EDNS (RFC 1035 §4.2.1). */
const CLASSIC_UDP_SIZE = 512;

export interface DnsQuery {
  id: number;
  /** Lookup key: lower case, no trailing dot. */
  name: string;
  /** The name as sent, for echoing in answers. */
  wireName: string;
  type: number;
  class: number;
  /** The question section exactly as it came off the wire. */
  question: Buffer;
  opcode: number;
  rd: 0 | 1;
  cd: number;
  /** Present when the query carried an OPT record (RFC 6891 §6.1). */
  edns?: { udpSize: number; version: number };
}

/** What a header alone tells: enough to send an error answer (RFC 1035 §4.1.1). */
export interface DnsHeader {
  id: number;
  opcode: number;
  rd: 0 | 1;
  cd: number;
}

/**
 * How a message is answered: `query` is a standard query with one question; `formerr` is a query
 * whose header could be read but whose body could not (FORMERR, RFC 1035 §4.1.1: "unable to
 * interpret the query"); `notimp` is another opcode (NOTIMP). Undefined (no answer at all) for
 * fewer than 12 bytes, or for a response (QR set): answering those invites reflection loops.
 */
export type ReadMessage =
  | { kind: "query"; query: DnsQuery }
  | { kind: "formerr" | "notimp"; header: DnsHeader }
  | undefined;

export function readMessage(raw: Buffer): ReadMessage {
  if (raw.length < 12 || (raw[2] ?? 0) & 0x80) return undefined;
  const flags = raw.readUInt16BE(2);
  const header: DnsHeader = {
    id: raw.readUInt16BE(0),
    opcode: (flags >> 11) & 0x0f,
    rd: ((flags >> 8) & 1) as 0 | 1,
    cd: (flags >> 4) & 1,
  };
  if (header.opcode !== 0) return { kind: "notimp", header };
  const query = parseQuery(raw);
  return query ? { kind: "query", query } : { kind: "formerr", header };
}

/** A standard query (opcode QUERY) with one question, or undefined for anything else. */
export function parseQuery(raw: Buffer): DnsQuery | undefined {
  if (raw.length < 12) return undefined;
  try {
    const h = Packet.Header.parse(raw);
    if (h.qr !== 0 || h.opcode !== 0 || h.qdcount !== 1) return undefined;
    const q = Packet.Question.decode(new Packet.Reader(raw, 12 * 8));
    const encoded = Packet.Question.encode(q);
    const question = raw.subarray(12, 12 + encoded.length);
    if (!question.equals(encoded)) return undefined;
    const edns = findOpt(raw, 12 + encoded.length, h.ancount + h.nscount + h.arcount);
    if (edns === null) return undefined;
    return {
      id: h.id,
      name: normalizeName(q.name),
      wireName: q.name,
      type: q.type,
      class: q.class,
      question: Buffer.from(question),
      opcode: h.opcode,
      rd: h.rd,
      cd: (h as { cd?: number }).cd ?? 0,
      ...(edns ? { edns } : {}),
    };
  } catch {
    // dns2 throws RangeError on names running past the end, and Error on pointer loops.
    return undefined;
  }
}

/** The largest answer the client accepts over UDP (RFC 6891 §6.2.5: below 512 counts as 512). */
export function udpLimit(query: DnsQuery): number {
  return query.edns ? query.edns.udpSize : CLASSIC_UDP_SIZE;
}

// Walks `count` resource records from `offset` and returns the OPT record's payload size and
// version, undefined when there is none, or null when the records run past the packet.
function findOpt(raw: Buffer, offset: number, count: number): DnsQuery["edns"] | null {
  let edns: DnsQuery["edns"];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const nameEnd = skipName(raw, at);
    if (nameEnd === undefined || nameEnd + 10 > raw.length) return null;
    const type = raw.readUInt16BE(nameEnd);
    const end = nameEnd + 10 + raw.readUInt16BE(nameEnd + 8);
    if (end > raw.length) return null;
    if (type === TYPE_OPT && nameEnd === at + 1 && raw[at] === 0) {
      const udpSize = Math.max(CLASSIC_UDP_SIZE, raw.readUInt16BE(nameEnd + 2));
      edns = { udpSize, version: raw[nameEnd + 5] ?? 0 };
    }
    at = end;
  }
  return edns;
}

// The offset just past a wire-format name: labels up to the root label, or up to a 2-byte pointer.
function skipName(raw: Buffer, offset: number): number | undefined {
  let at = offset;
  while (at < raw.length) {
    const len = raw[at] ?? 0;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= raw.length ? at + 2 : undefined;
    if (len & 0xc0) return undefined;
    at += 1 + len;
  }
  return undefined;
}
