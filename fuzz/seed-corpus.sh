#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seeds: every ELF fixture, and image
# tarballs made from them by cargo-slim itself (plus skopeo's docker-archive
# and uncompressed OCI forms when skopeo is installed). Run from anywhere.
set -euo pipefail
fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$fuzz")"
mkdir -p "$fuzz"/corpus/{inspect,verify,archive,layer}
cp "$repo"/testdata/elf/* "$fuzz/corpus/inspect/"
rm -f "$fuzz"/corpus/inspect/{README.md,make-fixtures.sh}
cp "$fuzz"/corpus/inspect/* "$fuzz/corpus/verify/"

(cd "$repo" && cargo build --quiet)
slim="$repo/target/debug/cargo-slim"
for bin in static static-pie aarch64-static glibc-dynamic upx-packed; do
    out="$fuzz/corpus/archive/$bin.tar"
    "$slim" slim -q build --binary "$repo/testdata/elf/$bin" --tag "fuzz/$bin:1" -o "$out" \
        >/dev/null 2>&1 || echo "note: cargo slim build refused $bin (expected for dynamic)" >&2
    [ -e "$out" ] || continue
    if command -v skopeo >/dev/null; then
        skopeo copy -q "oci-archive:$out" "docker-archive:$fuzz/corpus/archive/$bin-docker.tar"
        skopeo copy -q --dest-decompress "oci-archive:$out" "oci-archive:$fuzz/corpus/archive/$bin-plain.tar"
    fi
done
cp "$fuzz"/corpus/archive/* "$fuzz/corpus/verify/"
# layer: tars with long names as GNU tar writes them (PAX and GNU formats)
long="$(mktemp -d)"
mkdir -p "$long/p/$(printf 'c%.0s' {1..100})/$(printf 'd%.0s' {1..100})"
printf 101 > "$long/p/$(printf 'a%.0s' {1..101})"
printf 255 > "$long/p/$(printf 'b%.0s' {1..255})"
printf deep > "$long/p/$(printf 'c%.0s' {1..100})/$(printf 'd%.0s' {1..100})/f"
for format in pax gnu ustar; do
    tar --format="$format" --sort=name --owner=0 --group=0 --numeric-owner \
        -C "$long" -cf "$fuzz/corpus/layer/long-$format.tar" p 2>/dev/null || true
done
rm -rf "$long"
ls "$fuzz"/corpus/* | head -50
