#!/bin/sh
# Build every tests/fuzz/fuzz_*.c as a libFuzzer binary in build-fuzz/ (clang, ASan+UBSan),
# through the Makefile so flags and libraries are declared once.
set -e
cd "$(dirname "$0")/.."
exec make -s -j"$(nproc)" BUILD=build-fuzz FUZZ=1 fuzz
