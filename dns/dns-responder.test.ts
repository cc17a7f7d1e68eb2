// The responder between dig (client) and a real dnsmasq (upstream), all on loopback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dnsmasq, dig, startDnsmasq, udpExchange } from "../test/support/dns-testbed.ts";
import { buildAnswerTable } from "./answer-table.ts";
import { type DnsResponder, type QueryKind, startDnsResponder } from "./dns-responder.ts";

// 40 TXT strings of ~70 bytes: about 3.3 KB, more than dnsmasq puts in a 1232-byte UDP answer.
const BIG_TXT = Array.from({ length: 40 }, (_, i) => `--txt-record=big.test,record-${i}-${"x".repeat(60)}`);

let upstream: Dnsmasq;
let responder: DnsResponder;
let failOpen = false;
const kinds: QueryKind[] = [];
const table = buildAnswerTable({
  names: ["ghcr.io", "registry-1.docker.io"],
  addresses: ["10.1.2.3", "fd00::5"],
});
const v4Only = buildAnswerTable({ names: ["v4only.test"], addresses: ["10.1.2.4"] });

beforeAll(async () => {
  upstream = await startDnsmasq(["--address=/known.test/10.9.8.7", ...BIG_TXT]);
  responder = await startDnsResponder({
    host: "127.0.0.1",
    port: 0,
    upstream: { host: "127.0.0.1", port: upstream.port },
    ttl: 42,
    allow: ["127.0.0.1/32"],
    rateLimit: 0,
    lookup: (name) => (failOpen ? undefined : (table.get(name) ?? v4Only.get(name))),
    onQuery: (kind) => kinds.push(kind),
  });
});

afterAll(async () => {
  await responder?.close();
  await upstream?.stop();
});

