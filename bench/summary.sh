#!/bin/bash
# Benchmark: `mailwarden summary` vs pflogsumm on the same scaled corpus log, same run, warm
# page cache; prints wall time, throughput, the ratio and peak RSS for each size.
# Usage: bench/summary.sh [SIZE ...]   (default: 200M 1G; RUNS=3 for mailwarden,
# PF_RUNS=1 for pflogsumm, which needs about half a minute per GB)
source "$(dirname "$0")/lib.sh"
[ -x "$MW" ] || make -C "$TOP" -s all
PFLOGSUMM=${PFLOGSUMM:-/usr/sbin/pflogsumm}
PF_RUNS=${PF_RUNS:-1}
sizes=${*:-200M 1G}
for size in $sizes; do
    log=$(gen_log "$size")
    bytes=$(stat -c %s "$log")
    cat "$log" > /dev/null    # warm the page cache
    echo "== summary on $log ($((bytes / 1000000)) MB, $(nproc) cores; pflogsumm: $PF_RUNS run(s), mailwarden: median of $RUNS)"
    measure "wc -l" wc -l "$log"; wc=$M_SEC
    saved=$RUNS; RUNS=$PF_RUNS
    measure "pflogsumm" "$PFLOGSUMM" "$log"; pf=$M_SEC; pfrss=$M_RSS
    RUNS=$saved
    # the log spans several days of 2026: --now puts the year-less stamps in 2026
    measure "mailwarden summary" "$MW" summary --now 2026-12-31 "$log"; mw=$M_SEC; mwrss=$M_RSS
    measure "mailwarden summary --json" "$MW" summary --json --now 2026-12-31 "$log"
    echo "  mailwarden: $(mbps "$bytes" "$mw") MB/s; pflogsumm: $(mbps "$bytes" "$pf") MB/s;" \
         "pflogsumm / mailwarden = $(ratio "$pf" "$mw")x (target >= 50 on 1G);" \
         "mailwarden / wc -l = $(ratio "$mw" "$wc")x"
    echo "  peak RSS: mailwarden ${mwrss} KB, pflogsumm ${pfrss} KB"
done
