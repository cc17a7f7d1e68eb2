// dockerd's registry-mirrors (daemon.json): mirror mode for Docker Hub only. dockerd uses mirrors for
// Docker Hub pulls alone and falls back to Hub when the mirror fails (notes/clients.md).
import type { Config } from "../config/schema.ts";
import {
  type ClientConfig,
  clientTargets,
  isDockerHub,
  mirrorEndpoint,
  sniNote,
  urlHost,
} from "./client-targets.ts";

export function daemonJsonConfig(opts: { config: Config; address: string; https?: boolean }): ClientConfig {
  const https = opts.https ?? false;
  const mirror = mirrorEndpoint(opts.config, opts.address, https);
  const content = `${JSON.stringify({ "registry-mirrors": [mirror] }, null, 2)}\n`;
  const notes = [
    "Merge this into /etc/docker/daemon.json on each builder and restart dockerd (BuildKit only reads " +
      "registry-mirrors at start; SIGHUP updates docker pull alone).",
  ];
  if (!clientTargets(opts.config).some((t) => isDockerHub(t.registry))) {
    notes.push(
      "No docker.io registry is configured in wharf, yet registry-mirrors only applies to Docker Hub.",
    );
  }
  if (https) {
    const port = opts.config.listen.https?.port ?? 443;
    const dir = port === 443 ? urlHost(opts.address) : `${urlHost(opts.address)}:${port}`;
    notes.push(`dockerd verifies the mirror with /etc/docker/certs.d/${dir}/ca.crt: put wharf's CA there.`);
    notes.push(...sniNote(opts.address));
  }
  return { files: [{ path: "daemon.json", content }], notes };
}
