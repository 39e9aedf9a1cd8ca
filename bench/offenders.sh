#!/bin/bash
# Benchmark: `mailwarden offenders` vs the admin's grep pipeline and `wc -l`, same file, same
# run, warm page cache. Usage: bench/offenders.sh [SIZE ...]   (default: 1G)
source "$(dirname "$0")/lib.sh"
[ -x "$MW" ] || make -C "$TOP" -s all
sizes=${*:-1G}
pipeline() {
    grep -E "reject|fail|UGFzc3dvcmQ6" "$1" | grep -oE '([0-9]{1,3}\.){3}[0-9]{1,3}' | sort | uniq -c -d
}
export -f pipeline
for size in $sizes; do
    log=$(gen_log "$size")
    bytes=$(stat -c %s "$log")
    cat "$log" > /dev/null    # warm the page cache
    echo "== offenders on $log ($((bytes / 1000000)) MB, $(nproc) cores, median of $RUNS)"
    measure "wc -l" wc -l "$log";                      wc=$M_SEC
    measure "grep pipeline (grep|grep -o|sort|uniq)" bash -c 'pipeline "$0"' "$log"; gp=$M_SEC
    measure "mailwarden offenders" "$MW" offenders --now 2026-11-23 "$log"; mw=$M_SEC; mwrss=$M_RSS
    echo "  mailwarden: $(mbps "$bytes" "$mw") MB/s; grep pipeline / mailwarden = $(ratio "$gp" "$mw")x;" \
         "mailwarden / wc -l = $(ratio "$mw" "$wc")x (target <= 2); peak RSS ${mwrss} KB"
done
