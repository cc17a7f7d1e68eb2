#!/bin/bash
# images.sh OUT [BIG_MIB]: writes the test images as an OCI image layout to OUT, with
# reproducible digests (helpers in oci-layout.sh).
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
# shellcheck source=oci-layout.sh
source "$(dirname "$0")/oci-layout.sh"

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
random "$R/big.bin" "$((BIG_MIB * 1024 * 1024))" wharf-big
[ "$(stat -c %s "$R/big.bin")" -eq "$((BIG_MIB * 1024 * 1024))" ] || { echo "images.sh: short big.bin" >&2; exit 1; }
BIG1=$(layer "$R")
R=$(rootdir big-small-layer); printf 'big image, %s MiB\n' "$BIG_MIB" > "$R/README"
ref big "$MANIFEST" "$(image amd64 "" "$BIG1" "$(layer "$R")")"

write_index
