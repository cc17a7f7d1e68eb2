#!/bin/bash
# images.sh OUT BIG_MIB MID_MIB: the benchmark's OCI image layout (OCI image spec, image-layout.md).
# test/support/images.sh writes busybox, multi (2-platform index) and big (BIG_MIB of incompressible
# data); this script adds, with the same reproducibility rules (fixed tar order, owners, mtimes,
# gzip -n, AES-CTR keystream as deterministic random data):
#   many  linux/amd64 image of 40 small layers (4 KiB to 1 MiB each): per-request costs dominate
#   mid   linux/amd64 image with one MID_MIB layer (0 = not built): the layer of the "32 clients,
#         one uncached layer" figure
set -euo pipefail
umask 022
OUT=${1:?usage: images.sh OUT BIG_MIB MID_MIB}; BIG_MIB=${2:?}; MID_MIB=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
bash "$HERE/../test/support/images.sh" "$OUT" "$BIG_MIB"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
MANIFEST=application/vnd.oci.image.manifest.v1+json
CONFIG=application/vnd.oci.image.config.v1+json
LAYER=application/vnd.oci.image.layer.v1.tar+gzip

# blob FILE: stores FILE under its digest, prints "DIGEST SIZE"
blob() {
  local hex; hex=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$OUT/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$1")"
}

# random FILE MIB_OR_KIB PASS: deterministic incompressible bytes (size like 256M or 64K)
random() {
  openssl enc -aes-128-ctr -pass "pass:$3" -nosalt -pbkdf2 -in /dev/zero 2>/dev/null | head -c "$2" > "$1" || true
}

# layer DIR: prints "DIGEST SIZE DIFF_ID"
layer() {
  chmod 755 "$1"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w -C "$1" -cf "$WORK/l.tar" .
  local diff; diff=$(sha256sum "$WORK/l.tar" | cut -d' ' -f1)
  gzip -n -1 -c "$WORK/l.tar" > "$WORK/l.tar.gz"
  echo "$(blob "$WORK/l.tar.gz") sha256:$diff"
}

# image LAYER_SPEC...: config + manifest for linux/amd64, prints the manifest "DIGEST SIZE"
image() {
  local layers="" diffs="" d s i
  for spec in "$@"; do
    read -r d s i <<<"$spec"
    layers="$layers${layers:+,}{\"mediaType\":\"$LAYER\",\"digest\":\"$d\",\"size\":$s}"
    diffs="$diffs${diffs:+,}\"$i\""
  done
  printf '{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$diffs" > "$WORK/config.json"
  read -r d s < <(blob "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
    "$MANIFEST" "$CONFIG" "$d" "$s" "$layers" > "$WORK/manifest.json"
  blob "$WORK/manifest.json"
}

REFS=""
ref() {  # TAG "DIGEST SIZE"
  local d s; read -r d s <<<"$2"
  REFS="$REFS,{\"mediaType\":\"$MANIFEST\",\"digest\":\"$d\",\"size\":$s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$1\"}}"
}

SPECS=()
SIZES=(4K 16K 64K 256K 1M)
for i in $(seq 1 40); do
  mkdir -p "$WORK/many-$i"
  random "$WORK/many-$i/part-$i.bin" "${SIZES[$((i % 5))]}" "wharf-many-$i"
  SPECS+=("$(layer "$WORK/many-$i")")
done
ref many "$(image "${SPECS[@]}")"

if [ "$MID_MIB" -gt 0 ]; then
  mkdir -p "$WORK/mid"
  random "$WORK/mid/mid.bin" "${MID_MIB}M" wharf-mid
  [ "$(stat -c %s "$WORK/mid/mid.bin")" -eq "$((MID_MIB * 1024 * 1024))" ] || { echo "images.sh: short mid.bin" >&2; exit 1; }
  ref mid "$(image "$(layer "$WORK/mid")")"
fi

# index.json from test/support/images.sh ends with "]}": append the new references
INDEX=$(cat "$OUT/index.json")
printf '%s%s]}' "${INDEX%]\}}" "$REFS" > "$OUT/index.json"
