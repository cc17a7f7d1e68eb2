// A throw-away CA and one leaf certificate, made with openssl (testbed.md, mkca.sh).
// EC P-256 for both: the leaf also signs registry tokens (ES256) in token-server.ts, and Go's
// x509 (docker-registry) needs SANs, it ignores the CN.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";

export interface TestCa {
  caCert: string;
  caKey: string;
  /** Leaf certificate (PEM) with the requested SANs, signed by the CA. */
  cert: string;
  key: string;
  /** A directory holding only ca.crt: for skopeo --cert-dir and docker certs.d (a *.key there needs a *.cert). */
  certDir: string;
}

export interface TestCaOptions {
  dnsNames: string[];
  ips: string[];
  /** Default 30. */
  days?: number;
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export async function makeTestCa(dir: string, opts: TestCaOptions): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const days = String(opts.days ?? 30);
  const ca: TestCa = {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    cert: join(dir, "server.crt"),
    key: join(dir, "server.key"),
    certDir: join(dir, "trust"),
  };
  await runCommand(
    ["openssl", "req", "-x509", "-new", ...P256, "-keyout", ca.caKey, "-out", ca.caCert]
      .concat(["-days", days, "-subj", "/CN=wharf test CA"])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE"])
      .concat(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
  );
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  const san = [...opts.dnsNames.map((n) => `DNS:${n}`), ...opts.ips.map((ip) => `IP:${ip}`)].join(",");
  if (!san) throw new Error("makeTestCa: give at least one DNS name or IP");
  await writeFile(
    ext,
    [
      `subjectAltName=${san}`,
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  const cn = opts.dnsNames[0] ?? opts.ips[0] ?? "wharf test";
  await runCommand(["openssl", "req", "-new", ...P256, "-keyout", ca.key, "-out", csr, "-subj", `/CN=${cn}`]);
  await runCommand(
    ["openssl", "x509", "-req", "-in", csr, "-CA", ca.caCert, "-CAkey", ca.caKey]
      .concat(["-CAcreateserial", "-CAserial", join(dir, "ca.srl"), "-out", ca.cert, "-days", days])
      .concat(["-extfile", ext]),
  );
  await runCommand(["openssl", "verify", "-CAfile", ca.caCert, ca.cert]);
  await mkdir(ca.certDir, { recursive: true });
  await copyFile(ca.caCert, join(ca.certDir, "ca.crt"));
  return ca;
}
