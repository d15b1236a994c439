#!/usr/bin/env bash
# Regenerates the UPX test fixtures (needs musl-gcc from musl-tools, python3, upx).
#   incompressible  a static musl program whose bulk is 60 KB of seeded random
#                   bytes, linked without page padding: UPX refuses it with
#                   NotCompressibleException, which cargo-slim must survive by
#                   keeping the unpacked binary.
#   packed          testdata/elf/static-unstripped packed by UPX (`upx -l` says
#                   packed): cargo-slim must not pack it again.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/incompressible.c" <<'PY'
import random, sys
random.seed(7)
blob = bytes(random.getrandbits(8) for _ in range(60000))
with open(sys.argv[1], "w") as f:
    f.write('#include <stdio.h>\n__attribute__((used)) const unsigned char blob[] = {')
    f.write(",".join(map(str, blob)))
    f.write('};\nint main(int c, char **v) { (void)v; puts("incompressible"); return blob[c] & 0; }\n')
PY
musl-gcc -static -Os -Wl,-z,noseparate-code -Wl,--build-id=none -o incompressible "$work/incompressible.c"
strip incompressible
if upx -q -o "$work/x.upx" incompressible >/dev/null 2>&1; then
  echo "incompressible: UPX packed it after all; adjust the fixture" >&2
  exit 1
fi
rm -f packed
upx -q --best -o packed ../elf/static-unstripped >/dev/null
upx -l packed >/dev/null
ls -l incompressible packed
