// `wharf doctor`: every check in order, from the configuration to the builders' trust in the CA.
// A check that cannot run for want of an earlier one (no valid config) is not run at all.
// It runs on a builder by default: names resolved by this machine's resolver, TLS verified with
// the trust this machine's dockerd uses. Where wharf's CA file is readable (wharf's own host),
// it also checks the listeners and the upstreams, which only mean something from there.

import type { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { defaultAnswerAddresses } from "../../dns/answer-table.ts";
import { type LoadedConfig, loadConfig } from "../config/load-config.ts";
import { type HostPort, parseDnsServer } from "../config/schema.ts";
import { createUpstreamDispatcher } from "../upstream/dispatcher.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";
import { caCertFile, checkCa } from "./ca-check.ts";
import { type CheckResult, fail, pass, reason, skip } from "./check-result.ts";
import { checkClock } from "./clock-check.ts";
import { checkInterceptedNames, checkUpstreamDns, type NameCheck } from "./dns-check.ts";
import { checkListeners, dialHost } from "./listener-check.ts";
import { checkStorage } from "./storage-check.ts";
import { type BuilderTrust, checkTrust, issuerOf } from "./trust-check.ts";
import { checkUpstream } from "./upstream-check.ts";

export interface DoctorOptions {
  configFile?: string;
  env: Record<string, string | undefined>;
  /** DNS server to ask ("ip" or "ip:port"); default listen.dns on wharf's host, else this machine's resolver. */
  dns?: string;
  /** wharf's address as builders should see it; default dns.answer. */
  expect?: string[];
  /** Where this machine's dockerd finds the CAs it trusts. */
  trust: BuilderTrust;
  /** wharf's CA certificate; default tls.caCertFile or dataDir/ca.crt when readable, else the one wharf presents. */
  caFile?: string;
  /** Repository to request a pull token for. */
  repository?: string;
  timeoutMs?: number;
  now?: () => number;
}

export interface DoctorReport {
  ok: boolean;
  source: string;
  checks: CheckResult[];
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const now = o.now ?? Date.now;
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(o.configFile, o.env);
  } catch (e) {
    const source = o.configFile ?? "embedded defaults";
    return {
      ok: false,
      source,
      checks: [
        fail("config", reason(e), "fix the configuration file; every key is described in docs/config.md"),
      ],
    };
  }
  const { config, credentials, source } = loaded;
  const n = Object.keys(config.registries).length;
  const checks: CheckResult[] = [
    pass("config", `${source}: valid, ${n} ${n === 1 ? "registry" : "registries"}`),
  ];

  // On wharf's host its CA file is readable; a builder has no dataDir.
  const localCa = existsSync(caCertFile(config)) ? caCertFile(config) : undefined;
  const onWharfHost = localCa !== undefined;
  const fromHere = "not on wharf's host (its CA file is not here): run `wharf doctor` there to check this";
  if (onWharfHost) checks.push(...(await checkListeners(config, timeoutMs)));
  else checks.push(skip("listen", fromHere));

  let dnsServer: HostPort | undefined;
  if (o.dns) {
    dnsServer = parseDnsServer(o.dns);
    if (!dnsServer) {
      checks.push(
        fail("dns", `--dns ${o.dns} is not an address like 10.0.0.2 or 10.0.0.2:53`, "give --dns IP[:PORT]"),
      );
      return { ok: false, source, checks };
    }
  } else if (onWharfHost && config.listen.dns) {
    // on wharf's host its own resolver rarely points at wharf: ask wharf's DNS, as builders will
    dnsServer = { host: dialHost(config.listen.dns.host), port: config.listen.dns.port };
  }
  // Compared with dns.answer (or --expect); wharf's default answers are its host's own addresses,
  // known only there.
  const expect = o.expect?.length
    ? o.expect
    : config.dns.answer.length > 0 || !onWharfHost
      ? config.dns.answer
      : defaultAnswerAddresses(config.listen.https?.host ?? "0.0.0.0");
  const names = await checkInterceptedNames({ config, server: dnsServer, expect, timeoutMs });
  checks.push(...names.map((n) => n.result));

  const dates: { registry: string; date: string }[] = [];
  if (onWharfHost) {
    checks.push(await checkUpstreamDns(config, timeoutMs));
    checks.push(...(await checkStorage(loaded, timeoutMs)));
    dates.push(...(await upstreamChecks(config, credentials, o, timeoutMs, checks)));
  } else checks.push(skip("upstream", fromHere));

  let ca: X509Certificate | undefined;
  const caFile = o.caFile ?? localCa;
  if (caFile) {
    const r = await checkCa(caFile, now());
    checks.push(r.result);
    ca = r.ca;
  }
  const tls = await trustChecks(config, names, o.trust, ca, timeoutMs);
  if (!caFile) checks.push(presentedCa(tls));
  checks.push(...tls.map((t) => t.result));
  checks.push(
    checkClock({ now: now(), caNotBefore: ca ? new Date(ca.validFrom) : undefined, upstreamDates: dates }),
  );
  return { ok: checks.every((c) => c.ok), source, checks };
}

