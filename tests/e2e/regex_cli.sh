#!/bin/bash
# `mailwarden regex`: command-line behaviour (JSON on stdout only, summary on stderr, -o,
# log text as LOG, filter arguments, errors), and the same summary as fail2ban-regex on a
# real mail log when fail2ban is installed.
. "$(dirname "$0")/../lib.sh"
FD="$TMP/filter.d"
mkdir -p "$FD"
cat > "$FD/demo.conf" <<'CONF'
[INCLUDES]
after = demo.local
[Definition]
failregex = ^\s*(?:\S+ )?demo\[\d+\]: auth failed for <F-USER>\S+</F-USER> from <HOST>$
            <extra-<mode>>
extra-normal =
extra-aggressive = ^\s*(?:\S+ )?demo\[\d+\]: probe from <HOST>$
mode = normal
ignoreregex = from 192\.0\.2\.99$
CONF
cat > "$TMP/demo.log" <<'LOG'
# a comment line, skipped
Aug 14 11:00:00 h demo[1]: auth failed for root from 192.0.2.1
Aug 14 11:00:01 h demo[1]: probe from 192.0.2.2

Aug 14 11:00:02 h demo[1]: auth failed for x from ::ffff:192.0.2.3
Aug 14 11:00:03 h demo[1]: auth failed for y from 192.0.2.99
LOG
export TZ=UTC
R() { "$MW" regex --filter-dir "$FD" --now 2005-08-14T12:00:00 "$@"; }

R --json "$TMP/demo.log" demo > "$TMP/out" 2> "$TMP/err"
check_eq json-lines 2 "$(wc -l < "$TMP/out")"
check_cmd json-valid python3 -c "import json,sys; [json.loads(l) for l in open('$TMP/out')]"
check_grep json-first '^\{"line":2,"host":"192.0.2.1","time":1124017200,"user":"root"' "$TMP/out"
check_grep json-mapped '"line":5,"host":"192.0.2.3"' "$TMP/out"
check_grep summary-on-stderr '^Lines: 4 lines, 1 ignored, 2 matched, 1 missed' "$TMP/err"
check_nogrep stdout-only-json '^Lines' "$TMP/out"

R --json "$TMP/demo.log" 'demo[mode=aggressive]' > "$TMP/out" 2>/dev/null
check_eq filter-args 3 "$(wc -l < "$TMP/out")"
R --json --filter-option mode=aggressive "$TMP/demo.log" demo > "$TMP/out" 2>/dev/null
check_eq filter-option 3 "$(wc -l < "$TMP/out")"
printf '[Definition]\nmode = aggressive\n' > "$FD/demo.local"
R --json "$TMP/demo.log" demo > "$TMP/out" 2>/dev/null
check_eq local-overrides 3 "$(wc -l < "$TMP/out")"
rm "$FD/demo.local"

check_eq out-id "192.0.2.1 192.0.2.3" "$(R -o id "$TMP/demo.log" demo | tr '\n' ' ' | sed 's/ $//')"
check_eq out-user "root x" "$(R -o user "$TMP/demo.log" demo | tr '\n' ' ' | sed 's/ $//')"
check_eq out-template "root@192.0.2.1" "$(R -o '<F-USER>@<ip>' "$TMP/demo.log" demo | head -1)"
check_eq log-text "192.0.2.7" "$(R -o ip 'Aug 14 11:00:00 h demo[1]: auth failed for a from 192.0.2.7' demo)"
check_eq regex-arg "192.0.2.1" "$(R -o ip "$TMP/demo.log" 'auth failed for root from <HOST>$')"
check_eq ignoreregex-arg "" "$(R -o ip "$TMP/demo.log" 'auth failed for root from <HOST>$' 'for root')"
check_eq journal-time "$(date -u -d 2005-08-14T12:00:00 +%s)" \
    "$(printf 'h demo[1]: auth failed for a from 192.0.2.7\n' | R --journal --json - demo 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["time"])')"

R "$TMP/demo.log" nosuchfilter[mode=x] > /dev/null 2>&1
check_eq missing-filter-is-regex-error 2 $?
R "$TMP/nosuchdir/log" demo > /dev/null 2>&1
check_eq unreadable-log-as-text 0 $?
printf '[Definition]\nfailregex = no id here (\\d+)\n' > "$FD/bad.conf"
R "$TMP/demo.log" bad > /dev/null 2> "$TMP/err"
check_eq bad-filter-exit 2 $?
check_grep bad-filter-message 'No failure-id group' "$TMP/err"
printf '[Definition]\nfailregex = x <HOST>\nfailregex = again\n' > "$FD/dup.conf"
R "$TMP/demo.log" dup > /dev/null 2> "$TMP/err"
check_grep duplicate-option-file-line 'dup.conf:3:' "$TMP/err"

# the same summary as fail2ban-regex on a real mail log
LOGF="$TMP/mail-traditional.log"
[ -f "$DATA/mail-traditional.log.gz" ] && gzip -dc "$DATA/mail-traditional.log.gz" > "$LOGF"
if command -v fail2ban-regex > /dev/null && [ -f /etc/fail2ban/filter.d/postfix.conf ] && [ -s "$LOGF" ]; then
    for f in 'postfix[mode=aggressive]' dovecot; do
        fail2ban-regex "$LOGF" "$f" 2>&1 | sed -n '/^Results/,/^Lines/p' > "$TMP/f2b"
        "$MW" regex "$LOGF" "$f" 2>&1 | sed -n '/^Results/,/^Lines/p' > "$TMP/mw"
        if cmp -s "$TMP/f2b" "$TMP/mw"; then pass "same-summary-as-fail2ban-regex/$f"
        else fail "same-summary-as-fail2ban-regex/$f" "$(diff "$TMP/f2b" "$TMP/mw" | head -5 | tr '\n' ' ')"; fi
    done
else
    skip same-summary-as-fail2ban-regex "fail2ban or the corpus log is not installed"
fi

# built-in filters: the mapped-file path (threads, prefilter), stdin batches and one thread
# give the same failures and line counts
if [ -s "$LOGF" ]; then
    for f in mailwarden-postfix 'mailwarden-postfix[mode=aggressive]' mailwarden-dovecot; do   # (no sshd lines here)
        "$MW" regex --json --threads 2 "$LOGF" "$f" > "$TMP/t2" 2> "$TMP/t2e"
        "$MW" regex --json --threads 1 "$LOGF" "$f" > "$TMP/t1" 2> "$TMP/t1e"
        "$MW" regex --json --threads 2 - "$f" < "$LOGF" > "$TMP/ts" 2> "$TMP/tse"
        n=$(wc -l < "$TMP/t2")
        if [ "$n" -gt 0 ] && cmp -s "$TMP/t2" "$TMP/t1" && cmp -s "$TMP/t2" "$TMP/ts" &&
           [ "$(grep '^Lines' "$TMP/t2e")" = "$(grep '^Lines' "$TMP/tse")" ] &&
           [ "$(grep '^Lines' "$TMP/t2e")" = "$(grep '^Lines' "$TMP/t1e")" ]; then
            pass "builtin-batch-forms-agree/$f ($n failures)"
        else
            fail "builtin-batch-forms-agree/$f" "$(diff "$TMP/t2" "$TMP/ts" | head -3 | tr '\n' ' ')"
        fi
    done
else
    skip builtin-batch-forms-agree "the corpus log is not installed"
fi
finish
