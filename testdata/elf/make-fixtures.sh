#!/usr/bin/env bash
# Regenerate the small ELF fixtures used by src/inspect.rs tests.
#
# Needs: gcc, musl-gcc (musl-tools), strip, python3, upx (UPX 4.x, for the
# upx-packed* fixtures), and for the aarch64
# fixture rustc with the aarch64-unknown-linux-musl std installed
# (`rustup target add aarch64-unknown-linux-musl`) plus rust-lld from the
# toolchain. No network access beyond that. Every output is far below 1 MB.
#
# Usage: testdata/elf/make-fixtures.sh   (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# One C program for every libc flavour. It references getaddrinfo (an NSS
# user in glibc) behind a branch that never runs, so the symbol is linked in:
# glibc-dynamic must get the NSS warning, the musl builds must not.
cat > hello.c <<'C'
#include <netdb.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 99) {
        struct addrinfo *ai = NULL;
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        return getaddrinfo(argv[1], NULL, &hints, &ai);
    }
    puts("hello");
    return 0;
}
C

# A tiny shared library (ET_DYN, no PT_INTERP, no DF_1_PIE).
cat > lib.c <<'C'
int slim_answer(void) { return 42; }
C

musl-gcc -Os -static -o static hello.c
cp static static-unstripped
strip static

# musl-gcc's specs file does not understand -static-pie (it would still add
# a PT_INTERP and Scrt1.o), so compile with musl-gcc and link by hand with
# rcrt1.o, the self-relocating start file.
# The musl library directory is the one holding the wrapper's specs file.
musl="$(sed -n 's|.*-specs "\(.*\)/musl-gcc.specs".*|\1|p' "$(command -v musl-gcc)")"
[ -e "$musl/rcrt1.o" ] || musl=/usr/lib/x86_64-linux-musl
musl-gcc -Os -fPIE -c -o hello-pie.o hello.c
gcc -static-pie -nostdlib -nostartfiles -o static-pie \
    "$musl/rcrt1.o" "$musl/crti.o" "$(gcc -print-file-name=crtbeginS.o)" \
    hello-pie.o -L"$musl" -lc "$(gcc -print-libgcc-file-name)" \
    "$(gcc -print-file-name=crtendS.o)" "$musl/crtn.o"
strip static-pie

gcc -Os -o glibc-dynamic hello.c
strip glibc-dynamic

musl-gcc -Os -o musl-dynamic hello.c
strip musl-dynamic
# Print the PT_INTERP string of an ELF64 LSB file (empty if none).
interp_of() {
python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", d, 0x20)
phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
for i in range(phnum):
    o = phoff + i * phentsize
    p_type, = struct.unpack_from("<I", d, o)
    if p_type == 3:
        off, = struct.unpack_from("<Q", d, o + 8)
        size, = struct.unpack_from("<Q", d, o + 32)
        print(d[off:off + size].rstrip(b"\0").decode())
PY
}
for f in static static-pie; do
    if [ -n "$(interp_of "$f")" ]; then
        echo "$f unexpectedly has a PT_INTERP: $(interp_of "$f")" >&2
        exit 1
    fi
done
interp="$(interp_of musl-dynamic)"
if [ "$interp" != "/lib/ld-musl-x86_64.so.1" ]; then
    echo "musl-dynamic has PT_INTERP '$interp', expected /lib/ld-musl-x86_64.so.1" >&2
    exit 1
fi

musl-gcc -Os -shared -fPIC -nostdlib -o shared-lib lib.c
strip shared-lib

musl-gcc -Os -c -o object lib.c
strip --strip-debug object

head -c 100 static > truncated

# UPX-packed copies of the static and static-pie programs. A packed file shows
# only the UPX stub's headers: always static (ET_EXEC) or, for a PIE, an
# ET_DYN with neither PT_INTERP nor PT_DYNAMIC. UPX 4.2 is deterministic for
# the same input and refuses too-small or unknown inputs (e.g. the 864-byte
# aarch64 fixture), so pack the ~40 KiB musl programs.
if command -v upx >/dev/null; then
    upx -q --best -o upx-packed static >/dev/null
    upx -q --best -o upx-packed-pie static-pie >/dev/null
    upx -q -t upx-packed upx-packed-pie >/dev/null
else
    echo "skipping upx-packed, upx-packed-pie: upx is not installed" >&2
fi

printf '#!/bin/sh\necho hello\n' > script
chmod +x script

: > empty

# 4 KiB of deterministic pseudo-random bytes (Mersenne Twister, seed 42).
python3 -c 'import random, sys; random.seed(42); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(4096)))' > random

# i386: a hand-made minimal ELF32 executable (header + one PT_LOAD + code
# doing exit(0) via int 0x80).
python3 - i386 <<'PY'
import struct, sys
base = 0x08048000
ehsize, phentsize = 52, 32
code = bytes([0x31, 0xdb, 0x31, 0xc0, 0x40, 0xcd, 0x80])  # xor ebx,ebx; xor eax,eax; inc eax; int 0x80
entry = base + ehsize + phentsize
ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)        # ELFCLASS32, LSB, version 1, SysV
ehdr = ident + struct.pack("<HHIIIIIHHHHHH",
    2, 3, 1, entry, ehsize, 0, 0, ehsize, phentsize, 1, 0, 0, 0)  # ET_EXEC, EM_386
size = ehsize + phentsize + len(code)
phdr = struct.pack("<IIIIIIII", 1, 0, base, base, size, size, 5, 0x1000)  # PT_LOAD R+X
open(sys.argv[1], "wb").write(ehdr + phdr + code)
PY
chmod +x i386

# aarch64: a no_std/no_main Rust program, compiled to an object for
# aarch64-unknown-linux-musl and linked statically with rust-lld.
sysroot="$(rustc --print sysroot)"
lld="$(find "$sysroot/lib/rustlib" -name rust-lld -type f | head -n 1)"
if [ -n "$lld" ] && [ -d "$sysroot/lib/rustlib/aarch64-unknown-linux-musl" ]; then
    cat > a64.rs <<'RS'
#![no_std]
#![no_main]
use core::arch::asm;
#[no_mangle]
pub extern "C" fn _start() -> ! {
    unsafe { asm!("mov x0, #0", "mov x8, #93", "svc #0", options(noreturn)) }
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
RS
    rustc --edition 2021 --target aarch64-unknown-linux-musl -C panic=abort \
        -C opt-level=s -C relocation-model=static --emit=obj -o a64.o a64.rs
    # --strip-all at link time: the host's binutils strip may not know aarch64.
    "$lld" -flavor gnu -static -e _start --gc-sections --strip-all -o aarch64-static a64.o
else
    echo "skipping aarch64-static: need rust-lld and 'rustup target add aarch64-unknown-linux-musl'" >&2
fi

for f in static static-unstripped static-pie glibc-dynamic musl-dynamic shared-lib \
         object truncated script empty random i386 aarch64-static upx-packed upx-packed-pie; do
    if [ -e "$f" ]; then cp "$f" "$here/$f"; fi
done
ls -l "$here"
