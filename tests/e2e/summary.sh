#!/bin/bash
# `mailwarden summary` end to end beyond the pflogsumm agreement (summary_pflogsumm.sh):
# hostile input (garbage, NUL bytes, a 10 MB line, truncated .gz), stdin, -d today/yesterday
# with year-safe dates, --by-host, --detail/--top-*, content-filter re-injection counted once,
# IPv6 clients in --smtpd-stats, usage errors.
SUITE=summary
source "$(dirname "$0")/../lib.sh"
NOW=2026-11-23T12:00:00
LOG="$DATA/mail-traditional.log.gz"
total() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]][sys.argv[3]])' "$@"; }

# ---- hostile input: garbage, NULs, CRLF, invalid UTF-8 and a 10 MB line around real lines
{
    printf 'garbage line without a stamp\n\x00\x01\x02 binary \xff\xfe\n'
    zcat "$LOG" | head -n 4000
    head -c 10000000 /dev/zero | tr '\0' 'A'; printf '\n'
    printf 'Nov 22 21:20:00 mail postfix/smtpd[1]: warning: \xff\xfe invalid utf-8 \x00 nul\r\n'
    zcat "$LOG" | tail -n +4001
} > "$TMP/hostile.log"
"$MW" summary --json --now $NOW "$TMP/hostile.log" > "$TMP/hostile.json" 2> "$TMP/hostile.err"
check_eq hostile-exit 0 $?
check_eq hostile-received-all 632 "$(total "$TMP/hostile.json" totals received)"
check_eq hostile-delivered-all 944 "$(total "$TMP/hostile.json" totals delivered)"
check_eq hostile-cut-line-counted 1 "$(total "$TMP/hostile.json" input cut_lines)"
check_cmd hostile-json-valid python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/hostile.json"
"$MW" summary --now $NOW "$TMP/hostile.log" > "$TMP/hostile.txt" 2>/dev/null
check_grep hostile-text-report '^ +632   received$' "$TMP/hostile.txt"

# ---- truncated .gz: a warning naming the file, a report of what could be read, exit 0
zcat "$LOG" | gzip -c > "$TMP/full.gz"
head -c $(( $(stat -c %s "$TMP/full.gz") / 2 )) "$TMP/full.gz" > "$TMP/trunc.log.gz"
"$MW" summary --json --now $NOW "$TMP/trunc.log.gz" > "$TMP/trunc.json" 2> "$TMP/trunc.err"
check_eq trunc-exit 0 $?
check_grep trunc-warning 'trunc\.log\.gz' "$TMP/trunc.err"
r=$(total "$TMP/trunc.json" totals received)
if [ "$r" -gt 0 ] && [ "$r" -lt 632 ]; then pass trunc-partial-report; else fail trunc-partial-report "received $r"; fi
# nothing readable at all: exit 1
"$MW" summary --now $NOW "$TMP/does-not-exist.log" > /dev/null 2>&1
check_eq missing-file-exit 1 $?

# ---- stdin
zcat "$LOG" | "$MW" summary --json --now $NOW - > "$TMP/stdin.json" 2>/dev/null
check_eq stdin-received 632 "$(total "$TMP/stdin.json" totals received)"

# ---- -d today / yesterday (relative to --now); the year of a year-less stamp comes from the
# reference time, so a log of Nov 22 read "today" on 2027-11-23 is not "yesterday"
zcat "$LOG" > "$TMP/recent.log"
touch -d 2026-11-23T09:00:00 "$TMP/recent.log"
"$MW" summary -d yesterday --json --now 2026-11-23T10:00:00 "$TMP/recent.log" > "$TMP/y.json" 2>/dev/null
check_eq d-yesterday-received 632 "$(total "$TMP/y.json" totals received)"
"$MW" summary -d today --json --now 2026-11-23T10:00:00 "$TMP/recent.log" > "$TMP/t.json" 2>/dev/null
check_eq d-today-received 0 "$(total "$TMP/t.json" totals received)"
"$MW" summary -d yesterday --now 2026-11-23T10:00:00 "$TMP/recent.log" 2>/dev/null | head -1 > "$TMP/yhead"
check_eq d-heading "Postfix log summaries for Nov 22" "$(cat "$TMP/yhead")"
zcat "$LOG" > "$TMP/old.log"
touch -d 2025-11-23T10:00:00 "$TMP/old.log"
"$MW" summary -d yesterday --json --now 2026-11-23T10:00:00 "$TMP/old.log" > "$TMP/old.json" 2>/dev/null
check_eq d-year-old-log-not-yesterday 0 "$(total "$TMP/old.json" totals received)"

# ---- --since/--until
"$MW" summary --json --now $NOW --since 2026-11-22T21:15:00 "$LOG" > "$TMP/since.json" 2>/dev/null
r=$(total "$TMP/since.json" totals received)
if [ "$r" -gt 0 ] && [ "$r" -lt 632 ]; then pass since-window; else fail since-window "received $r"; fi

# ---- --by-host: two hosts' logs on one central log server
{ zcat "$LOG"; zcat "$DATA/mail-postlog.log.gz" | sed 's/^\(.\{15\}\) mail /\1 mx2 /'; } > "$TMP/central.log"
"$MW" summary --by-host --json --now $NOW "$TMP/central.log" > "$TMP/central.json" 2>/dev/null
check_eq by-host-mail "632" "$(python3 -c 'import json,sys; print([h["received"] for h in json.load(open(sys.argv[1]))["by_host"] if h["host"]=="mail"][0])' "$TMP/central.json")"
check_eq by-host-mx2 "313" "$(python3 -c 'import json,sys; print([h["received"] for h in json.load(open(sys.argv[1]))["by_host"] if h["host"]=="mx2"][0])' "$TMP/central.json")"
"$MW" summary --by-host --now $NOW "$TMP/central.log" > "$TMP/central.txt" 2>/dev/null
check_grep by-host-text '^Per-Host Summary' "$TMP/central.txt"

