#!/bin/sh
# Build every tests/fuzz/fuzz_*.c as a libFuzzer binary in build-fuzz/ (clang, ASan+UBSan).
set -e
cd "$(dirname "$0")/.."
PKGS="zlib liblzma libzstd libpcre2-8 sqlite3 jansson libmariadb libnftables"
CFL="-std=c11 -D_GNU_SOURCE -DMW_VERSION=\"fuzz\" -Isrc -Itests -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags $PKGS)"
mkdir -p build-fuzz/obj
objs=""
for c in $(find src -name '*.c' ! -path src/cli/main.c | sort); do
    o=build-fuzz/obj/$(echo "$c" | tr / _).o
    if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find src -name '*.h' -newer "$o" | head -1)" ]; then
        clang $CFL -c -o "$o" "$c"
    fi
    objs="$objs $o"
done
# an archive, so that a target pulls only the objects it needs (not the CLI's)
rm -f build-fuzz/libmw.a
ar rcs build-fuzz/libmw.a $objs
for f in tests/fuzz/fuzz_*.c; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .c)
    clang $CFL -fsanitize=fuzzer -o "build-fuzz/$n" "$f" build-fuzz/libmw.a $(pkg-config --libs $PKGS) -lbz2 -lpthread -lm
done