async function upstreamChecks(
  config: LoadedConfig["config"],
  credentials: LoadedConfig["credentials"],
  o: DoctorOptions,
  timeoutMs: number,
  checks: CheckResult[],
): Promise<{ registry: string; date: string }[]> {
  const dispatcher = createUpstreamDispatcher(
    config,
    new UpstreamResolver(config.upstreamDns, { timeoutMs }),
  );
  const dates: { registry: string; date: string }[] = [];
  try {
    const upstreams = await Promise.all(
      Object.entries(config.registries).map(([registry, reg]) =>
        checkUpstream({
          registry,
          config: reg,
          credentials: credentials.get(registry),
          dispatcher,
          repository: o.repository,
          timeoutMs,
        }),
      ),
    );
    for (const u of upstreams) {
      checks.push(u.result);
      if (u.date) dates.push({ registry: u.registry, date: u.date });
    }
  } finally {
    await dispatcher.close();
  }
  return dates;
}

/** A TLS check per name that resolved; the port is the name's own, else listen.https's (443). */
function trustChecks(
  config: LoadedConfig["config"],
  names: NameCheck[],
  trust: BuilderTrust,
  ca: X509Certificate | undefined,
  timeoutMs: number,
) {
  const httpsPort = config.listen.https?.port ?? 443;
  return Promise.all(
    names.map(async (n) => {
      const address = n.answers[0];
      if (!address)
        return {
          result: fail(`tls ${n.host}`, "not checked: the name does not resolve", "fix its dns check first"),
        };
      const port = Number(/:(\d+)$/.exec(n.host)?.[1] ?? httpsPort);
      return checkTrust({ host: n.host, address, port, trust, ca, timeoutMs });
    }),
  );
}

/**
 * Without --ca and off wharf's host, wharf's CA is the issuer of what it presents: every name must
 * present certificates of one issuer, or some name leads elsewhere. --ca makes this certain.
 */
function presentedCa(tls: { leaf?: X509Certificate; result: CheckResult }[]): CheckResult {
  const issuers = [...new Set(tls.flatMap((t) => (t.leaf ? [issuerOf(t.leaf)] : [])))];
  if (issuers.length === 0) return skip("ca", "no --ca given and no certificate presented to compare");
  if (issuers.length > 1)
    return fail(
      "ca",
      `the intercepted names present certificates of ${issuers.length} issuers (${issuers.join("; ")}): some lead elsewhere than wharf`,
      "give wharf's CA with --ca FILE (`wharf ca export --out wharf-ca.crt` on wharf's host) to see which",
    );
  return pass(
    "ca",
    `wharf presents certificates issued by ${issuers[0]} (give --ca FILE to compare with a known CA)`,
  );
}
