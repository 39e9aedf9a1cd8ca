#!/bin/bash
# Benchmark: `mailwarden trace` vs grep on the same file, same run, warm page cache.
#   by queue ID  vs  grep QUEUEID FILE        (issue 4: at most 2x)
#   by address   vs  grep -F ADDRESS FILE     (issue 4: at most 2x)
# Usage: bench/trace.sh [SIZE]   (default 1G; the scaled corpus from ../shared/bench/scale.py)
#
# grep's output goes through a pipe: GNU grep stops at the first match when its stdout is
# /dev/null, which would time a different (and much shorter) job.
source "$(dirname "$0")/lib.sh"
[ -x "$MW" ] || make -C "$TOP" -s all
size=${1:-1G}
log=$(gen_log "$size")
bytes=$(stat -c %s "$log")
NOW=2026-12-01          # after the last stamp of the scaled log (year-less stamps)
cat "$log" > /dev/null  # warm the page cache

# queue IDs from the middle of the file: a delivered message without children, one that
# bounced (it has a non-delivery notification to follow), one still deferred at the end
mid=$((bytes / 2))
tail -c +"$mid" "$log" | head -c 20000000 > "$WORK/mid.$$"
q_sent=$(grep -m1 -oE 'postfix/lmtp\[[0-9]+\]: [0-9A-Za-z]+: to=<[^>]+>, relay=[^ ]+, delay=[0-9.]+, delays=[^ ]+, dsn=2' "$WORK/mid.$$" | awk '{print $2}' | tr -d :)
q_bounce=$(grep -m1 -oE 'postfix/smtp\[[0-9]+\]: [0-9A-Za-z]+: to=<[^>]+@remote-bounce.test>.*status=bounced' "$WORK/mid.$$" | awk '{print $2}' | tr -d :)
rm -f "$WORK/mid.$$"
grepq() { grep "$1" "$2" | cat; }
grepf() { grep -F -- "$1" "$2" | cat; }
export -f grepq grepf

echo "== trace on $log ($((bytes / 1000000)) MB, $(nproc) cores, median of $RUNS)"
worst=0
row() {   # row LABEL MW-ARGS... -- GREP-FUNC ARG
    local label=$1; shift
    local args=()
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    local gf=$1 ga=$2
    measure "$gf $ga" bash -c "$gf \"\$0\" \"\$1\"" "$ga" "$log"; local g=$M_SEC
    measure "mailwarden trace ${args[*]}" "$MW" trace --now "$NOW" "${args[@]}" "$log"; local m=$M_SEC mr=$M_RSS
    local r; r=$(ratio "$m" "$g")
    echo "  -> $label: mailwarden / grep = ${r}x (target <= 2), peak RSS ${mr} KB"
    worst=$(awk -v a="$worst" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
}
row "queue ID, delivered"           "$q_sent"   -- grepq "$q_sent"
row "queue ID, bounced + NDN child" "$q_bounce" -- grepq "$q_bounce"
row "address, rare (1 msg/replica)" it11@remote-defer.test -- grepf it11@remote-defer.test
row "address, sender"               dave@example.net       -- grepf dave@example.net
row "address, very frequent"        carol@example.com      -- grepf carol@example.com
row "address -v (full stories)"     -v it11@remote-defer.test -- grepf it11@remote-defer.test
echo "  worst ratio: ${worst}x"
