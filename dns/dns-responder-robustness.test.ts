// The responder under bad conditions: a dead or silent upstream, garbage packets, floods, and the
// exact bytes it echoes (query ID, question). Real dnsmasq upstream on loopback, raw sockets as clients.
import { randomBytes, randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Dnsmasq,
  dig,
  frame,
  freePort,
  queryPacket,
  startDnsmasq,
  tcpExchange,
  udpExchange,
} from "../test/support/dns-testbed.ts";
import { buildAnswerTable } from "./answer-table.ts";
import {
  type DnsResponder,
  type DnsResponderOptions,
  type QueryKind,
  startDnsResponder,
} from "./dns-responder.ts";

const table = buildAnswerTable({ names: ["ghcr.io"], addresses: ["10.1.2.3"] });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function responderFor(upstreamPort: number, extra: Partial<DnsResponderOptions> = {}) {
  const kinds: QueryKind[] = [];
  const responder: DnsResponder = await startDnsResponder({
    host: "127.0.0.1",
    port: 0,
    upstream: { host: "127.0.0.1", port: upstreamPort },
    ttl: 30,
    allow: ["127.0.0.0/8"],
    rateLimit: 0,
    lookup: (name) => table.get(name),
    onQuery: (kind) => kinds.push(kind),
    ...extra,
  });
  cleanups.push(() => responder.close());
  return { responder, kinds };
}

async function dnsmasq(): Promise<Dnsmasq> {
  const d = await startDnsmasq(["--address=/known.test/10.9.8.7"]);
  cleanups.push(() => d.stop());
  return d;
}

describe("exact echo", () => {
  it("restores the query ID and keeps the question byte for byte (forwarded and intercepted)", async () => {
    const { responder } = await responderFor((await dnsmasq()).port);
    for (const [id, name] of [
      [0xbeef, "KnOwN.TeSt"],
      [0x1234, "GhCr.Io"],
    ] as const) {
      const query = queryPacket(id, name, 1);
      const reply = await udpExchange(responder.udpPort, query, 3000);
      expect(reply).toBeDefined();
      expect(reply?.readUInt16BE(0)).toBe(id);
      expect(reply?.subarray(12, query.length)).toEqual(query.subarray(12));
      expect((reply?.[3] ?? 0xff) & 0x0f).toBe(0); // NOERROR
    }
  });
});

describe("upstream failure", () => {
  it("answers SERVFAIL at once when the upstream port is closed, question preserved", async () => {
    const { responder, kinds } = await responderFor(await freePort());
    const started = performance.now();
    const r = await dig(responder.udpPort, "known.test", "A");
    expect(r.status).toBe("SERVFAIL");
    expect(r.output).toMatch(/;known\.test\.\s+IN\s+A/);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(kinds).toEqual(["servfail"]);
  });

  it("answers SERVFAIL after the timeout when the upstream stays silent", async () => {
    const silent = createSocket("udp4");
    await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", () => resolve()));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    let seen = 0;
    silent.on("message", () => seen++);
    const { responder } = await responderFor(silent.address().port, { upstreamTimeoutMs: 300 });
    const started = performance.now();
    const r = await dig(responder.udpPort, "known.test", "A");
    const took = performance.now() - started;
    expect(r.status).toBe("SERVFAIL");
    expect(seen).toBe(1);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
  });

  it("answers SERVFAIL once dnsmasq is killed, while intercepted names still work", async () => {
    const upstream = await dnsmasq();
    const { responder } = await responderFor(upstream.port);
    expect((await dig(responder.udpPort, "known.test", "A")).status).toBe("NOERROR");
    await upstream.stop();
    expect((await dig(responder.udpPort, "known.test", "A")).status).toBe("SERVFAIL");
    expect((await dig(responder.tcpPort, "known.test", "A", "+tcp")).status).toBe("SERVFAIL");
    expect((await dig(responder.udpPort, "ghcr.io", "A")).answers.map((a) => a.data)).toEqual(["10.1.2.3"]);
  });
});

