#!/bin/bash
# bench/regex.sh - fail2ban-regex and `mailwarden regex` side by side on the same ~1M-line log
# with the same fail2ban filter files (default postfix, dovecot, sshd). Prints elapsed time,
# lines/s, peak RSS (/usr/bin/time -f %M) and the ratio, plus the matched-line counts of both
# tools as a sanity check. Not part of `make check` (fail2ban-regex needs ~15 s per filter).
#
#   bench/regex.sh                       # builds /tmp/attack-1M.log if missing
#   LOG=/tmp/other.log FILTERS="sshd" RUNS=5 bench/regex.sh
#
# Each figure is the median of RUNS runs (default 3), the two tools alternating, so that load
# from other processes on the machine hits both alike.
set -u
cd "$(dirname "$0")/.."
MW=${MW:-$PWD/mailwarden}
LOG=${LOG:-/tmp/attack-1M.log}
FILTERS=${FILTERS:-"postfix dovecot sshd"}
RUNS=${RUNS:-3}
GEN=${GEN:-/work/shared/bench/gen_attack_log.py}
F2B=$(command -v fail2ban-regex || true)

[ -x "$MW" ] || make -s >/dev/null || { echo "bench: build failed" >&2; exit 1; }
if [ -z "$F2B" ]; then echo "bench: fail2ban-regex not installed (Debian package fail2ban)" >&2; exit 1; fi
if [ ! -f "$LOG" ]; then
    echo "bench: generating $LOG" >&2
    python3 "$GEN" -n 1000000 -o "$LOG" || exit 1
fi
TMP=$(mktemp -d /tmp/mw-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
LINES=$(wc -l < "$LOG")

# run NAME CMD... : one timed run; appends "secs rss_kb" to $TMP/NAME.t, output in $TMP/NAME.out
run() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" > "$TMP/$name.out" 2>&1
    cat "$TMP/time" >> "$TMP/$name.t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf "log: %s (%d lines), %d run(s) each, %s CPU(s), fail2ban %s\n" "$LOG" "$LINES" "$RUNS" \
    "$(nproc)" "$($F2B --version 2>/dev/null | head -1)"
printf "%-8s %-16s %9s %12s %10s %9s\n" filter tool seconds lines/s "peak RSS" matched
for f in $FILTERS; do
    rm -f "$TMP"/*.t
    for i in $(seq "$RUNS"); do
        run f2b "$F2B" "$LOG" "$f"
        run mw "$MW" regex "$LOG" "$f"
    done
    for t in f2b mw; do
        s=$(awk '{print $1}' "$TMP/$t.t" | median)
        m=$(awk '{print $2}' "$TMP/$t.t" | median)
        matched=$(grep -Eo '[0-9]+ matched' "$TMP/$t.out" | head -1 | grep -Eo '[0-9]+')
        eval "S_$t=$s"
        printf "%-8s %-16s %9.2f %12.0f %8.1f MB %9s\n" "$f" "$([ $t = f2b ] && echo fail2ban-regex || echo 'mailwarden regex')" \
            "$s" "$(echo "$LINES / ($s + 0.0001)" | bc -l)" "$(echo "$m / 1024" | bc -l)" "${matched:-?}"
    done
    printf "%-8s ratio: mailwarden regex is %.1fx faster\n" "$f" "$(echo "$S_f2b / ($S_mw + 0.0001)" | bc -l)"
done
