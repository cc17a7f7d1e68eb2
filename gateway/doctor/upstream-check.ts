// Can wharf reach each upstream registry, and are its credentials accepted? GET /v2/ with
// authentication (UpstreamClient, as the gateway sends it), then, where the upstream uses Bearer
// tokens, one token for `repository:<name>:pull`. Neither counts as a pull: Docker Hub counts
// manifest GETs only (docs.docker.com/docker-hub/usage/pulls).
import type { Dispatcher } from "undici";
import { isWharfError } from "../../common/errors.ts";
import { VERSION } from "../../common/version.ts";
import type { Credentials } from "../config/load-config.ts";
import type { RegistryConfig } from "../config/schema.ts";
import { silentLogger } from "../log.ts";
import { UpstreamClient } from "../upstream/upstream-client.ts";
import { type CheckResult, fail, pass, reason, skip } from "./check-result.ts";

export interface UpstreamCheck {
  registry: string;
  result: CheckResult;
  /** The upstream's Date header, for the clock check. */
  date?: string;
}

export async function checkUpstream(opts: {
  registry: string;
  config: RegistryConfig;
  credentials: Credentials | undefined;
  dispatcher: Dispatcher;
  /** Repository to fetch a pull token for; default library/alpine. */
  repository?: string;
  timeoutMs: number;
}): Promise<UpstreamCheck> {
  const { registry, credentials } = opts;
  const name = `upstream ${registry}`;
  const url = opts.config.upstream;
  let date: string | undefined;
  const done = (result: CheckResult): UpstreamCheck => ({ registry, result, date });
  if (url === undefined) return done(skip(name, "hosted: wharf holds its images, there is no upstream"));
  if (opts.config.offline) return done(skip(name, "offline: true, wharf never contacts it"));
  const as = credentials ? `as ${credentials.username}` : "anonymously";
  const authFix = credentials
    ? `check registries.${registry}.auth (username ${credentials.username} and its password)`
    : `this upstream wants credentials: set registries.${registry}.auth`;
  const client = new UpstreamClient({
    registry,
    upstream: url,
    dispatcher: opts.dispatcher,
    credentials,
    log: silentLogger,
    userAgent: `wharf-doctor/${VERSION}`,
  });
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let status: number;
  try {
    const res = await client.request("GET", "", { repository: "", signal });
    await res.body.dump();
    status = res.status;
    date = res.headers.date;
  } catch (e) {
    // The token service refusing the credentials surfaces here, from the retry after the 401.
    const fix = isWharfError(e, "UNAUTHORIZED")
      ? authFix
      : `check that ${url} is reachable from wharf (upstreamDns, upstreamProxy, firewall)`;
    return done(fail(name, `${url}: ${reason(e)}`, fix));
  }
  if (status === 401 || status === 403)
    return done(fail(name, `${url}/v2/ refused access ${as} (HTTP ${status})`, authFix));
  if (status !== 200) {
    return done(
      fail(
        name,
        `${url}/v2/ answered HTTP ${status}`,
        `check that registries.${registry}.upstream is a registry's address`,
      ),
    );
  }
  const challenge = client.auth.challenge;
  if (challenge?.scheme !== "bearer") {
    const how = challenge?.scheme === "basic" ? `Basic auth accepted ${as}` : "no authentication asked";
    return done(pass(name, `${url}/v2/ answered 200 (${how})`));
  }
  const scope = `repository:${opts.repository ?? "library/alpine"}:pull`;
  try {
    await client.auth.answer(challenge, scope, signal);
  } catch (e) {
    return done(fail(name, `token for ${scope} refused ${as}: ${reason(e)}`, authFix));
  }
  return done(pass(name, `${url}/v2/ answered 200; token for ${scope} granted ${as}`));
}
