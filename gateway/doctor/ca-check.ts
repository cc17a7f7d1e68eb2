// wharf's CA and the builders' trust in it. The CA is only read here, never created: doctor must
// not leave a new CA behind on a machine that has none. A certs.d directory (dockerd, containerd
// hosts dirs) must hold wharf's CA for every intercepted host: dockerd loads every *.crt in
// certs.d/<host>/ as a CA (docs.docker.com/engine/security/certificates).
import { X509Certificate } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { caFiles } from "../../certs/certificate-authority.ts";
import { interceptedHosts, isDockerHub } from "../client-config/client-targets.ts";
import type { Config } from "../config/schema.ts";
import { type CheckResult, fail, pass, reason } from "./check-result.ts";

/** The CA certificate file wharf uses with this configuration (start-https.ts loadCa). */
export function caCertFile(config: Config): string {
  return config.tls.caCertFile ?? caFiles(config.dataDir).certFile;
}

/** Every certificate in a PEM bundle. */
function certificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((b) => {
    try {
      return [new X509Certificate(b)];
    } catch {
      return [];
    }
  });
}

export async function checkCa(
  file: string,
  now: number,
): Promise<{ result: CheckResult; ca?: X509Certificate }> {
  let ca: X509Certificate | undefined;
  try {
    ca = certificates(await readFile(file, "utf8"))[0];
  } catch (e) {
    return {
      result: fail(
        "ca",
        `cannot read ${file}: ${reason(e)}`,
        "run doctor where wharf's dataDir is, or give the CA with --ca FILE (`wharf ca export`)",
      ),
    };
  }
  if (!ca)
    return {
      result: fail("ca", `${file} holds no PEM certificate`, "give wharf's CA certificate with --ca FILE"),
    };
  const subject = ca.subject.split("\n").join(", ");
  if (!ca.ca)
    return {
      result: fail(
        "ca",
        `${file} (${subject}) is not a CA certificate`,
        "tls.caCertFile must be a CA (basicConstraints CA:TRUE)",
      ),
      ca,
    };
  if (now > Date.parse(ca.validTo))
    return {
      result: fail(
        "ca",
        `${subject} expired on ${ca.validTo}`,
        "rotate it: `wharf ca rotate`, then give builders the new CA",
      ),
      ca,
    };
  return {
    result: pass(
      "ca",
      `${subject}, SHA-256 ${ca.fingerprint256}, valid until ${new Date(ca.validTo).toISOString()}`,
    ),
    ca,
  };
}

/** certs.d/<host>/*.crt holds `ca` for every intercepted host (the hosts client-config docker writes). */
export async function checkCertsDir(
  dir: string,
  config: Config,
  ca: X509Certificate,
): Promise<CheckResult[]> {
  const hosts = interceptedHosts(config);
  return Promise.all(
    hosts.map(async (host): Promise<CheckResult> => {
      const name = `certs.d ${host}`;
      const hostDir = join(dir, host);
      const fix =
        `wharf client-config docker --out DIR, then copy DIR/certs.d/ to ${dir}` +
        (isDockerHub(host)
          ? "; for Docker Hub dockerd reads only the system store: add the CA there too (update-ca-certificates)"
          : "");
      let files: string[];
      try {
        files = (await readdir(hostDir)).filter((f) => f.endsWith(".crt"));
      } catch (e) {
        return fail(name, `${hostDir}: ${reason(e)}`, fix);
      }
      for (const f of files) {
        const text = await readFile(join(hostDir, f), "utf8").catch(() => "");
        if (certificates(text).some((c) => c.fingerprint256 === ca.fingerprint256))
          return pass(name, `${join(hostDir, f)} is wharf's CA`);
      }
      const seen = files.length ? files.join(", ") : "no *.crt file";
      return fail(
        name,
        `${hostDir} has ${seen}, none is wharf's CA (${ca.fingerprint256.slice(0, 23)}…)`,
        fix,
      );
    }),
  );
}
