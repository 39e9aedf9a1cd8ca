#!/bin/bash
# pgo-train.sh BIN: the training runs of the profile-guided release build (Makefile, PGO=1).
# BIN is the instrumented binary; each run adds to its .gcda counters. The sample logs are
# the bundled corpus (the benchmark logs are that corpus scaled up), as plain files (the
# parallel plain-file reader) and compressed (the stream reader), through the commands whose
# speed is measured in bench/.
set -eu
bin=$1
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/mw-pgo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
data=$top/tests/data
zcat "$data/mail-traditional.log.gz" > "$tmp/trad.log"
zcat "$data/mail-rfc3339.log.gz" > "$tmp/rfc.log"
# several jobs per thread: the sample eight times over
for _ in 1 2 3 4 5 6 7 8; do cat "$tmp/trad.log"; done > "$tmp/big.log"
now=--now=2026-11-23T12:00:00
"$bin" summary $now "$tmp/big.log" > /dev/null
"$bin" summary $now --json --smtpd-stats --by-host "$tmp/rfc.log" > /dev/null
"$bin" summary $now --html "$tmp/r.html" "$data/mail-traditional.log.gz" > /dev/null
"$bin" offenders $now "$tmp/big.log" > /dev/null
"$bin" offenders $now --json "$data/mail-rfc3339.log.gz" > /dev/null
"$bin" logins $now --db "$tmp/l.db" --update "$tmp/big.log" > /dev/null
"$bin" trace $now alice@example.com "$tmp/trad.log" > /dev/null
