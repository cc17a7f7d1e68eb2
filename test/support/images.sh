#!/bin/bash
# images.sh OUT [BIG_MIB]: writes an OCI image layout (OCI image spec, image-layout.md) to OUT
# with reproducible digests: tar with fixed order, owners, modes and mtimes; gzip -n (no name,
# no timestamp); fixed "created"; openssl AES-CTR keystream as deterministic random data.
#   busybox  linux/amd64 image, 2 layers: static busybox + applet links, then /etc and /tmp
#   multi    OCI index: linux/amd64 and linux/arm64/v8, both on the busybox layers plus one
#            extra layer each (/platform holding the platform name)
#   big      linux/amd64 image: BIG_MIB (default 100) MiB of incompressible data + a small layer
# Tags are index.json entries annotated org.opencontainers.image.ref.name (skopeo's oci:DIR:TAG).
set -euo pipefail
umask 022
OUT=${1:?usage: images.sh OUT [BIG_MIB]}; BIG_MIB=${2:-100}
BUSYBOX=$(command -v busybox)
if ldd "$BUSYBOX" >/dev/null 2>&1; then echo "images.sh: $BUSYBOX is dynamic; install busybox-static" >&2; exit 1; fi
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT/blobs/sha256"
MANIFEST=application/vnd.oci.image.manifest.v1+json
INDEX=application/vnd.oci.image.index.v1+json
CONFIG=application/vnd.oci.image.config.v1+json
LAYER=application/vnd.oci.image.layer.v1.tar+gzip

# blob FILE: stores FILE under its digest, prints "DIGEST SIZE"
blob() {
  local hex; hex=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$OUT/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$1")"
}

# layer DIR: tars + gzips DIR, prints "DIGEST SIZE DIFF_ID" (diff_id = digest of the tar)
layer() {
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w \
    -C "$1" -cf "$WORK/layer.tar" .
  local diff; diff=$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
  gzip -n -1 -c "$WORK/layer.tar" > "$WORK/layer.tar.gz"
  echo "$(blob "$WORK/layer.tar.gz") sha256:$diff"
}

# image ARCH VARIANT LAYER_SPEC...: writes config + manifest, prints the manifest "DIGEST SIZE"
image() {
  local arch=$1 variant=$2 layers="" diffs="" d s i; shift 2
  for spec in "$@"; do
    read -r d s i <<<"$spec"
    layers="$layers${layers:+,}{\"mediaType\":\"$LAYER\",\"digest\":\"$d\",\"size\":$s}"
    diffs="$diffs${diffs:+,}\"$i\""
  done
  printf '{"architecture":"%s",%s"os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$arch" "${variant:+\"variant\":\"$variant\",}" "$diffs" > "$WORK/config.json"
  read -r d s < <(blob "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
    "$MANIFEST" "$CONFIG" "$d" "$s" "$layers" > "$WORK/manifest.json"
  blob "$WORK/manifest.json"
}

REFS=""
# ref TAG MEDIA_TYPE "DIGEST SIZE": adds an index.json entry
ref() {
  local d s; read -r d s <<<"$3"
  REFS="$REFS${REFS:+,}{\"mediaType\":\"$2\",\"digest\":\"$d\",\"size\":$s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$1\"}}"
}

# rootdir NAME: a fresh directory with fixed permissions for one layer's content
rootdir() { mkdir -p "$WORK/$1"; chmod 755 "$WORK/$1"; echo "$WORK/$1"; }

R=$(rootdir bin-layer); mkdir -p "$R/bin"
cp "$BUSYBOX" "$R/bin/busybox"; chmod 755 "$R/bin/busybox"
for applet in sh ls cat echo true sleep id uname wget sha256sum; do ln -s busybox "$R/bin/$applet"; done
BASE1=$(layer "$R")
R=$(rootdir etc-layer); mkdir -p "$R/etc" "$R/tmp"; chmod 1777 "$R/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
printf 'wharf test image\n' > "$R/etc/motd"
BASE2=$(layer "$R")
ref busybox "$MANIFEST" "$(image amd64 "" "$BASE1" "$BASE2")"

R=$(rootdir amd64-layer); printf 'linux/amd64\n' > "$R/platform"
AMD64=$(image amd64 "" "$BASE1" "$BASE2" "$(layer "$R")")
R=$(rootdir arm64-layer); printf 'linux/arm64/v8\n' > "$R/platform"
ARM64=$(image arm64 v8 "$BASE1" "$BASE2" "$(layer "$R")")
read -r da sa <<<"$AMD64"; read -r db sb <<<"$ARM64"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}' \
  "$INDEX" "$MANIFEST" "$da" "$sa" "$MANIFEST" "$db" "$sb" > "$WORK/index.json"
ref multi "$INDEX" "$(blob "$WORK/index.json")"

R=$(rootdir big-layer)
# AES-CTR keystream of a fixed key: incompressible, identical on every run, fast
openssl enc -aes-128-ctr -pass pass:wharf-big -nosalt -pbkdf2 -in /dev/zero 2>/dev/null \
  | head -c "$((BIG_MIB * 1024 * 1024))" > "$R/big.bin" || true
[ "$(stat -c %s "$R/big.bin")" -eq "$((BIG_MIB * 1024 * 1024))" ] || { echo "images.sh: short big.bin" >&2; exit 1; }
BIG1=$(layer "$R")
R=$(rootdir big-small-layer); printf 'big image, %s MiB\n' "$BIG_MIB" > "$R/README"
ref big "$MANIFEST" "$(image amd64 "" "$BIG1" "$(layer "$R")")"

printf '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$INDEX" "$REFS" > "$OUT/index.json"
