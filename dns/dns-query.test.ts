import { randomBytes, randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { queryPacket } from "../test/support/dns-testbed.ts";
import { parseQuery, udpLimit } from "./dns-query.ts";

// What dig 9.18 sent for `dig GHCR.io AAAA +norecurse`: AD set, OPT (udp 1232) with a COOKIE option.
const DIG_QUERY = Buffer.from(
  "621300200001000000000001044748435202696f00001c000100002904d000000000000c000a0008b0d7ca6f13bdcdda",
  "hex",
);

function withOpt(query: Buffer, udpSize: number, version: number, rdata = Buffer.alloc(0)): Buffer {
  const out = Buffer.concat([
    query,
    Buffer.from([0, 0, 41, udpSize >> 8, udpSize & 0xff, 0, version, 0, 0, 0, rdata.length]),
    rdata,
  ]);
  out.writeUInt16BE(1, 10);
  return out;
}

describe("parseQuery", () => {
  it("reads dig's query, EDNS cookie included", () => {
    const q = parseQuery(DIG_QUERY);
    expect(q).toMatchObject({ id: 0x6213, name: "ghcr.io", wireName: "GHCR.io", type: 28, class: 1, rd: 0 });
    expect(q?.edns).toEqual({ udpSize: 1232, version: 0 });
    expect(q?.question).toEqual(DIG_QUERY.subarray(12, 12 + 13));
    expect(udpLimit(q!)).toBe(1232);
  });

  it("finds OPT past several unknown options, and reads its version", () => {
    const options = Buffer.from("000a000811223344556677880010000400000000", "hex"); // COOKIE, then TCP keepalive
    const q = parseQuery(withOpt(queryPacket(1, "a.test", 1), 4096, 1, options));
    expect(q?.edns).toEqual({ udpSize: 4096, version: 1 });
  });

  it("takes 512 bytes as the UDP limit without EDNS or below it (RFC 6891 §6.2.5)", () => {
    expect(udpLimit(parseQuery(queryPacket(1, "a.test", 1))!)).toBe(512);
    expect(udpLimit(parseQuery(withOpt(queryPacket(1, "a.test", 1), 100, 0))!)).toBe(512);
  });

  it("keeps the root name and odd types exactly", () => {
    const q = parseQuery(queryPacket(9, ".", 0));
    expect(q).toMatchObject({ name: "", type: 0 });
  });

  it("drops what is not a plain query", () => {
    const base = queryPacket(1, "ghcr.io", 1);
    const mutate = (f: (b: Buffer) => void) => {
      const b = Buffer.from(base);
      f(b);
      return b;
    };
    expect(parseQuery(base.subarray(0, 11))).toBeUndefined(); // short header
    expect(parseQuery(base.subarray(0, base.length - 2))).toBeUndefined(); // question cut
    expect(parseQuery(mutate((b) => (b[2] = 0x81)))).toBeUndefined(); // QR: a response
    expect(parseQuery(mutate((b) => (b[2] = 0x28)))).toBeUndefined(); // opcode UPDATE
    expect(parseQuery(mutate((b) => b.writeUInt16BE(2, 4)))).toBeUndefined(); // two questions
    expect(parseQuery(mutate((b) => b.writeUInt16BE(1, 10)))).toBeUndefined(); // missing additional
    // One label "ghcr.io" (dot inside): dns2 would read it as two labels, i.e. as ghcr.io.
    const dotted = Buffer.concat([
      base.subarray(0, 12),
      Buffer.from("\x07ghcr.io\x00\x00\x01\x00\x01", "latin1"),
    ]);
    expect(parseQuery(dotted)).toBeUndefined();
    // A compression pointer looping on itself.
    const loop = Buffer.concat([base.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseQuery(loop)).toBeUndefined();
  });

  it("never throws and stays fast on random and mangled input", () => {
    const base = withOpt(
      queryPacket(1, "registry-1.docker.io", 28),
      1232,
      0,
      Buffer.from("000a0008aabbccddeeff0011", "hex"),
    );
    for (let i = 0; i < 10_000; i++) {
      let b: Buffer;
      if (i % 2 === 0) {
        b = randomBytes(randomInt(0, 700));
        if (b.length >= 12 && i % 4 === 0) b.writeUInt16BE(1, 4);
      } else {
        b = Buffer.from(base);
        for (let k = 0; k < 3; k++) b[randomInt(0, b.length)] = randomInt(0, 256);
      }
      parseQuery(b); // a throw fails the test
    }
    // 12 bytes claiming 3 × 65535 records: must not walk them.
    const liar = Buffer.from(base.subarray(0, 12));
    liar.fill(0xff, 6, 12);
    const started = performance.now();
    expect(parseQuery(Buffer.concat([liar, base.subarray(12)]))).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(50);
  });
});
