import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { buildAnswerTable, defaultAnswerAddresses, normalizeName } from "./answer-table.ts";

function nic(address: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(":") ? "IPv6" : "IPv4";
  const base = { address, netmask: "", mac: "00:00:00:00:00:00", internal, cidr: null };
  return family === "IPv6" ? { ...base, family, scopeid: 0 } : { ...base, family };
}

const interfaces = {
  lo: [nic("127.0.0.1", true), nic("::1", true)],
  eth0: [nic("fe80::1"), nic("fd00::7"), nic("192.168.1.20"), nic("2a01:4f8::20"), nic("10.0.0.9")],
};

describe("buildAnswerTable", () => {
  it("keys names in lower case without the trailing dot", () => {
    const table = buildAnswerTable({
      names: ["GHCR.io.", "registry-1.docker.io"],
      addresses: ["10.0.0.1", "fd00::1"],
    });
    expect([...table.keys()]).toEqual(["ghcr.io", "registry-1.docker.io"]);
    expect(table.get("ghcr.io")?.addresses).toEqual(["10.0.0.1", "fd00::1"]);
  });

  it("writes addresses in canonical form and rejects non-addresses", () => {
    const table = buildAnswerTable({ names: ["a.test"], addresses: ["2001:0db8:0:0:0:0:0:0001"] });
    expect(table.get("a.test")?.addresses).toEqual(["2001:db8::1"]);
    expect(() => buildAnswerTable({ names: ["a.test"], addresses: ["wharf.local"] })).toThrow(/not an IP/);
  });

  it("normalizes only ASCII case (RFC 4343)", () => {
    expect(normalizeName("Ghcr.IO.")).toBe("ghcr.io");
    expect(normalizeName("À.test")).toBe("À.test");
  });
});

describe("defaultAnswerAddresses", () => {
  it("uses the HTTPS listener's address when it is bound to one", () => {
    expect(defaultAnswerAddresses("10.200.0.3", interfaces)).toEqual(["10.200.0.3"]);
    expect(defaultAnswerAddresses("[2001:db8::3]", interfaces)).toEqual(["2001:db8::3"]);
    expect(defaultAnswerAddresses("127.0.0.1", interfaces)).toEqual(["127.0.0.1"]);
  });

  it("on a wildcard listener answers with the first non-internal IPv4 and first global IPv6", () => {
    expect(defaultAnswerAddresses("::", interfaces)).toEqual(["192.168.1.20", "2a01:4f8::20"]);
    expect(defaultAnswerAddresses("", interfaces)).toEqual(["192.168.1.20", "2a01:4f8::20"]);
  });

  it("gives no AAAA for 0.0.0.0, which accepts IPv4 only", () => {
    expect(defaultAnswerAddresses("0.0.0.0", interfaces)).toEqual(["192.168.1.20"]);
  });

  it("skips link-local and unique-local IPv6, and returns nothing when there is nothing", () => {
    expect(defaultAnswerAddresses("::", { eth0: [nic("fe80::1"), nic("fd00::7")] })).toEqual([]);
  });
});
