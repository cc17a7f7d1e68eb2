import { Packet } from "dns2";
import { describe, expect, it } from "vitest";
import { queryPacket } from "../test/support/dns-testbed.ts";
import { encodeAnswer, encodeError, encodeHeaderError, RCODE } from "./dns-answer.ts";
import { type DnsQuery, parseQuery } from "./dns-query.ts";

function query(name: string, type: number, opt?: { udpSize: number; version: number }): DnsQuery {
  let raw = queryPacket(0xabcd, name, type);
  if (opt) {
    raw = Buffer.concat([
      raw,
      Buffer.from([0, 0, 41, opt.udpSize >> 8, opt.udpSize & 0xff, 0, opt.version, 0, 0, 0, 0]),
    ]);
    raw.writeUInt16BE(1, 10);
  }
  const q = parseQuery(raw);
  if (!q) throw new Error("test query did not parse");
  return q;
}

// RDATA of every answer record, read straight from the wire (no dns2 decoding involved).
function rdatas(answer: Buffer, q: DnsQuery): string[] {
  let at = 12 + q.question.length;
  const out: string[] = [];
  for (let i = 0; i < answer.readUInt16BE(6); i++) {
    at += 2; // compressed name: a pointer to the question
    const len = answer.readUInt16BE(at + 8);
    out.push(answer.subarray(at + 10, at + 10 + len).toString("hex"));
    at += 10 + len;
  }
  return out;
}

describe("encodeAnswer", () => {
  it("answers A authoritatively, echoing ID, question and RD, with the TTL", () => {
    const q = query("GhCr.Io", 1);
    const answer = encodeAnswer(q, ["10.1.2.3", "fd00::5"], 42, 512);
    const p = Packet.parse(answer);
    expect(p.header).toMatchObject({ id: 0xabcd, qr: 1, aa: 1, rd: 1, ra: 1, tc: 0, rcode: 0 });
    expect(answer.subarray(12, 12 + q.question.length)).toEqual(q.question);
    expect(p.answers).toMatchObject([{ name: "GhCr.Io", type: 1, class: 1, ttl: 42, address: "10.1.2.3" }]);
    expect(p.additionals).toEqual([]); // no OPT in the query, none in the answer
  });

  it("encodes AAAA exactly, IPv4-mapped included", () => {
    const q = query("ghcr.io", 28);
    const answer = encodeAnswer(q, ["10.1.2.3", "2001:db8::1", "::ffff:192.0.2.1"], 30, 512);
    expect(rdatas(answer, q)).toEqual([
      "20010db8000000000000000000000001",
      "00000000000000000000ffffc0000201",
    ]);
  });

  it("gives NODATA for types it has no record of, still authoritative, with the zone's SOA (RFC 2308 §3)", () => {
    for (const q of [query("ghcr.io", 15), query("GHCR.io", 28)]) {
      const p = Packet.parse(encodeAnswer(q, ["10.1.2.3"], 30, 512));
      expect(p.header).toMatchObject({ aa: 1, rcode: 0 });
      expect(p.answers).toEqual([]);
      expect(p.authorities).toMatchObject([
        { name: q.wireName, type: 6, class: 1, ttl: 30, primary: q.wireName, minimum: 30 },
      ]);
      expect(p.authorities[0]).toMatchObject({ admin: `hostmaster.${q.wireName}` });
    }
    // Addresses found: no authority section.
    expect(Packet.parse(encodeAnswer(query("ghcr.io", 1), ["10.1.2.3"], 30, 512)).authorities).toEqual([]);
  });

  it("answers a SOA query with the synthetic SOA", () => {
    const p = Packet.parse(encodeAnswer(query("ghcr.io", 6), ["10.1.2.3"], 30, 512));
    expect(p.answers).toMatchObject([{ name: "ghcr.io", type: 6, minimum: 30 }]);
    expect(p.authorities).toEqual([]);
  });
});

describe("encodeHeaderError", () => {
  it("echoes ID, opcode, RD and CD with QR set, the rcode, and no sections", () => {
    const out = encodeHeaderError({ id: 0x1234, opcode: 2, rd: 1, cd: 1 }, RCODE.FORMERR);
    expect(out.toString("hex")).toBe("1234" + "91" + "91" + "0000000000000000");
    expect(Packet.parse(out).header).toMatchObject({
      id: 0x1234,
      qr: 1,
      opcode: 2,
      rd: 1,
      rcode: 1,
      qdcount: 0,
    });
  });

  it("sets TC and sends no records when the answer does not fit", () => {
    const many = Array.from({ length: 40 }, (_, i) => `2001:db8::${i + 1}`);
    const q = query("ghcr.io", 28);
    const small = Packet.parse(encodeAnswer(q, many, 30, 512));
    expect(small.header.tc).toBe(1);
    expect(small.answers).toEqual([]);
    expect(Packet.parse(encodeAnswer(q, many, 30, 65535)).answers).toHaveLength(40);
  });

  it("returns OPT to EDNS queries and BADVERS to EDNS versions above 0 (RFC 6891 §6.1.3)", () => {
    const ok = Packet.parse(
      encodeAnswer(query("ghcr.io", 1, { udpSize: 4096, version: 0 }), ["10.1.2.3"], 30, 4096),
    );
    expect(ok.additionals).toMatchObject([{ type: 41, class: 1232 }]);
    const bad = encodeAnswer(query("ghcr.io", 1, { udpSize: 4096, version: 1 }), ["10.1.2.3"], 30, 4096);
    expect(Packet.parse(bad).header.rcode).toBe(RCODE.BADVERS);
    expect(bad[3]! & 0x0f).toBe(0); // low nibble 0, high bits in OPT
  });
});

describe("encodeError", () => {
  it("echoes the question with the rcode; REFUSED offers no recursion", () => {
    const q = query("Known.Test", 1, { udpSize: 1232, version: 0 });
    for (const rcode of [RCODE.SERVFAIL, RCODE.REFUSED]) {
      const answer = encodeError(q, rcode);
      const p = Packet.parse(answer);
      expect(p.header).toMatchObject({
        id: 0xabcd,
        qr: 1,
        aa: 0,
        rcode,
        ra: rcode === RCODE.REFUSED ? 0 : 1,
      });
      expect(answer.subarray(12, 12 + q.question.length)).toEqual(q.question);
      expect(p.answers).toEqual([]);
    }
  });
});
