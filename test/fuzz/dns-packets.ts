// Hostile DNS messages for the responder fuzzer: random bytes, and valid queries mutated the ways
// parsers break (bit flips, truncation, bogus section counts, compression loops, oversized labels).
import { randomBytes, randomInt } from "node:crypto";
import { queryPacket } from "../support/dns-testbed.ts";

const NAMES = ["ghcr.io", "known.test", "nothing.test", "a.b.c.d.e.f.g.example"];

function validQuery(): Buffer {
  const q = queryPacket(
    randomInt(0x10000),
    NAMES[randomInt(NAMES.length)] as string,
    [1, 28, 6, 15, 255][randomInt(5)] as number,
  );
  if (randomInt(3) > 0) return q;
  // With an OPT record holding random options (RFC 6891 §6.1.2).
  const options = randomBytes(randomInt(0, 40));
  const opt = Buffer.from([
    0,
    0,
    41,
    0x04,
    0xd0,
    0,
    randomInt(2),
    0,
    0,
    options.length >> 8,
    options.length & 0xff,
  ]);
  const out = Buffer.concat([q, opt, options]);
  out.writeUInt16BE(1, 10);
  return out;
}

function header(id: number, counts: number[]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  for (const [i, c] of counts.entries()) h.writeUInt16BE(c, 4 + 2 * i);
  return h;
}

const MUTATIONS: Array<() => Buffer> = [
  () => randomBytes(randomInt(0, 600)),
  () => {
    const p = validQuery();
    for (let i = randomInt(1, 6); i > 0; i--) {
      const bit = randomInt(p.length * 8);
      p[bit >> 3] = (p[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    }
    return p;
  },
  () => {
    const p = validQuery();
    return p.subarray(0, randomInt(0, p.length));
  },
  () => {
    const p = validQuery();
    for (let i = 4; i < 12; i += 2) if (randomInt(2)) p.writeUInt16BE(randomInt(0x10000), i);
    return p;
  },
  // Compression loops: a name pointing at itself, and two pointers pointing at each other.
  () => Buffer.concat([header(randomInt(0x10000), [1, 0, 0, 0]), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]),
  () =>
    Buffer.concat([
      header(randomInt(0x10000), [1, 0, 0, 0]),
      Buffer.from([1, 0x61, 0xc0, 0x10, 0xc0, 0x0c, 0, 1, 0, 1]),
    ]),
  // Labels: over 63 bytes (the reserved 0x40/0x80 types), and names past 255 bytes.
  () =>
    Buffer.concat([
      header(randomInt(0x10000), [1, 0, 0, 0]),
      Buffer.from([0x7f]),
      randomBytes(127),
      Buffer.from([0, 0, 1, 0, 1]),
    ]),
  () => {
    const label = Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)]);
    const name = Buffer.concat([...Array.from({ length: randomInt(4, 9) }, () => label), Buffer.from([0])]);
    return Buffer.concat([header(randomInt(0x10000), [1, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
  },
  // Other opcodes, and answers (QR set).
  () => {
    const p = validQuery();
    p[2] = ((p[2] ?? 0) & 0x87) | (randomInt(1, 16) << 3);
    return p;
  },
  () => {
    const p = validQuery();
    p[2] = (p[2] ?? 0) | 0x80;
    return p;
  },
];

/** One hostile message. */
export function hostilePacket(): Buffer {
  return Buffer.from((MUTATIONS[randomInt(MUTATIONS.length)] as () => Buffer)());
}

/**
 * What the responder may answer to `sent` (the oracle does not use wharf's parser): nothing to
 * fewer than 12 bytes or to a response; otherwise the same ID with QR set, and either a bare
 * 12-byte FORMERR / NOTIMP (NOTIMP exactly when the opcode is not QUERY) or a full answer whose
 * question is the query's, byte for byte. Returns a description of the violation, or undefined.
 */
export function checkReply(sent: Buffer, reply: Buffer | undefined): string | undefined {
  const silentExpected = sent.length < 12 || ((sent[2] ?? 0) & 0x80) !== 0;
  if (reply === undefined) return undefined;
  if (silentExpected) return "answered a message that must get no answer";
  if (reply.length < 12 || ((reply[2] ?? 0) & 0x80) === 0) return "reply is not a DNS response";
  if (reply.readUInt16BE(0) !== sent.readUInt16BE(0)) return "reply ID differs from the query's";
  const rcode = (reply[3] ?? 0) & 0x0f;
  const opcode = ((sent[2] ?? 0) >> 3) & 0x0f;
  if (opcode !== 0)
    return rcode === 4 && reply.length === 12 ? undefined : "other opcode without bare NOTIMP";
  if (reply.length === 12) return rcode === 1 ? undefined : `bare header with rcode ${rcode}`;
  if (reply.readUInt16BE(4) !== 1) return "full answer without exactly one question";
  let at = 12;
  while (at < reply.length && reply[at] !== 0) at += 1 + (reply[at] ?? 0);
  const end = at + 5;
  if (!reply.subarray(12, end).equals(sent.subarray(12, end))) return "question not echoed byte for byte";
  return undefined;
}
