import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { clientTargets, interceptedHosts, mirrorEndpoint } from "./client-targets.ts";
import { defaultAddress } from "./default-address.ts";

describe("client targets", () => {
  it("lists registries with their aliases, and only intercepted ones as intercepted hosts", () => {
    const { config } = buildConfig({
      registries: {
        "docker.io": { upstream: "https://registry-1.docker.io/", aliases: ["registry-1.docker.io"] },
        "quay.io": { upstream: "https://quay.io", intercept: false },
      },
    });
    expect(clientTargets(config)).toEqual([
      {
        registry: "docker.io",
        upstream: "https://registry-1.docker.io",
        hosted: false,
        hosts: ["docker.io", "registry-1.docker.io"],
        intercept: true,
      },
      {
        registry: "quay.io",
        upstream: "https://quay.io",
        hosted: false,
        hosts: ["quay.io"],
        intercept: false,
      },
    ]);
    expect(interceptedHosts(config)).toEqual(["docker.io", "registry-1.docker.io"]);
  });

  it("builds mirror endpoints with ports only when they are not the default", () => {
    const a = buildConfig({ listen: { http: "0.0.0.0:80", https: "[::]:443" } }).config;
    expect(mirrorEndpoint(a, "10.0.0.5", false)).toBe("http://10.0.0.5");
    expect(mirrorEndpoint(a, "fd00::1", true)).toBe("https://[fd00::1]");
    const b = buildConfig({ listen: { http: ":5000", https: null } }).config;
    expect(mirrorEndpoint(b, "wharf.lan", false)).toBe("http://wharf.lan:5000");
    expect(() => mirrorEndpoint(b, "wharf.lan", true)).toThrow(/listen\.https is off/);
  });

  it("defaults the address to the first DNS answer, else the first non-loopback IPv4", () => {
    const nic = (address: string, family: "IPv4" | "IPv6", internal: boolean) => ({
      address,
      family,
      internal,
      netmask: "",
      mac: "",
      cidr: null,
      ...(family === "IPv6" ? { scopeid: 0 } : {}),
    });
    const interfaces = {
      lo: [nic("127.0.0.1", "IPv4", true)],
      eth0: [nic("fe80::1", "IPv6", false), nic("192.168.7.20", "IPv4", false)],
    } as unknown as Parameters<typeof defaultAddress>[1];
    const plain = buildConfig({}).config;
    expect(defaultAddress(plain, interfaces)).toBe("192.168.7.20");
    expect(defaultAddress(plain, { lo: interfaces?.lo })).toBeUndefined();
    const withAnswer = buildConfig({ dns: { answer: ["10.9.8.7", "10.9.8.8"] } }).config;
    expect(defaultAddress(withAnswer, interfaces)).toBe("10.9.8.7");
  });
});
