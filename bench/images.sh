#!/bin/bash
# images.sh OUT BIG_MIB MID_MIB: the benchmark's OCI image layout (OCI image spec, image-layout.md).
# test/support/images.sh writes busybox, multi (2-platform index) and big (BIG_MIB of incompressible
# data); this script adds, with the same helpers (test/support/oci-layout.sh):
#   many  linux/amd64 image of 40 small layers (4 KiB to 1 MiB each): per-request costs dominate
#   mid   linux/amd64 image with one MID_MIB layer (0 = not built): the layer of the "32 clients,
#         one uncached layer" figure
set -euo pipefail
umask 022
OUT=${1:?usage: images.sh OUT BIG_MIB MID_MIB}; BIG_MIB=${2:?}; MID_MIB=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
bash "$HERE/../test/support/images.sh" "$OUT" "$BIG_MIB"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
# shellcheck source=../test/support/oci-layout.sh
source "$HERE/../test/support/oci-layout.sh"

SPECS=()
SIZES=(4K 16K 64K 256K 1M)
for i in $(seq 1 40); do
  mkdir -p "$WORK/many-$i"
  random "$WORK/many-$i/part-$i.bin" "${SIZES[$((i % 5))]}" "wharf-many-$i"
  SPECS+=("$(layer "$WORK/many-$i")")
done
ref many "$MANIFEST" "$(image amd64 "" "${SPECS[@]}")"

if [ "$MID_MIB" -gt 0 ]; then
  mkdir -p "$WORK/mid"
  random "$WORK/mid/mid.bin" "${MID_MIB}M" wharf-mid
  [ "$(stat -c %s "$WORK/mid/mid.bin")" -eq "$((MID_MIB * 1024 * 1024))" ] || { echo "images.sh: short mid.bin" >&2; exit 1; }
  ref mid "$MANIFEST" "$(image amd64 "" "$(layer "$WORK/mid")")"
fi

write_index  # appends to the index.json test/support/images.sh wrote
