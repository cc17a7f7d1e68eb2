// wharf's CA: given with --ca, or the one the configuration names when doctor runs on wharf's host.
// The CA is only read here, never created: doctor must not leave a new CA behind on a machine that
// has none (a builder). The builders' trust in it is trust-check.ts.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { caFiles } from "../../certs/certificate-authority.ts";
import type { Config } from "../config/schema.ts";
import { type CheckResult, fail, pass, reason } from "./check-result.ts";

/** The CA certificate file wharf uses with this configuration (start-https.ts loadCa). */
export function caCertFile(config: Config): string {
  return config.tls.caCertFile ?? caFiles(config.dataDir).certFile;
}

/** Every certificate in a PEM bundle. */
export function certificates(pem: string): X509Certificate[] {
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
        "give wharf's CA with --ca FILE (`wharf ca export --out wharf-ca.crt` on wharf's host)",
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