describe("intercepted names", () => {
  it("answers A authoritatively with the configured TTL, whatever the case or trailing dot", async () => {
    for (const name of ["ghcr.io", "GHCR.Io.", "registry-1.docker.io"]) {
      const r = await dig(responder.udpPort, name, "A", "+norecurse");
      expect(r.status).toBe("NOERROR");
      expect(r.flags).toContain("aa");
      expect(r.answers).toEqual([
        { name: `${name.replace(/\.$/, "")}.`, ttl: 42, type: "A", data: "10.1.2.3" },
      ]);
    }
  });

  it("answers AAAA with the IPv6 addresses", async () => {
    const r = await dig(responder.udpPort, "ghcr.io", "AAAA", "+norecurse");
    expect(r.flags).toContain("aa");
    expect(r.answers).toEqual([{ name: "ghcr.io.", ttl: 42, type: "AAAA", data: "fd00::5" }]);
  });

  it("gives NODATA (NOERROR, no records, aa) for types it has no record of", async () => {
    for (const [name, type] of [
      ["v4only.test", "AAAA"],
      ["ghcr.io", "MX"],
      ["ghcr.io", "TXT"],
    ] as const) {
      const r = await dig(responder.udpPort, name, type, "+norecurse");
      expect(r.status).toBe("NOERROR");
      expect(r.flags).toContain("aa");
      expect(r.answers).toEqual([]);
      // The SOA a resolver needs to cache the absence (RFC 2308 §3), MINIMUM = dns.ttl.
      const soa = /;; AUTHORITY SECTION:\n(\S+)\s+(\d+)\s+IN\s+SOA\s+(.*)\n/.exec(r.output);
      expect(soa?.slice(1, 3)).toEqual([`${name}.`, "42"]);
      expect(soa?.[3]).toBe(`${name}. hostmaster.${name}. 1 3600 600 86400 42`);
    }
  });

  it("answers FORMERR to a query it cannot read, echoing the ID (RFC 1035 §4.1.1)", async () => {
    const broken = Buffer.from("beef0100000200000000000004676863720269", "hex"); // 2 questions, cut short
    const reply = await udpExchange(responder.udpPort, broken, 1000);
    expect(reply?.toString("hex")).toBe(`beef8181${"0".repeat(16)}`);
    expect(kinds).toContain("formerr");
  });

  it("answers over TCP too", async () => {
    expect(responder.tcpPort).toBe(responder.udpPort);
    const r = await dig(responder.tcpPort, "ghcr.io", "A", "+tcp");
    expect(r.flags).toContain("aa");
    expect(r.answers.map((a) => a.data)).toEqual(["10.1.2.3"]);
  });

  it("never sends an intercepted name upstream", async () => {
    for (const type of ["A", "AAAA", "MX", "HTTPS"]) await dig(responder.udpPort, "ghcr.io", type);
    await dig(responder.udpPort, "v4only.test", "AAAA");
    // A forwarded marker query: once dnsmasq has logged it, it has logged everything before it.
    await dig(responder.udpPort, "marker.test", "A");
    let asked: string[] = [];
    for (let i = 0; i < 50 && !asked.includes("marker.test"); i++) {
      asked = await upstream.queriedNames();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(asked).toContain("marker.test");
    expect(asked.filter((n) => ["ghcr.io", "registry-1.docker.io", "v4only.test"].includes(n))).toEqual([]);
  });
});

describe("forwarded names", () => {
  it("relays the upstream's answer", async () => {
    const before = kinds.filter((k) => k === "forwarded").length;
    const r = await dig(responder.udpPort, "known.test", "A", "+norecurse");
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a.data)).toEqual(["10.9.8.7"]);
    expect(kinds.filter((k) => k === "forwarded").length).toBe(before + 1);
  });

  it("keeps NXDOMAIN", async () => {
    const r = await dig(responder.udpPort, "unknown.test", "A", "+norecurse");
    expect(r.status).toBe("NXDOMAIN");
    expect(r.flags).not.toContain("aa");
  });

  it("forwards TCP clients over TCP", async () => {
    const r = await dig(responder.tcpPort, "known.test", "A", "+tcp");
    expect(r.answers.map((a) => a.data)).toEqual(["10.9.8.7"]);
  });

  it("retries a truncated UDP answer over TCP and relays the full answer", async () => {
    // +ignore: dig itself would not retry over TCP, so all 40 records must come from our retry.
    const r = await dig(responder.udpPort, "big.test", "TXT", "+bufsize=4096", "+ignore");
    expect(r.flags).not.toContain("tc");
    expect(r.answers).toHaveLength(40);
    expect(r.output).not.toContain("Truncated");
  });

  it("relays TC when the full answer exceeds the client's UDP size; the client's TCP retry succeeds", async () => {
    const truncated = await dig(responder.udpPort, "big.test", "TXT", "+bufsize=1232", "+ignore");
    expect(truncated.flags).toContain("tc");
    const r = await dig(responder.udpPort, "big.test", "TXT", "+bufsize=1232");
    expect(r.output).toContain("Truncated, retrying in TCP mode");
    expect(r.answers).toHaveLength(40);
  });

  it("forwards an intercepted name when lookup fails open (returns undefined)", async () => {
    failOpen = true;
    try {
      const r = await dig(responder.udpPort, "ghcr.io", "A", "+norecurse");
      // dnsmasq's --address=/#/ makes every name it was not given NXDOMAIN: proof it was asked.
      expect(r.status).toBe("NXDOMAIN");
      expect(await upstream.queriedNames()).toContain("ghcr.io");
    } finally {
      failOpen = false;
    }
  });
});

describe("clients", () => {
  it("refuses clients outside the allow list", async () => {
    const before = kinds.filter((k) => k === "refused").length;
    for (const name of ["ghcr.io", "known.test"]) {
      const r = await dig(responder.udpPort, "-b", "127.0.0.5", name, "A");
      expect(r.status).toBe("REFUSED");
      expect(r.answers).toEqual([]);
    }
    const tcp = await dig(responder.tcpPort, "-b", "127.0.0.5", "ghcr.io", "A", "+tcp");
    expect(tcp.status).toBe("REFUSED");
    expect(kinds.filter((k) => k === "refused").length).toBe(before + 3);
  });
});
