// The running DNS responder under a barrage of hostile packets over UDP and TCP (issue 13): it must
// stay up, answer each message with FORMERR / NOTIMP / a proper answer or nothing (checkReply), keep
// answering well-formed queries correctly afterwards, and give back its sockets and memory.
// Real dnsmasq upstream on loopback, raw sockets as clients. FUZZ_RUNS scales the packet count.
import { randomBytes, randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAnswerTable } from "../../dns/answer-table.ts";
import { type DnsResponder, type QueryKind, startDnsResponder } from "../../dns/dns-responder.ts";
import { type Dnsmasq, dig, frame, startDnsmasq } from "../support/dns-testbed.ts";
import { loopbackIp } from "../support/ports.ts";
import { checkReply, hostilePacket } from "./dns-packets.ts";
import { fuzzRuns, fuzzTimeout } from "./fuzz-budget.ts";

const PACKETS = fuzzRuns(1000);
const BATCH = 200;
const table = buildAnswerTable({ names: ["ghcr.io"], addresses: ["10.1.2.3"] });
const kinds = new Map<QueryKind, number>();
let upstream: Dnsmasq;
let responder: DnsResponder;
let host: string;

const openFds = () => readdirSync("/proc/self/fd").length;

beforeAll(async () => {
  upstream = await startDnsmasq(["--address=/known.test/10.9.8.7"]);
  host = loopbackIp();
  responder = await startDnsResponder({
    host,
    port: 0,
    upstream: { host: "127.0.0.1", port: upstream.port },
    ttl: 30,
    allow: ["127.0.0.0/8"],
    rateLimit: 0,
    upstreamTimeoutMs: 300,
    lookup: (name) => table.get(name),
    onQuery: (kind) => kinds.set(kind, (kinds.get(kind) ?? 0) + 1),
  });
});

afterAll(async () => {
  await responder?.close();
  await upstream?.stop();
});

// Sends each packet from its own socket, so every reply is attributed to its packet; waits for the
// replies of a batch up to the upstream timeout plus slack.
async function udpBatch(packets: Buffer[]): Promise<Array<Buffer | undefined>> {
  const sockets: Socket[] = [];
  const replies = await Promise.all(
    packets.map(
      (packet) =>
        new Promise<Buffer | undefined>((resolve) => {
          const socket = createSocket("udp4");
          sockets.push(socket);
          const timer = setTimeout(() => resolve(undefined), 450);
          socket.on("message", (m) => {
            clearTimeout(timer);
            resolve(m);
          });
          socket.on("error", () => resolve(undefined));
          socket.bind(0, "127.0.0.1", () => socket.send(packet, responder.udpPort, host));
        }),
    ),
  );
  for (const s of sockets) s.close();
  return replies;
}

// One TCP connection carrying `frames` (then half-closed); resolves with the raw bytes received.
function tcpSession(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port: responder.tcpPort });
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on("connect", () => socket.end(bytes));
  });
}

function unframe(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 2 <= stream.length) {
    const length = stream.readUInt16BE(at);
    expect(at + 2 + length, "a TCP reply frame was cut short").toBeLessThanOrEqual(stream.length);
    out.push(stream.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  expect(at).toBe(stream.length);
  return out;
}

async function expectHealthy(): Promise<void> {
  const a = await dig(responder.udpPort, `@${host}`, "ghcr.io", "A");
  expect(a.answers.map((x) => x.data)).toEqual(["10.1.2.3"]);
  const fwd = await dig(responder.udpPort, `@${host}`, "known.test", "A", "+tcp");
  expect(fwd.answers.map((x) => x.data)).toEqual(["10.9.8.7"]);
  const nodata = await dig(responder.udpPort, `@${host}`, "ghcr.io", "AAAA");
  expect(nodata.output).toMatch(/AUTHORITY SECTION:\nghcr\.io\.\s+30\s+IN\s+SOA/);
}

describe("DNS responder fuzzing", () => {
  it(
    `answers ${PACKETS} hostile UDP packets with FORMERR, NOTIMP, a proper answer or nothing`,
    async () => {
      await expectHealthy();
      const fdsBefore = openFds();
      const heapBefore = process.memoryUsage().heapUsed;
      const violations: string[] = [];
      for (let sent = 0; sent < PACKETS; sent += BATCH) {
        const packets = Array.from({ length: Math.min(BATCH, PACKETS - sent) }, hostilePacket);
        const replies = await udpBatch(packets);
        packets.forEach((p, i) => {
          const problem = checkReply(p, replies[i]);
          if (problem) violations.push(`${problem}: sent ${p.toString("hex").slice(0, 120)}`);
        });
      }
      expect(violations.slice(0, 5)).toEqual([]);
      expect(kinds.get("formerr") ?? 0).toBeGreaterThan(PACKETS / 20);
      await expectHealthy();
      // Every per-query socket (ours and the forwarder's) is closed again.
      await new Promise((r) => setTimeout(r, 200));
      expect(openFds()).toBeLessThanOrEqual(fdsBefore + 5);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    },
    fuzzTimeout(30_000, 1000),
  );

  it(
    "answers hostile TCP streams frame by frame and closes every connection",
    async () => {
      const sessions = Math.max(20, Math.ceil(PACKETS / 50));
      const fdsBefore = openFds();
      for (let s = 0; s < sessions; s += 10) {
        const streams = Array.from({ length: 10 }, () => {
          const frames = Array.from({ length: randomInt(1, 20) }, () => frame(hostilePacket()));
          // Sometimes a stream ends inside a frame, or claims a frame far longer than it sends.
          if (randomInt(4) === 0) frames.push(Buffer.from([0xff, 0xff, ...randomBytes(randomInt(0, 50))]));
          if (randomInt(4) === 0) frames.push(Buffer.from([0x00]));
          return { frames, bytes: Buffer.concat(frames) };
        });
        const received = await Promise.all(streams.map((st) => tcpSession(st.bytes)));
        received.forEach((bytes, i) => {
          const sentIds = new Set(
            (streams[i]?.frames ?? []).filter((f) => f.length >= 4).map((f) => f.readUInt16BE(2)),
          );
          for (const reply of unframe(bytes)) {
            expect(reply.length).toBeGreaterThanOrEqual(12);
            expect(sentIds.has(reply.readUInt16BE(0))).toBe(true);
          }
        });
      }
      await expectHealthy();
      await new Promise((r) => setTimeout(r, 200));
      expect(openFds()).toBeLessThanOrEqual(fdsBefore + 5);
    },
    fuzzTimeout(30_000, 1000),
  );
});
