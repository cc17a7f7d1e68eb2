// Docker: certs.d/<host>/ca.crt for every host wharf intercepts, to copy to /etc/docker/certs.d
// (dockerd reads it on each connection, no restart). Docker Hub is the exception (notes/clients.md).
import type { Config } from "../config/schema.ts";
import { type ClientConfig, type GeneratedFile, interceptedHosts, isDockerHub } from "./client-targets.ts";

export const SYSTEM_CA_FILE = "/usr/local/share/ca-certificates/wharf.crt";

export function dockerCertsConfig(opts: { config: Config; caPem: string }): ClientConfig {
  const hosts = interceptedHosts(opts.config);
  const files: GeneratedFile[] = [
    { path: "ca.crt", content: opts.caPem },
    ...hosts.map((h) => ({ path: `certs.d/${h}/ca.crt`, content: opts.caPem })),
  ];
  const notes: string[] = [];
  if (hosts.length === 0) {
    notes.push("No registry has intercept: true, so there are no host names to trust wharf's CA for.");
  } else {
    notes.push(
      "Copy certs.d/ to /etc/docker/certs.d/ on each builder; dockerd picks it up without a restart.",
    );
  }
  if (hosts.some(isDockerHub)) {
    notes.push(
      "Docker Hub is different: dockerd ignores certs.d for docker.io and registry-1.docker.io and trusts only " +
        "the system store. On each builder (Debian, Ubuntu, Alpine, docker:dind), add the CA there and restart dockerd:\n" +
        `  cp ca.crt ${SYSTEM_CA_FILE} && update-ca-certificates\n` +
        "The docker CLI fetches registry tokens for BuildKit itself, so the same store covers it. " +
        "Alternatively use mirror mode: wharf client-config daemon-json.",
    );
  }
  return { files, notes };
}
