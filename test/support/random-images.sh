#!/bin/bash
# random-images.sh OUT COUNT MIB: an OCI image layout with COUNT single-layer images tagged
# img0..imgN-1, each layer MIB MiB of distinct deterministic incompressible data (AES-CTR
# keystream seeded by the index), for cache-size and eviction tests.
set -euo pipefail
umask 022
OUT=${1:?usage: random-images.sh OUT COUNT MIB}; COUNT=${2:?}; MIB=${3:?}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
blob() { local hex; hex=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$OUT/blobs/sha256/$hex"; echo "sha256:$hex $(stat -c %s "$1")"; }
entries=""
for i in $(seq 0 $((COUNT - 1))); do
  mkdir -p "$WORK/r$i"
  openssl enc -aes-128-ctr -pass "pass:wharf-$i" -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c "${MIB}M" > "$WORK/r$i/data" || true
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$WORK/r$i" -cf "$WORK/l$i.tar" .
  diff=sha256:$(sha256sum "$WORK/l$i.tar" | cut -d' ' -f1)
  gzip -n -1 -f "$WORK/l$i.tar"
  read -r ld ls < <(blob "$WORK/l$i.tar.gz")
  printf '{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{"Env":["I=%s"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$i" "$diff" > "$WORK/c$i.json"
  read -r cd cs < <(blob "$WORK/c$i.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" > "$WORK/m$i.json"
  read -r md ms < <(blob "$WORK/m$i.json")
  entries="$entries${entries:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$md\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"img$i\"}}"
done
printf '{"schemaVersion":2,"manifests":[%s]}' "$entries" > "$OUT/index.json"
