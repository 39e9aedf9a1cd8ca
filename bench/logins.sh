#!/bin/bash
# Benchmark: `mailwarden logins --update` (parse + store into a fresh SQLite database) and the
# second run on the same log (nothing new: the watermark path) vs `wc -l`, same file, same
# run, warm page cache. Usage: bench/logins.sh [SIZE ...]   (default: 1G)
# --now is after the last line of the scaled log (Nov 22-28): a reference inside the span
# sends every later line through the year rule's "previous year" branch.
source "$(dirname "$0")/lib.sh"
[ -x "$MW" ] || make -C "$TOP" -s all
sizes=${*:-1G}
DB="$WORK/logins-bench.db"
fresh_update() { rm -f "$DB" "$DB-wal" "$DB-shm"; "$MW" logins --update --db "$DB" --now 2026-12-31 "$1"; }
export -f fresh_update
export MW DB
for size in $sizes; do
    log=$(gen_log "$size")
    bytes=$(stat -c %s "$log")
    cat "$log" > /dev/null    # warm the page cache
    echo "== logins --update on $log ($((bytes / 1000000)) MB, $(nproc) cores, median of $RUNS)"
    measure "wc -l" wc -l "$log";                                  wc=$M_SEC
    measure "mailwarden logins --update (fresh db)" bash -c 'fresh_update "$0"' "$log"; mw=$M_SEC; rss=$M_RSS
    measure "mailwarden logins --update (again)" "$MW" logins --update --db "$DB" --now 2026-12-31 "$log"; mw2=$M_SEC
    measure "mailwarden logins (report from log)" "$MW" logins --now 2026-12-31 "$log"; mw3=$M_SEC
    echo "  mailwarden: $(mbps "$bytes" "$mw") MB/s; logins --update / wc -l = $(ratio "$mw" "$wc")x" \
         "(target <= 3); second run $(ratio "$mw2" "$wc")x; report $(ratio "$mw3" "$wc")x; peak RSS ${rss} KB"
    echo "  stored: $(sqlite3 "$DB" 'SELECT count(DISTINCT user) || " users, " || sum(login_count) || " logins" FROM logins')"
done
