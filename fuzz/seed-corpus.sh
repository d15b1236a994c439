#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seeds: every ELF fixture, and image
# tarballs made from them by cargo-slim itself (plus skopeo's docker-archive
# and uncompressed OCI forms when skopeo is installed). Run from anywhere.
set -euo pipefail
fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$fuzz")"
mkdir -p "$fuzz"/corpus/{inspect,verify,archive}
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
ls "$fuzz"/corpus/* | head -50
