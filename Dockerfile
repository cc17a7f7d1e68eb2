# wharf container image. No build step: Node 24 runs the TypeScript sources directly (type stripping),
# so the image is the production dependencies plus the source folders.
#
#   docker build -t wharf:local .
#   docker run -d --name wharf -p 443:443 -p 53:53/udp -v wharf-data:/var/lib/wharf wharf:local
#
# Ports 443 and 53 as the non-root user `wharf`: the image relies on the network namespace's
# net.ipv4.ip_unprivileged_port_start sysctl, not on file capabilities. Docker 20.10+ already sets it to 0
# in every container that has its own network namespace; the compose and stack files set it explicitly
# (`sysctls:`) for older engines and other runtimes. `setcap cap_net_bind_service` on the node binary was
# rejected: a file capability puts node in secure-execution mode (AT_SECURE), where it ignores NODE_OPTIONS
# and NODE_EXTRA_CA_CERTS, and such a binary cannot even start under `cap_drop: [ALL]`.
# With `--network host` the sysctl cannot be set per container: use ports above 1023 in the config then.

ARG NODE_IMAGE=node:24-slim

# ---- production dependencies only -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/wharf
COPY package.json package-lock.json ./
# Versions come from the lock file. devDependencies are dropped from this stage's package.json first:
# `npm ci` validates the whole tree even with --omit=dev, and fails when the lock lacks a dev tool's
# per-platform optional packages (Biome's binaries; npm/cli#8805, #9846). No production dependency has
# an install script (the only one is the `node` dev dependency: the image brings its own Node).
RUN npm pkg delete devDependencies \
  && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# A fixed uid/gid, so that secret files bind-mounted by `docker compose` can be chown'ed to it on the host.
# The default config is the embedded registries plus the data volume; the compose modes mount their own.
RUN groupadd --system --gid 10001 wharf \
  && useradd --system --uid 10001 --gid wharf --home-dir /var/lib/wharf --no-create-home \
    --shell /usr/sbin/nologin wharf \
  && mkdir -p /var/lib/wharf /etc/wharf \
  && chown wharf:wharf /var/lib/wharf \
  && printf 'dataDir: /var/lib/wharf\n' > /etc/wharf/wharf.yml \
  && printf '#!/bin/sh\nexec node /opt/wharf/bin/wharf.mjs "$@"\n' > /usr/local/bin/wharf \
  && chmod 0755 /usr/local/bin/wharf

WORKDIR /opt/wharf
ENV NODE_ENV=production \
  WHARF_CONFIG=/etc/wharf/wharf.yml
COPY --from=deps /opt/wharf/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY common ./common
COPY certs ./certs
COPY dns ./dns
COPY gateway ./gateway

USER wharf
# A new named volume starts as a copy of this directory, ownership included.
VOLUME ["/var/lib/wharf"]
# 443 TLS gateway, 53 DNS responder, 5000 plain HTTP mirror endpoint. The admin API (9090) listens on the
# container's loopback only.
EXPOSE 443/tcp 53/udp 53/tcp 5000/tcp

# slim images have no curl: node's fetch, bounded so a hung listener counts as unhealthy.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["wharf"]
CMD ["serve"]
