// DNS from the builder's side: does the DNS server builders use answer every intercepted name with
// wharf's address? And can wharf resolve its upstreams through upstreamDns (without meeting itself)?
// Queries go only to the servers given (Resolver.setServers), never to the system resolver.
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { defaultAnswerAddresses } from "../../dns/answer-table.ts";
import { interceptedHosts } from "../config/intercepted-names.ts";
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

export interface NameCheck {
  /** The registry name (or alias) as builders use it, port kept. */
  host: string;
  result: CheckResult;
  /** The addresses the name resolved to. */
  answers: string[];
}

/**
 * Does every intercepted name resolve to wharf from here? Through `server` when given (wharf's DNS
 * or the builders' resolver), otherwise through this machine's own resolver (hosts file, resolv.conf),
 * which is what a builder's dockerd uses. With no `expect` any answer passes: the TLS check that
 * follows shows whether the server there is wharf.
 */
export async function checkInterceptedNames(opts: {
  config: Config;
  server?: HostPort;
  expect: string[];
  timeoutMs: number;
}): Promise<NameCheck[]> {
  const expected = opts.expect.map(canonical);
  const resolver = new dns.Resolver({ timeout: opts.timeoutMs, tries: 1 });
  if (opts.server) resolver.setServers([show(opts.server)]);
  const from = opts.server ? show(opts.server) : "this machine's resolver";
  return Promise.all(
    interceptedHosts(opts.config).map(async (host): Promise<NameCheck> => {
      const name = host.replace(/:\d+$/, "");
      const check = `dns ${host}`;
      const done = (result: CheckResult, answers: string[] = []) => ({ host, result, answers });
      const fix = `on the builder: make ${name} resolve to wharf (${expected.join(", ") || "its address"}): wharf's DNS (listen.dns) as its resolver, a hosts entry or a network alias`;
      let answers: string[];
      try {
        answers = opts.server ? await lookupAll(resolver, name) : await lookupSystem(name);
      } catch (e) {
        return done(
          fail(
            check,
            `no answer from ${from}: ${reason(e)}`,
            opts.server
              ? `check that a DNS server runs at ${show(opts.server)} (listen.dns, or --dns)`
              : `on the builder: check its resolver (/etc/resolv.conf), or give wharf's DNS with --dns`,
          ),
        );
      }
      if (answers.length === 0) return done(fail(check, `${from} has no address for ${name}`, fix));
      const strangers = answers.filter((a) => !expected.includes(a));
      if (expected.length > 0 && strangers.length > 0) {
        return done(
          fail(check, `${from} answers ${answers.join(", ")}; wharf is ${expected.join(", ")}`, fix),
          answers,
        );
      }
      return done(pass(check, `${answers.join(", ")} (from ${from})`), answers);
    }),
  );
}

/** getaddrinfo, as dockerd's resolver sees it: the hosts file first, then resolv.conf. */
async function lookupSystem(name: string): Promise<string[]> {
  try {
    return (await dns.lookup(name, { all: true })).map((a) => canonical(a.address));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOTFOUND") return [];
    throw e;
  }
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
