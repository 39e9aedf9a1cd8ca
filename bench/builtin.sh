#!/bin/bash
# bench/builtin.sh - the built-in mail filters (`mailwarden regex LOG mailwarden-postfix` ...)
# side by side with sshguard's parser (sshg-parser reads the log on stdin and prints one line
# per attack) on the same ~1M-line attack log, in one run. Prints seconds, lines/s, peak RSS
# and the ratio. Not part of `make check`.
#   bench/builtin.sh            (LOG=/tmp/attack-1M.log, generated if missing)
source "$(dirname "$0")/lib.sh"
LOG=${LOG:-/tmp/attack-1M.log}
SSHG=${SSHG:-/usr/libexec/sshguard/sshg-parser}
[ -x "$MW" ] || make -C "$TOP" -s all
[ -x "$SSHG" ] || { echo "bench: $SSHG missing (Debian package sshguard)" >&2; exit 1; }
[ -f "$LOG" ] || python3 "$SHARED/bench/gen_attack_log.py" -n 1000000 -o "$LOG"
lines=$(wc -l < "$LOG")
cat "$LOG" > /dev/null
echo "== built-in filters vs sshg-parser on $LOG ($lines lines, median of $RUNS)"
measure "sshg-parser < LOG" bash -c '"$0" < "$1"' "$SSHG" "$LOG"; sg=$M_SEC
for f in mailwarden-postfix mailwarden-dovecot mailwarden-sshd; do
    measure "mailwarden regex LOG $f" "$MW" regex --now 2026-11-23 "$LOG" "$f"; mw=$M_SEC
    echo "  $f: $(awk -v l="$lines" -v s="$mw" 'BEGIN { printf "%.0f", l / (s > 0 ? s : 0.001) }') lines/s;" \
         "sshg-parser / mailwarden = $(ratio "$sg" "$mw")x (target >= 10)"
done