# ---- --detail / --top-*
"$MW" summary --detail 3 --now $NOW "$LOG" > "$TMP/d3.txt" 2>/dev/null
check_grep detail-top-title '^top 3 Senders by message count$' "$TMP/d3.txt"
check_grep detail-top-hosts '^Host/Domain Summary: Message Delivery \(top 3\)$' "$TMP/d3.txt"
check_eq detail-3-rows 3 "$(sed -n '/^top 3 Senders by message count$/,/^$/p' "$TMP/d3.txt" | grep -c '^ ')"
"$MW" summary --detail 0 --now $NOW "$LOG" > "$TMP/d0.txt" 2>/dev/null
check_nogrep detail-0-no-rejects 'message reject detail' "$TMP/d0.txt"

# ---- content filter (amavis) re-injection counted once
cat > "$TMP/amavis.log" <<'LOGEOF'
Nov 22 10:00:00 mx postfix/smtpd[100]: 4A1B2C3D4E: client=mail.sender.test[198.51.100.7]
Nov 22 10:00:00 mx postfix/cleanup[101]: 4A1B2C3D4E: message-id=<m1@sender.test>
Nov 22 10:00:00 mx postfix/qmgr[102]: 4A1B2C3D4E: from=<a@sender.test>, size=1200, nrcpt=1 (queue active)
Nov 22 10:00:01 mx postfix/10025/smtpd[103]: 5B2C3D4E5F: client=localhost[127.0.0.1]
Nov 22 10:00:01 mx postfix/cleanup[101]: 5B2C3D4E5F: message-id=<m1@sender.test>
Nov 22 10:00:01 mx postfix/qmgr[102]: 5B2C3D4E5F: from=<a@sender.test>, size=1650, nrcpt=1 (queue active)
Nov 22 10:00:01 mx postfix/smtp[104]: 4A1B2C3D4E: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0/1.1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5B2C3D4E5F)
Nov 22 10:00:01 mx postfix/qmgr[102]: 4A1B2C3D4E: removed
Nov 22 10:00:02 mx postfix/lmtp[105]: 5B2C3D4E5F: to=<bob@example.com>, relay=mx[private/dovecot-lmtp], delay=0.2, delays=0/0/0/0.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.com> Saved)
Nov 22 10:00:02 mx postfix/qmgr[102]: 5B2C3D4E5F: removed
LOGEOF
"$MW" summary --json --syslog-name postfix/10025 --now $NOW "$TMP/amavis.log" > "$TMP/amavis.json" 2>/dev/null
check_eq filter-received-once 1 "$(total "$TMP/amavis.json" totals received)"
check_eq filter-delivered-once 1 "$(total "$TMP/amavis.json" totals delivered)"
check_eq filter-hops 1 "$(total "$TMP/amavis.json" totals content_filter_hops)"
check_eq filter-reinjected 1 "$(total "$TMP/amavis.json" totals reinjected)"
check_eq filter-bytes-received 1200 "$(total "$TMP/amavis.json" totals bytes_received)"
"$MW" summary --syslog-name postfix/10025 --now $NOW "$TMP/amavis.log" > "$TMP/amavis.txt" 2>/dev/null
check_grep filter-said-so 're-injected messages counted once' "$TMP/amavis.txt"

# ---- IPv6 clients in --smtpd-stats are named (pflogsumm prints an empty host)
"$MW" summary --smtpd-stats --now $NOW "$LOG" > "$TMP/smtpd.txt" 2>/dev/null
check_grep smtpd-ipv6-host '^ +34 +0:00:01 +0s +1s +::1$' "$TMP/smtpd.txt"

# ---- usage errors
"$MW" summary -d tomorrow "$LOG" > /dev/null 2>&1
check_eq usage-d 2 $?
"$MW" summary --detail x "$LOG" > /dev/null 2>&1
check_eq usage-detail 2 $?
"$MW" summary --html /nonexistent-dir/x.html --now $NOW "$LOG" > /dev/null 2>&1
check_eq html-unwritable-exit 1 $?
# ---- progress bar: on stderr when it is a terminal and the input is several files (or over
# 100 MB), cleared at the end; never on a pipe, never for one small file
zcat "$LOG" > "$TMP/p1.log"
cp "$TMP/p1.log" "$TMP/p2.log"
pty_stderr() {   # run "$@" with stderr on a pseudo-terminal; print what the terminal received
    python3 - "$@" <<'PYEOF'
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=s)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 65536)
    except OSError:        # EIO: the child closed its end
        break
    if not b:
        break
    out += b
sys.stdout.write(out.decode("latin-1"))
sys.exit(p.wait())
PYEOF
}
out=$(pty_stderr "$MW" summary --now $NOW "$TMP/p1.log" "$TMP/p2.log")
check_eq progress-tty-exit 0 $?
if [[ "$out" == *"100%"* && "$out" == *"[########"* && "$out" == *" MB"* && "$out" == *$'\r\033[K' ]]; then
    pass progress-tty-two-files
else
    fail progress-tty-two-files "$(printf '%q' "$out")"
fi
out=$(pty_stderr "$MW" summary --now $NOW "$TMP/p1.log")
check_eq progress-tty-one-small-file-silent "" "$out"
"$MW" summary --now $NOW "$TMP/p1.log" "$TMP/p2.log" > /dev/null 2> "$TMP/progress.err"
check_nogrep progress-pipe-silent '%' "$TMP/progress.err"

finish
