// Encoding the answers the responder gives itself (RFC 1035 §4.1) with dns2. Its AAAA encoder
// cannot write IPv4-mapped text ("::ffff:1.2.3.4"), so addresses reach it in ipaddr.js's
// normalized form.
import { Packet, type Resource } from "dns2";
import ipaddr from "ipaddr.js";
import type { DnsHeader, DnsQuery } from "./dns-query.ts";

export const TYPE_A = 1;
export const TYPE_SOA = 6;
export const TYPE_AAAA = 28;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 };

/** The UDP payload size we advertise (DNS Flag Day 2020 recommendation, no IP fragmentation). */
const OUR_UDP_SIZE = 1232;

/**
 * Our own authoritative answer for an intercepted name: A and AAAA records from `addresses`, or
 * NODATA (NOERROR, no records) for any other type or class. Each intercepted name is answered as
 * the apex of its own zone, so a SOA query gets the synthetic SOA and a NODATA answer carries it
 * in the authority section, which is what lets resolvers cache the absence (RFC 2308 §2.2, §5).
 * `maxSize` is the transport limit; an answer that does not fit is sent empty with TC set so the
 * client retries over TCP (RFC 2181 §9).
 */
export function encodeAnswer(
  query: DnsQuery,
  addresses: readonly string[],
  ttl: number,
  maxSize: number,
): Buffer {
  const response = baseResponse(query, RCODE.NOERROR);
  response.header.aa = 1;
  response.header.ra = 1;
  if (query.edns && query.edns.version !== 0) return finish(response, query, RCODE.BADVERS);
  if (query.class === CLASS_IN || query.class === CLASS_ANY) {
    for (const text of addresses) {
      if (!ipaddr.isValid(text)) continue;
      const addr = ipaddr.parse(text);
      const type = addr.kind() === "ipv4" ? TYPE_A : TYPE_AAAA;
      if (query.type !== type && query.type !== TYPE_ANY) continue;
      // Normalized form: dns2's AAAA encoder only understands plain hex groups.
      const address = addr.kind() === "ipv4" ? addr.toString() : addr.toNormalizedString();
      response.answers.push({ name: query.wireName, type, class: CLASS_IN, ttl, address } as Resource);
    }
    if (query.type === TYPE_SOA) response.answers.push(soaRecord(query.wireName, ttl));
    if (response.answers.length === 0) response.authorities.push(soaRecord(query.wireName, ttl));
  }
  const full = finish(response, query, RCODE.NOERROR);
  if (full.length <= maxSize) return full;
  response.answers = [];
  response.authorities = [];
  response.header.tc = 1;
  return finish(response, query, RCODE.NOERROR);
}

/** An error answer (SERVFAIL, REFUSED, ...) that echoes the question. */
export function encodeError(query: DnsQuery, rcode: number): Buffer {
  const response = baseResponse(query, rcode);
  // Recursion is available to allowed clients (through the upstream), not to refused ones.
  response.header.ra = rcode === RCODE.REFUSED ? 0 : 1;
  return finish(response, query, rcode);
}

/**
 * An answer to a message whose header could be read but nothing else (FORMERR), or whose opcode we
 * do not serve (NOTIMP): the header only, with no sections, since there is no question to echo.
 */
export function encodeHeaderError(header: DnsHeader, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(header.id, 0);
  // QR, the query's opcode and RD; RA set as in encodeError; CD copied (RFC 6840 §5.9).
  out[2] = 0x80 | (header.opcode << 3) | header.rd;
  out[3] = 0x80 | (header.cd << 4) | (rcode & 0x0f);
  return out;
}

/**
 * The synthetic SOA of the zone an intercepted name stands for: the name itself as primary server,
 * hostmaster.<name> as contact, and the configured TTL both as the record's TTL and as MINIMUM, so
 * a NODATA answer is cached exactly as long as an address would be (RFC 2308 §3, §5). The serial
 * never changes: there are no zone transfers, so nothing compares it.
 */
function soaRecord(zone: string, ttl: number): Resource {
  const apex = zone.endsWith(".") ? zone.slice(0, -1) : zone;
  return {
    name: zone,
    type: TYPE_SOA,
    class: CLASS_IN,
    ttl,
    primary: apex,
    admin: apex === "" ? "hostmaster" : `hostmaster.${apex}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expiration: 86400,
    minimum: ttl,
  } as unknown as Resource;
}

function baseResponse(query: DnsQuery, rcode: number): Packet {
  const response = new Packet();
  response.header = new Packet.Header({ id: query.id, qr: 1, opcode: query.opcode, rd: query.rd, rcode });
  (response.header as { cd?: number }).cd = query.cd;
  const question = new Packet.Question(query.wireName);
  // Set after construction: dns2's constructor replaces a 0 type or class with ANY.
  question.type = query.type;
  question.class = query.class;
  response.questions = [question];
  return response;
}

// A query with OPT gets OPT back (RFC 6891 §7); rcodes above 15 live partly in it (§6.1.3).
function finish(response: Packet, query: DnsQuery, rcode: number): Buffer {
  response.header.rcode = rcode;
  response.additionals = query.edns ? [optRecord()] : [];
  return response.toBuffer();
}

// dns2's typings omit EDNS()'s options argument.
const makeOpt = Packet.Resource.EDNS as (rdata: object[], opts: { udpPayloadSize: number }) => Resource;
function optRecord(): Resource {
  return makeOpt([], { udpPayloadSize: OUR_UDP_SIZE });
}
