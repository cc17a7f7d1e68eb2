// DNS from the builder's side: does the DNS server builders use answer every intercepted name with
// wharf's address? And can wharf resolve its upstreams through upstreamDns (without meeting itself)?
// Queries go only to the servers given (Resolver.setServers), never to the system resolver.
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { defaultAnswerAddresses } from "../../dns/answer-table.ts";
import { interceptedNames } from "../config/intercepted-names.ts";
import type { Config, HostPort } from "../config/schema.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";
import { type CheckResult, fail, pass, reason, skip } from "./check-result.ts";

const canonical = (ip: string) => (ipaddr.isValid(ip) ? ipaddr.parse(ip).toString() : ip);
const show = (s: HostPort) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/** The addresses wharf's DNS answers with (as start-dns.ts picks them). */
export function wharfAnswer(config: Config): string[] {
  return config.dns.answer.length > 0
    ? config.dns.answer
    : defaultAnswerAddresses(config.listen.https?.host ?? "0.0.0.0");
}

async function lookupAll(resolver: dns.Resolver, name: string): Promise<string[]> {
  const settle = (p: Promise<string[]>) =>
    p.catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENODATA" || e.code === "ENOTFOUND") return [];
      throw e;
    });
  const [v4, v6] = await Promise.all([settle(resolver.resolve4(name)), settle(resolver.resolve6(name))]);
  return [...v4, ...v6].map(canonical);
}

export async function checkInterceptedNames(opts: {
  config: Config;
  /** The DNS server builders use. */
  server: HostPort;
  /** wharf's addresses; default wharfAnswer(config). */
  expect?: string[];
  timeoutMs: number;
}): Promise<CheckResult[]> {
  const expected = (opts.expect?.length ? opts.expect : wharfAnswer(opts.config)).map(canonical);
  const resolver = new dns.Resolver({ timeout: opts.timeoutMs, tries: 1 });
  resolver.setServers([show(opts.server)]);
  const names = interceptedNames(opts.config);
  return Promise.all(
    names.map(async (name): Promise<CheckResult> => {
      const check = `dns ${name}`;
      const fix = `make builders resolve ${name} to wharf (${expected.join(", ") || "its address"}): use wharf's DNS (listen.dns) as their resolver, or a hosts entry / network alias`;
      let answers: string[];
      try {
        answers = await lookupAll(resolver, name);
      } catch (e) {
        return fail(
          check,
          `no answer from ${show(opts.server)}: ${reason(e)}`,
          `check that a DNS server runs at ${show(opts.server)} (listen.dns, or --dns)`,
        );
      }
      if (answers.length === 0) return fail(check, `${show(opts.server)} has no address for ${name}`, fix);
      const strangers = answers.filter((a) => !expected.includes(a));
      if (expected.length > 0 && strangers.length > 0) {
        return fail(
          check,
          `${show(opts.server)} answers ${answers.join(", ")}; wharf is ${expected.join(", ")}`,
          fix,
        );
      }
      return pass(check, `${answers.join(", ")} (from ${show(opts.server)})`);
    }),
  );
}

/** Resolves the first proxied registry's upstream host through upstreamDns, as the gateway will. */
export async function checkUpstreamDns(config: Config, timeoutMs: number): Promise<CheckResult> {
  const first = Object.entries(config.registries).find(([, r]) => r.upstream !== undefined);
  const server = show(config.upstreamDns);
  if (!first) return skip("upstream dns", "no proxied registry configured: wharf contacts no upstream");
  const host = new URL(first[1].upstream as string).hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host))
    return skip("upstream dns", `${first[0]}'s upstream is an IP address (${host}); nothing to resolve`);
  try {
    const addresses = (await new UpstreamResolver(config.upstreamDns, { timeoutMs }).resolve(host)).map((a) =>
      canonical(a.address),
    );
    // wharf's own DNS answers registry names with wharf: as upstreamDns it would send wharf to itself.
    const self = addresses.filter((a) => wharfAnswer(config).map(canonical).includes(a));
    if (self.length > 0) {
      return fail(
        "upstream dns",
        `${server} resolves ${host} to ${self.join(", ")}, which is wharf itself`,
        "set upstreamDns to a resolver that returns the real registry addresses (not wharf's DNS, not a resolver that forwards to it)",
      );
    }
    return pass("upstream dns", `${server} resolves ${host} to ${addresses.join(", ")}`);
  } catch (e) {
    return fail(
      "upstream dns",
      reason(e),
      `make upstreamDns (${server}) a DNS server wharf can reach over UDP and TCP port 53`,
    );
  }
}
