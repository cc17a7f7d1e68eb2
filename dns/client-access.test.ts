import { describe, expect, it } from "vitest";
import { createAccessList } from "./client-access.ts";

describe("createAccessList", () => {
  const isAllowed = createAccessList(["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"]);

  it("matches IPv4 and IPv6 clients against CIDRs of their family", () => {
    expect(isAllowed("127.0.0.5")).toBe(true);
    expect(isAllowed("10.1.200.3")).toBe(true);
    expect(isAllowed("10.2.0.1")).toBe(false);
    expect(isAllowed("fd12::1")).toBe(true);
    expect(isAllowed("2001:db8::1")).toBe(false);
  });

  it("treats IPv4-mapped IPv6 as the IPv4 address (dual-stack sockets)", () => {
    expect(isAllowed("::ffff:10.1.0.1")).toBe(true);
    expect(isAllowed("::ffff:192.0.2.1")).toBe(false);
  });

  it("ignores zone ids and refuses what is not an address", () => {
    expect(createAccessList(["fe80::/10"])("fe80::1%eth0")).toBe(true);
    expect(isAllowed("")).toBe(false);
    expect(isAllowed("not-an-ip")).toBe(false);
  });

  it("refuses everyone with an empty list, and rejects bad CIDRs", () => {
    expect(createAccessList([])("127.0.0.1")).toBe(false);
    expect(() => createAccessList(["10.0.0.0"])).toThrow(/not a CIDR/);
  });
});
