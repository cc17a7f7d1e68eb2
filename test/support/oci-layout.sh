# oci-layout.sh: shell helpers that write an OCI image layout (OCI image spec, image-layout.md) with
# reproducible digests: tar with fixed order, owners, modes and mtimes; gzip -n (no name, no
# timestamp); a fixed "created"; openssl AES-CTR keystream as deterministic random data.
# Sourced by test/support/images.sh and bench/images.sh, which set OUT (the layout) and WORK (scratch).
MANIFEST=application/vnd.oci.image.manifest.v1+json
INDEX=application/vnd.oci.image.index.v1+json
CONFIG=application/vnd.oci.image.config.v1+json
LAYER=application/vnd.oci.image.layer.v1.tar+gzip
mkdir -p "$OUT/blobs/sha256"

# blob FILE: stores FILE under its digest, prints "DIGEST SIZE"
blob() {
  local hex; hex=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$OUT/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$1")"
}

# random FILE SIZE PASS: SIZE (like 256M or 64K) incompressible bytes, the same on every run
random() {
  openssl enc -aes-128-ctr -pass "pass:$3" -nosalt -pbkdf2 -in /dev/zero 2>/dev/null | head -c "$2" > "$1" || true
}

# layer DIR: tars + gzips DIR, prints "DIGEST SIZE DIFF_ID" (diff_id = digest of the tar)
layer() {
  chmod 755 "$1"
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
# ref TAG MEDIA_TYPE "DIGEST SIZE": adds an index.json entry (written by write_index)
ref() {
  local d s; read -r d s <<<"$3"
  REFS="$REFS${REFS:+,}{\"mediaType\":\"$2\",\"digest\":\"$d\",\"size\":$s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$1\"}}"
}

# write_index: oci-layout and index.json with every ref, after those index.json already lists
write_index() {
  local old=""
  if [ -f "$OUT/index.json" ]; then
    old=$(sed -e 's/^.*"manifests":\[//' -e 's/\]}$//' "$OUT/index.json")
  fi
  printf '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s%s%s]}' \
    "$INDEX" "$old" "${old:+${REFS:+,}}" "$REFS" > "$OUT/index.json"
}