describe("hostile input", () => {
  it("drops or FORMERRs garbage and mangled packets without crashing (UDP and TCP)", async () => {
    const { responder, kinds } = await responderFor((await dnsmasq()).port, { upstreamTimeoutMs: 200 });
    const valid = queryPacket(0x4242, "ghcr.io", 1);
    const sender = createSocket("udp4");
    await new Promise<void>((resolve) => sender.bind(0, "127.0.0.1", () => resolve()));
    for (let i = 0; i < 3000; i++) {
      let packet: Buffer;
      if (i % 2 === 0) packet = randomBytes(randomInt(0, 600));
      else {
        // A real query with a few random bytes overwritten: exercises the parser's edges.
        packet = Buffer.from(valid);
        for (let k = 0; k < 3; k++) packet[randomInt(0, packet.length)] = randomInt(0, 256);
        if (i % 7 === 0) packet = packet.subarray(0, randomInt(0, packet.length));
      }
      sender.send(packet, responder.udpPort, "127.0.0.1");
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 2)); // stay under the socket buffer
    }
    await new Promise<void>((resolve) => sender.close(() => resolve()));
    // A readable header on garbage gets FORMERR (RFC 1035 §4.1.1); an empty frame gets nothing.
    const garbage = randomBytes(40);
    garbage.writeUInt16BE(0x0bad, 0);
    garbage.writeUInt16BE(0x0100, 2); // QR clear, opcode QUERY
    garbage.writeUInt16BE(7, 4); // seven questions
    const garbageOverTcp = Buffer.concat([frame(garbage), frame(Buffer.alloc(0)), frame(valid)]);
    const replies = await tcpExchange(responder.tcpPort, garbageOverTcp, 1500);
    expect(
      replies.map((r) => [r.readUInt16BE(0), (r[3] ?? 0) & 0x0f]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)),
    ).toEqual([
      [0x0bad, 1],
      [0x4242, 0],
    ]);
    const unanswerable = kinds.filter((k) => k === "dropped" || k === "formerr" || k === "notimp");
    expect(unanswerable.length).toBeGreaterThan(1000);
    const r = await dig(responder.udpPort, "ghcr.io", "A");
    expect(r.answers.map((a) => a.data)).toEqual(["10.1.2.3"]);
  });

  it("drops answers sent to it (QR set) instead of answering them", async () => {
    const { responder, kinds } = await responderFor((await dnsmasq()).port);
    const response = queryPacket(7, "ghcr.io", 1);
    response[2] = (response[2] ?? 0) | 0x80;
    expect(await udpExchange(responder.udpPort, response, 300)).toBeUndefined();
    expect(kinds).toEqual(["dropped"]);
  });

  it("rate-limits each client and recovers after a second", async () => {
    const { responder, kinds } = await responderFor((await dnsmasq()).port, { rateLimit: 5 });
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => udpExchange(responder.udpPort, queryPacket(i, "ghcr.io", 1), 500)),
    );
    const answered = replies.filter(Boolean).length;
    expect(answered).toBeGreaterThanOrEqual(5);
    expect(answered).toBeLessThanOrEqual(7);
    expect(kinds.filter((k) => k === "ratelimited").length).toBe(30 - answered);
    // Another client has its own bucket.
    expect(
      await udpExchange(responder.udpPort, queryPacket(99, "ghcr.io", 1), 500, "127.0.0.9"),
    ).toBeDefined();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await udpExchange(responder.udpPort, queryPacket(100, "ghcr.io", 1), 500)).toBeDefined();
  });
});

describe("dual stack", () => {
  it("on [::] sees IPv4 clients as IPv4-mapped and still matches them against IPv4 CIDRs", async () => {
    const { responder, kinds } = await responderFor((await dnsmasq()).port, {
      host: "::",
      allow: ["127.0.0.1/32"],
    });
    expect((await dig(responder.udpPort, "ghcr.io", "A")).answers.map((a) => a.data)).toEqual(["10.1.2.3"]);
    expect((await dig(responder.udpPort, "-b", "127.0.0.5", "ghcr.io", "A")).status).toBe("REFUSED");
    expect(kinds).toEqual(["intercepted", "refused"]);
  });
});
