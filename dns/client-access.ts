// Who may query: the responder forwards names, so answering everyone would make it an open
// resolver, usable for reflection attacks (RFC 5358 §4). Clients outside the allow list get REFUSED.
import ipaddr from "ipaddr.js";

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Returns a predicate telling whether a client address lies in one of the CIDRs. Throws on a bad CIDR. */
export function createAccessList(cidrs: readonly string[]): (address: string) => boolean {
  const ranges: Cidr[] = cidrs.map((text) => {
    if (!ipaddr.isValidCIDR(text.trim())) throw new Error(`DNS allow entry "${text}" is not a CIDR`);
    return ipaddr.parseCIDR(text.trim());
  });
  return function isAllowed(address: string): boolean {
    const forms = candidateForms(address);
    return ranges.some(([net, bits]) => forms.some((a) => a.kind() === net.kind() && a.match(net, bits)));
  };
}

// A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6 ("::ffff:10.0.0.1"), so both the
// address as given and its IPv4 form are tried; a zone id ("fe80::1%eth0") is ignored.
function candidateForms(address: string): Array<ipaddr.IPv4 | ipaddr.IPv6> {
  const text = address.replace(/%.*$/, "");
  if (!ipaddr.isValid(text)) return [];
  const parsed = ipaddr.parse(text);
  const processed = ipaddr.process(text);
  return processed.kind() === parsed.kind() ? [parsed] : [parsed, processed];
}
