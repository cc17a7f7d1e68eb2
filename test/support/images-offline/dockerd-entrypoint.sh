#!/bin/sh
# Stand-in for docker:dind's entrypoint (tests only): the same interface (no arguments or flags ->
# dockerd; DOCKER_TLS_CERTDIR -> a CA plus server and client certificates there, TLS on 2376, else
# plain TCP on 2375), on Debian's docker.io. Written for this project, not copied from the image.
set -eu
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- dockerd "$@"; fi
if [ "$1" = dockerd ]; then
  shift
  mount -t securityfs none /sys/kernel/security 2>/dev/null || true
  # Without --privileged (impossible on the test machines, see the compose test override) /proc/sys,
  # /sys and the cgroup mounts are read-only; CAP_SYS_ADMIN may remount them, as dockerd needs.
  if [ ! -w /proc/sys/net/ipv4/ip_forward ]; then
    for m in /proc/sys /sys /sys/fs/cgroup /sys/fs/cgroup/*; do
      if mountpoint -q "$m"; then
        mount -o remount,rw "$m" 2>/dev/null || mount -o remount,bind,rw "$m" 2>/dev/null ||
          echo "dockerd-entrypoint: cannot remount $m read-write" >&2
      fi
    done
  fi
  if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
    d="$DOCKER_TLS_CERTDIR"
    mkdir -p "$d/ca" "$d/server" "$d/client"
    if [ ! -s "$d/ca/key.pem" ]; then
      openssl genrsa -out "$d/ca/key.pem" 3072 2>/dev/null
      openssl req -new -x509 -days 825 -key "$d/ca/key.pem" -subj "/CN=dind test CA" -out "$d/ca/cert.pem"
    fi
    for who in server client; do
      [ -s "$d/$who/cert.pem" ] && continue
      openssl genrsa -out "$d/$who/key.pem" 3072 2>/dev/null
      if [ "$who" = server ]; then
        printf 'subjectAltName=DNS:docker,DNS:localhost,DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
          "$(hostname)" > "$d/$who/ext.cnf"
      else
        printf 'extendedKeyUsage=clientAuth\n' > "$d/$who/ext.cnf"
      fi
      openssl req -new -key "$d/$who/key.pem" -subj "/CN=docker $who" -out "$d/$who/csr.pem"
      openssl x509 -req -in "$d/$who/csr.pem" -CA "$d/ca/cert.pem" -CAkey "$d/ca/key.pem" -CAcreateserial \
        -days 825 -extfile "$d/$who/ext.cnf" -out "$d/$who/cert.pem" 2>/dev/null
      cp "$d/ca/cert.pem" "$d/$who/ca.pem"
    done
    set -- dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376 --tlsverify \
      --tlscacert "$d/server/ca.pem" --tlscert "$d/server/cert.pem" --tlskey "$d/server/key.pem" "$@"
  else
    set -- dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 "$@"
  fi
fi
exec "$@"
