#!/bin/bash
# End-to-end: `mailwarden offenders` on the real corpus, our own sshd/probe lines,
# injection lines, rotated families, stdin, --last, and hostile input.
source "$(dirname "$0")/../lib.sh"
NOW=2026-11-22T21:30:00
TRAD="$DATA/mail-traditional.log.gz"

# row IP -> "COUNT CATEGORIES" from the text output in file $1
row() { awk -v ip="$2" '$2 == ip { print $1, $3 }' "$1"; }

"$MW" offenders --now $NOW "$TRAD" > "$TMP/trad.txt" 2> "$TMP/trad.err"
check_eq corpus-exit 0 $?
# Counts that follow from the log by the README's counting rule (see corpus README):
check_eq corpus-imap-brute-60   "36 imap=36" "$(row "$TMP/trad.txt" 127.0.0.60)"
check_eq corpus-sasl-brute-50   "25 sasl=25" "$(row "$TMP/trad.txt" 127.0.0.50)"
check_eq corpus-sasl-brute-51   "20 sasl=20" "$(row "$TMP/trad.txt" 127.0.0.51)"
check_eq corpus-sasl-brute-52   "6 sasl=6" "$(row "$TMP/trad.txt" 127.0.0.52)"
check_eq corpus-ipv6-brute      "8 sasl=5,imap=3" "$(row "$TMP/trad.txt" ::1)"
check_eq corpus-imap-brute-61   "10 imap=10" "$(row "$TMP/trad.txt" 127.0.0.61)"
check_eq corpus-pop3-brute-62   "20 pop3=20" "$(row "$TMP/trad.txt" 127.0.0.62)"
check_eq corpus-pregreet-35     "6 postscreen=6" "$(row "$TMP/trad.txt" 127.0.0.35)"
check_eq corpus-denylisted-66   "6 postscreen=6" "$(row "$TMP/trad.txt" 127.0.0.66)"
check_eq corpus-client-access-67 "6 reject=6" "$(row "$TMP/trad.txt" 127.0.0.67)"
check_eq corpus-carol-typos-72  "2 imap=2" "$(row "$TMP/trad.txt" 127.0.0.72)"
# every NOQUEUE reject line is one failure: 116 lines, of which 6 postscreen rejects are
# the same events as their PREGREETs; 14 cleanup rejects are "content"
rej=$(awk 'NR > 1 { n = split($3, c, ","); for (i = 1; i <= n; i++) { split(c[i], kv, "="); s[kv[1]] += kv[2] } }
          END { print s["reject"] + 0, s["content"] + 0 }' "$TMP/trad.txt")
check_eq corpus-reject-totals "110 14" "$rej"
zcat "$TRAD" | grep 'NOQUEUE: reject:' | grep -vc postscreen > "$TMP/n"
check_eq corpus-reject-lines-in-log 110 "$(cat "$TMP/n")"
# the server's own relays (127.0.0.2-.9) and its lip/listening addresses never appear
check_nogrep corpus-no-relays '^ *[0-9]+ +127\.0\.0\.[2-9] ' "$TMP/trad.txt"
check_nogrep corpus-no-lip '^ *[0-9]+ +127\.0\.0\.1 ' "$TMP/trad.txt"
check_eq corpus-no-warnings "" "$(cat "$TMP/trad.err")"
# sorted by count desc, then IP
sort -k1,1nr -s "$TMP/trad.txt" | head -1 | grep -q COUNT
awk 'NR > 2 && $1 > prev { bad = 1 } NR > 1 { prev = $1 } END { exit bad }' "$TMP/trad.txt"
check_eq corpus-sorted 0 $?

# the RFC 3339 copy of the same messages gives the same list
"$MW" offenders --now $NOW "$DATA/mail-rfc3339.log.gz" > "$TMP/rfc.txt"
check_cmd rfc3339-same-as-traditional cmp "$TMP/trad.txt" "$TMP/rfc.txt"

# Postfix's own maillog_file plus the Dovecot syslog file of that run
"$MW" offenders --now $NOW "$DATA/mail-postlog.log.gz" "$DATA/mail-postlog-dovecot.log.gz" > "$TMP/postlog.txt"
tot=$(awk 'NR > 1 { n = split($3, c, ","); for (i = 1; i <= n; i++) { split(c[i], kv, "="); s[kv[1]] += kv[2] } }
          END { print s["sasl"] + 0, s["imap"] + 0, s["pop3"] + 0 }' "$TMP/postlog.txt")
# postlog ground truth: SASL failures 29, IMAP failures 19 (incl. 2 typos), POP3 failures 7
check_eq postlog-auth-failures "29 19 7" "$tot"

# JSON: an array of {ip, count, categories, first, last} with RFC 3339 times
"$MW" offenders --json --now $NOW "$TRAD" > "$TMP/trad.json"
python3 - "$TMP/trad.json" <<'PY' > "$TMP/json.out" 2>&1
import json, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list) and rows
for r in rows:
    assert set(r) == {"ip", "count", "categories", "first", "last"}, r
    assert sum(r["categories"].values()) == r["count"], r
    assert r["first"].startswith("2026-11-22T") and r["first"].endswith("+00:00"), r
d = {r["ip"]: r for r in rows}
assert d["127.0.0.60"]["categories"] == {"imap": 36}
assert d["::1"]["count"] == 8
print("ok")
PY
check_eq json-schema ok "$(tail -1 "$TMP/json.out")"
check_eq json-same-rows "$(($(wc -l < "$TMP/trad.txt") - 1))" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/trad.json")"

# --min
"$MW" offenders --min 20 --now $NOW "$TRAD" > "$TMP/min.txt"
check_eq min-20 "$(awk 'NR > 1 && $1 >= 20' "$TMP/trad.txt" | wc -l)" "$(($(wc -l < "$TMP/min.txt") - 1))"

# stdin and --last N (= tail -n N)
zcat "$TRAD" | "$MW" offenders --now $NOW - > "$TMP/stdin.txt"
check_cmd stdin-same-as-file cmp "$TMP/trad.txt" "$TMP/stdin.txt"
zcat "$TRAD" > "$TMP/mail.log"
zcat "$TRAD" | tail -n 3000 | "$MW" offenders --now $NOW - > "$TMP/tail.txt"
"$MW" offenders --last 3000 --now $NOW "$TMP/mail.log" > "$TMP/last.txt"
check_cmd last-equals-tail cmp "$TMP/tail.txt" "$TMP/last.txt"
zcat "$TRAD" | "$MW" offenders --last 3000 --now $NOW - > "$TMP/last-stdin.txt"
check_cmd last-on-stdin cmp "$TMP/tail.txt" "$TMP/last-stdin.txt"

# --since/--until: only the second half of the run
"$MW" offenders --now $NOW --since "2026-11-22T21:14:56" "$TRAD" > "$TMP/since.txt"
check_eq since-drops-early-brute "" "$(row "$TMP/since.txt" 127.0.0.50)"
check_eq since-keeps-late-brute "20 sasl=20" "$(row "$TMP/since.txt" 127.0.0.51)"
"$MW" offenders --now $NOW --until "Nov 22 21:14:56" "$TRAD" > "$TMP/until.txt"
check_eq until-drops-late-brute "" "$(row "$TMP/until.txt" 127.0.0.51)"

# rotated family: mail.log.2.gz (oldest), mail.log.1, mail.log; halves of the corpus
mkdir -p "$TMP/rot"
zcat "$TRAD" | head -n 3000 | gzip > "$TMP/rot/mail.log.2.gz"
zcat "$TRAD" | sed -n '3001,6000p' > "$TMP/rot/mail.log.1"
zcat "$TRAD" | tail -n +6001 > "$TMP/rot/mail.log"
"$MW" offenders --now $NOW --rotated "$TMP/rot/mail.log" > "$TMP/rot.txt"
check_cmd rotated-family-equals-whole cmp "$TMP/trad.txt" "$TMP/rot.txt"

# sshd lines and UGFzc3dvcmQ6 probes written from OpenSSH's and Postfix's formats
"$MW" offenders --min 1 --now $NOW "$DATA/offenders/ssh-and-probes.log" > "$TMP/ssh.txt"
check_eq ssh-invalid-user-rule "3 ssh=3" "$(row "$TMP/ssh.txt" 203.0.113.5)"
check_eq ssh-ipv6-one-host "2 ssh=2" "$(row "$TMP/ssh.txt" 2001:db8::66)"
check_eq ssh-accepted-not-listed "" "$(row "$TMP/ssh.txt" 198.51.100.10)"
check_eq probe-v4-mapped-one-host "3 sasl=3" "$(row "$TMP/ssh.txt" 198.51.100.77)"
check_eq sasl-ipv6 "1 sasl=1" "$(row "$TMP/ssh.txt" 2001:db8::77)"

# injection: addresses inside user names, HELO, senders, Subjects, replies never count
"$MW" offenders --min 1 --json --now $NOW "$DATA/offenders/injection.log" > "$TMP/inj.json"
check_nogrep injection-no-forged-ip '6\.6\.6\.' "$TMP/inj.json"
python3 - "$TMP/inj.json" <<'PY' > "$TMP/inj.out" 2>&1
import json, sys
d = {r["ip"]: r for r in json.load(open(sys.argv[1]))}
assert set(d) == {"203.0.113.20", "203.0.113.21"}, d
assert d["203.0.113.20"]["categories"] == {"ssh": 2, "imap": 2, "sasl": 2, "reject": 1}, d["203.0.113.20"]
assert d["203.0.113.21"]["categories"] == {"content": 1}, d["203.0.113.21"]
print("ok")
PY
check_eq injection-real-ips-counted ok "$(tail -1 "$TMP/inj.out")"

# year rollover: Dec 31 and Jan 1 lines read on Jan 1
printf '%s\n' "Dec 31 23:59:58 mail sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2" \
              "Jan  1 00:00:01 mail sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2" > "$TMP/newyear.log"
"$MW" offenders --json --now 2027-01-01T00:10:00 "$TMP/newyear.log" > "$TMP/ny.json"
check_grep year-rollover '"first":"2026-12-31T23:59:58\+00:00","last":"2027-01-01T00:00:01\+00:00"' "$TMP/ny.json"

# hostile input: garbage, NULs, CRLF, a 10 MB line, invalid UTF-8; the rest is still read
{
    zcat "$TRAD" | head -n 100
    head -c 200000 /dev/urandom
    printf '\n\0\0\0garbage after NULs\nNov 22 21:30:00 mail sshd[9]: Failed password for ro\0ot from 192.0.2.9 port 1 ssh2\r\n'
    head -c 10000000 /dev/zero | tr '\0' 'A'; printf '\n'
    printf 'Nov 22 21:30:01 mail sshd[9]: Failed password for r\xff\xfeot from 192.0.2.9 port 1 ssh2\r\n'
    zcat "$TRAD" | tail -n +101
} > "$TMP/hostile.log"
"$MW" offenders --now $NOW "$TMP/hostile.log" > "$TMP/hostile.txt" 2> "$TMP/hostile.err"
check_eq hostile-exit 0 $?
check_eq hostile-crlf-nul-utf8-lines "2 ssh=2" "$(row "$TMP/hostile.txt" 192.0.2.9)"
check_eq hostile-rest-read "36 imap=36" "$(row "$TMP/hostile.txt" 127.0.0.60)"

# truncated .gz: a warning naming the file, what was before is counted, exit 0
zcat "$TRAD" | gzip > "$TMP/full.gz"
head -c $(( $(stat -c %s "$TMP/full.gz") / 2 )) "$TMP/full.gz" > "$TMP/trunc.log.gz"
"$MW" offenders --now $NOW "$TMP/trunc.log.gz" > "$TMP/trunc.txt" 2> "$TMP/trunc.err"
check_eq truncated-gz-exit 0 $?
check_grep truncated-gz-warning-names-file 'trunc\.log\.gz' "$TMP/trunc.err"
check_grep truncated-gz-partial-report '127\.0\.0\.60' "$TMP/trunc.txt"
# one unreadable input among good ones: warning, the rest reported, exit 0
"$MW" offenders --now $NOW "$TMP/does-not-exist.log" "$TRAD" > "$TMP/mixed.txt" 2> "$TMP/mixed.err"
check_eq missing-plus-good-exit 0 $?
check_grep missing-file-named 'does-not-exist\.log' "$TMP/mixed.err"
check_cmd missing-plus-good-report cmp "$TMP/trad.txt" "$TMP/mixed.txt"
# nothing readable: exit 1
"$MW" offenders "$TMP/does-not-exist.log" > /dev/null 2>&1
check_eq nothing-readable-exit 1 $?
# nobody qualifies: header only, exit 0
printf 'Nov 22 21:30:00 mail postfix/qmgr[1]: ABCDEF1234: removed\n' > "$TMP/quiet.log"
"$MW" offenders --now $NOW "$TMP/quiet.log" > "$TMP/quiet.txt"
check_eq nobody-qualifies "0 1" "$? $(wc -l < "$TMP/quiet.txt")"
# usage errors exit 2
"$MW" offenders --min x "$TRAD" > /dev/null 2>&1
check_eq bad-option-exit 2 $?
"$MW" offenders --since "not a time" "$TRAD" > /dev/null 2>&1
check_eq bad-time-exit 2 $?
# lines of programs we do not model are counted per program (--stats), not warned about
(zcat "$TRAD"; echo "Nov 22 21:30:00 mail amavis[123]: (123-01) Passed CLEAN"; echo "junk") |
    "$MW" offenders --stats --now $NOW - > /dev/null 2> "$TMP/stats.err"
check_grep stats-other-programs '1 lines of amavis' "$TMP/stats.err"
check_grep stats-unparsed '1 lines without a syslog envelope' "$TMP/stats.err"
check_eq stats-no-per-line-warnings 3 "$(wc -l < "$TMP/stats.err")"
"$MW" offenders --help | grep -q -- '--last N'
check_eq help 0 $?
finish
