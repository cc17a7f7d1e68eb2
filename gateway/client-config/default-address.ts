// The address builders should use for wharf when --address is not given: the first DNS answer
// wharf hands out (dns.answer), else this machine's primary non-loopback IPv4 address.
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import type { Config } from "../config/schema.ts";

export function defaultAddress(
  config: Config,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string | undefined {
  const answer = config.dns.answer[0];
  if (answer) return answer;
  for (const infos of Object.values(interfaces)) {
    const v4 = infos?.find((i) => i.family === "IPv4" && !i.internal);
    if (v4) return v4.address;
  }
  return undefined;
}
