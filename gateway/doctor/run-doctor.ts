// `wharf doctor`: every check in order, from the configuration to the builders' trust in the CA.
// A check that cannot run for want of an earlier one (no valid config) is not run at all.
import { type LoadedConfig, loadConfig } from "../config/load-config.ts";
import { type HostPort, parseDnsServer } from "../config/schema.ts";
import { createUpstreamDispatcher } from "../upstream/dispatcher.ts";
import { UpstreamResolver } from "../upstream/upstream-resolver.ts";
import { caCertFile, checkCa, checkCertsDir } from "./ca-check.ts";
import { type CheckResult, fail, pass, reason, skip } from "./check-result.ts";
import { checkClock } from "./clock-check.ts";
import { checkInterceptedNames, checkUpstreamDns } from "./dns-check.ts";
import { checkListeners, dialHost } from "./listener-check.ts";
import { checkUpstream } from "./upstream-check.ts";

export interface DoctorOptions {
  configFile?: string;
  env: Record<string, string | undefined>;
  /** DNS server builders use ("ip" or "ip:port"); default listen.dns. */
  dns?: string;
  /** wharf's address as builders should see it; default dns.answer. */
  expect?: string[];
  /** A certs.d directory to check for wharf's CA. */
  certsDir?: string;
  /** wharf's CA certificate; default tls.caCertFile or dataDir/ca.crt. */
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

  checks.push(...(await checkListeners(config, timeoutMs)));

  let dnsServer: HostPort | undefined;
  if (o.dns) dnsServer = parseDnsServer(o.dns);
  else if (config.listen.dns)
    dnsServer = { host: dialHost(config.listen.dns.host), port: config.listen.dns.port };
  if (o.dns && !dnsServer)
    checks.push(
      fail("dns", `--dns ${o.dns} is not an address like 10.0.0.2 or 10.0.0.2:53`, "give --dns IP[:PORT]"),
    );
  else if (!dnsServer)
    checks.push(skip("dns", "listen.dns is off and no --dns given: builders find wharf some other way"));
  else
    checks.push(...(await checkInterceptedNames({ config, server: dnsServer, expect: o.expect, timeoutMs })));

  checks.push(await checkUpstreamDns(config, timeoutMs));

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

  const { result, ca } = await checkCa(o.caFile ?? caCertFile(config), now());
  checks.push(result);
  if (o.certsDir) {
    if (ca) checks.push(...(await checkCertsDir(o.certsDir, config, ca)));
    else checks.push(fail("certs.d", "cannot check without wharf's CA", "fix the ca check first"));
  }

  checks.push(
    checkClock({ now: now(), caNotBefore: ca ? new Date(ca.validFrom) : undefined, upstreamDates: dates }),
  );
  return { ok: checks.every((c) => c.ok), source, checks };
}
