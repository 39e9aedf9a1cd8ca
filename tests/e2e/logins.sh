#!/bin/bash
# End-to-end tests of `mailwarden logins` and `mailwarden postlogin` on the real corpus and
# on small crafted logs. Ground truth: /work/shared/corpus/README.md ("Successful logins").
source "$(dirname "$0")/../lib.sh"
TRAD="$DATA/mail-traditional.log.gz"
RFC="$DATA/mail-rfc3339.log.gz"
NOW=2026-11-23T00:00:00
DB="$TMP/mw.db"

q() { python3 - "$@" <<'EOF'
import sqlite3, sys
db, sql = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
for row in c.execute(sql, sys.argv[3:]):
    print("|".join("" if v is None else str(v) for v in row))
EOF
}

# ---- the corpus into the database ----
if "$MW" logins --update --db "$DB" --now "$NOW" "$TRAD" >"$TMP/upd.out" 2>"$TMP/upd.err"; then
    pass update-exit-0
else
    fail update-exit-0 "exit $?: $(head -3 "$TMP/upd.err")"
fi
check_eq update-silent "" "$(cat "$TMP/upd.out")"
check_eq schema-version 4 "$(q "$DB" 'SELECT version FROM schema_version')"
check_eq wal-mode wal "$(q "$DB" 'PRAGMA journal_mode')"

# README: IMAP alice 20, bob 14, carol 16, erin 6; POP3 dave 10, erin 8
got=$(q "$DB" "SELECT user, proto, login_count FROM logins WHERE proto IN ('imap','pop3') ORDER BY user, proto")
exp="alice@example.com|imap|20
bob@example.com|imap|14
carol@example.com|imap|16
dave@example.net|pop3|10
erin@example.net|imap|6
erin@example.net|pop3|8"
check_eq corpus-dovecot-logins "$exp" "$got"
# Postfix SASL: one login per smtpd session; the corpus sends one message per session (80)
check_eq corpus-smtp-logins 80 "$(q "$DB" "SELECT sum(login_count) FROM logins WHERE proto = 'smtp'")"
# the .52 brute forcer got in as carol: that is a real login of carol, from .52
check_eq corpus-alice-last-imap "2026-11-22 21:19:10|127.0.0.70" \
    "$(q "$DB" "SELECT datetime(last_login, 'unixepoch'), last_ip FROM logins WHERE user = 'alice@example.com' AND proto = 'imap'")"

# names only brute forcers tried: in the failure table, never users who logged in
users=$(q "$DB" 'SELECT DISTINCT user FROM logins ORDER BY 1' | tr '\n' ' ')
check_eq corpus-only-real-users "alice@example.com bob@example.com carol@example.com dave@example.net erin@example.net " "$users"
for n in support@example.com admin info test root info@example.com sales@example.com; do
    check_eq "bruteforce-name-is-failure-only/$n" "0|1" \
        "$(q "$DB" 'SELECT (SELECT count(*) FROM logins WHERE user = ?1), (SELECT count(*) FROM login_failures WHERE user = ?1)' "$n")"
done
"$MW" logins --db "$DB" --now "$NOW" >"$TMP/rep.txt" 2>&1
check_nogrep report-no-bruteforce-users '^(support@|admin|info|test|root|sales@)' "$TMP/rep.txt"
check_eq report-rows 6 "$(wc -l < "$TMP/rep.txt")"
check_grep report-age '^alice@example.com +2026-11-22 21:19:10 +2 hours ago +imap +127\.0\.0\.70 +30 ' "$TMP/rep.txt"
check_grep report-last-failure '^carol@example.com .* 2026-11-22 21:15:24 from 127\.0\.0\.52 \(smtp\)$' "$TMP/rep.txt"

# ---- no double counting ----
"$MW" logins --update --db "$DB" "$TRAD" 2>/dev/null
check_eq update-twice-same-counts 154 "$(q "$DB" 'SELECT sum(login_count) FROM logins')"
# the same messages in RFC 3339 format: same times, so nothing new either
"$MW" logins --update --db "$DB" "$RFC" 2>/dev/null
check_eq update-other-format-same-lines 154 "$(q "$DB" 'SELECT sum(login_count) FROM logins')"
# a log that grows: first half, then the whole file (cron on a live log)
zcat "$TRAD" | head -n 4000 > "$TMP/half.log"
zcat "$TRAD" > "$TMP/full.log"
"$MW" logins --update --db "$TMP/grow.db" "$TMP/half.log" 2>/dev/null
"$MW" logins --update --db "$TMP/grow.db" "$TMP/full.log" 2>/dev/null
"$MW" logins --update --db "$TMP/grow.db" "$TMP/full.log" 2>/dev/null
check_eq update-growing-log "$(q "$DB" 'SELECT user, proto, login_count FROM logins ORDER BY 1, 2')" \
    "$(q "$TMP/grow.db" 'SELECT user, proto, login_count FROM logins ORDER BY 1, 2')"
# one run, the same lines twice: the same file given twice, and a rotated family whose
# older member overlaps the current file (each input is stored before the next is read)
"$MW" logins --update --db "$TMP/twice.db" "$TMP/full.log" "$TMP/full.log" 2>/dev/null
check_eq update-same-file-twice-one-run 154 "$(q "$TMP/twice.db" 'SELECT sum(login_count) FROM logins')"
mkdir -p "$TMP/rot"
cp "$TMP/full.log" "$TMP/rot/mail.log"
gzip -c "$TMP/half.log" > "$TMP/rot/mail.log.1.gz"
"$MW" logins --update -v --rotated --db "$TMP/rot.db" "$TMP/rot/mail.log" 2> "$TMP/rot.err"
check_eq update-rotated-overlap 154 "$(q "$TMP/rot.db" 'SELECT sum(login_count) FROM logins')"
check_eq update-rotated-oldest-first "mail.log.1.gz mail.log " "$(sed -n 's|^logins: .*/\([^/:]*\): .*|\1|p' "$TMP/rot.err" | tr '\n' ' ')"

# same-second logins cut between two runs: the tie count at the watermark
cat > "$TMP/tie1.log" <<'EOF'
Nov 22 10:00:00 mail dovecot: imap-login: Login: user=<tie@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9, mpid=1, session=<a>
EOF
cp "$TMP/tie1.log" "$TMP/tie2.log"
cat >> "$TMP/tie2.log" <<'EOF'
Nov 22 10:00:00 mail dovecot: imap-login: Login: user=<tie@example.com>, method=PLAIN, rip=192.0.2.2, lip=192.0.2.9, mpid=2, session=<b>
Nov 22 10:00:00 mail dovecot: imap-login: Login: user=<tie@example.com>, method=PLAIN, rip=192.0.2.3, lip=192.0.2.9, mpid=3, session=<c>
EOF
"$MW" logins --update --db "$TMP/tie.db" --now "$NOW" "$TMP/tie1.log" 2>/dev/null
"$MW" logins --update --db "$TMP/tie.db" --now "$NOW" "$TMP/tie2.log" 2>/dev/null
"$MW" logins --update --db "$TMP/tie.db" --now "$NOW" "$TMP/tie2.log" 2>/dev/null
check_eq update-same-second-split "3|3|192.0.2.3" "$(q "$TMP/tie.db" 'SELECT login_count, last_n, last_ip FROM logins')"

# ---- report straight from the logs equals the report from the database ----
"$MW" logins --now "$NOW" --db "$TMP/nodb.db" "$TRAD" > "$TMP/fromlogs.txt" 2>&1
check_eq report-logs-equals-db "$(cat "$TMP/rep.txt")" "$(cat "$TMP/fromlogs.txt")"
if [ -e "$TMP/nodb.db" ]; then fail report-logs-no-db "created a database"; else pass report-logs-no-db; fi

# ---- SMTP AUTH: one login per smtpd session ----
cat > "$TMP/smtp.log" <<'EOF'
Nov 22 10:00:00 mail postfix/submission/smtpd[100]: connect from unknown[192.0.2.10]
Nov 22 10:00:01 mail postfix/submission/smtpd[100]: 1111111111A: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=sam@example.com
Nov 22 10:00:02 mail postfix/submission/smtpd[100]: 2222222222B: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=sam@example.com
Nov 22 10:00:03 mail postfix/submission/smtpd[100]: disconnect from unknown[192.0.2.10] ehlo=1 auth=1 mail=2 rcpt=2 data=2 quit=1 commands=9
Nov 22 10:01:00 mail postfix/submission/smtpd[100]: connect from unknown[192.0.2.11]
Nov 22 10:01:01 mail postfix/submission/smtpd[100]: 3333333333C: client=unknown[192.0.2.11], sasl_method=LOGIN, sasl_username=sam@example.com
Nov 22 10:01:02 mail postfix/submission/smtpd[100]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=ghost@example.com
EOF
"$MW" logins --update --db "$TMP/smtp.db" "$TMP/smtp.log" 2>/dev/null
check_eq smtp-session-dedupe "sam@example.com|smtp|2|192.0.2.11" "$(q "$TMP/smtp.db" 'SELECT user, proto, login_count, last_ip FROM logins')"
check_eq smtp-failure-only-name "ghost@example.com|192.0.2.66|smtp" "$(q "$TMP/smtp.db" 'SELECT user, last_fail_ip, last_fail_proto FROM login_failures')"

# ---- --inactive, --users, --never ----
printf '%s\n' '# accounts' 'ALICE@example.com' 'bob@example.com  extra words' '' 'frank@example.net' 'full@example.com' 'admin' > "$TMP/users.txt"
"$MW" logins --db "$DB" --now "$NOW" --users "$TMP/users.txt" > "$TMP/users.out" 2>&1
check_eq users-rows "admin frank@example.net full@example.com alice@example.com bob@example.com " \
    "$(awk 'NR > 1 { printf "%s ", $1 }' "$TMP/users.out")"
check_grep users-never-shown '^frank@example.net +never +- +- +0 +-$' "$TMP/users.out"
check_grep users-never-with-failure '^admin +never .* 2026-11-22 [0-9:]+ from 127\.0\.0\.' "$TMP/users.out"
"$MW" logins --db "$DB" --now "$NOW" --never --users - < "$TMP/users.txt" > "$TMP/never.out" 2>&1
check_eq never-only "admin frank@example.net full@example.com " "$(awk 'NR > 1 { printf "%s ", $1 }' "$TMP/never.out")"
"$MW" logins --db "$DB" --never > /dev/null 2>&1
check_eq never-needs-users 2 $?
"$MW" logins --db "$DB" --now 2027-02-25 --inactive 90d > "$TMP/inact.out" 2>&1
check_eq inactive-all-old 5 "$(($(wc -l < "$TMP/inact.out") - 1))"
check_grep inactive-age '^erin@example.net +2026-11-22 21:18:48 +94 days ago ' "$TMP/inact.out"
"$MW" logins --db "$DB" --now 2027-02-10 --inactive 90d > "$TMP/inact2.out" 2>&1
check_eq inactive-none-yet 1 "$(wc -l < "$TMP/inact2.out")"
"$MW" logins --db "$DB" --now 2027-02-25 --inactive 90d --users "$TMP/users.txt" > "$TMP/inact3.out" 2>&1
check_eq inactive-with-users "admin frank@example.net full@example.com alice@example.com bob@example.com " \
    "$(awk 'NR > 1 { printf "%s ", $1 }' "$TMP/inact3.out")"
"$MW" logins --db "$DB" --now "$NOW" --json --users "$TMP/users.txt" > "$TMP/out.json" 2>&1
if python3 - "$TMP/out.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
by = {r["user"]: r for r in rows}
assert by["frank@example.net"]["logged_in"] is False and by["frank@example.net"]["last_login"] is None
a = by["alice@example.com"]
assert a["logins"] == 30 and a["protocols"]["imap"]["logins"] == 20 and a["protocols"]["smtp"]["logins"] == 10, a
assert a["last_login"] == "2026-11-22T21:19:10+00:00" and a["ip"] == "127.0.0.70", a
assert by["admin"]["last_failure"]["ip"].startswith("127.0.0."), by["admin"]
EOF
then pass json-report; else fail json-report "$(head -c 300 "$TMP/out.json")"; fi
"$MW" logins --db "$TMP/missing.db" > /dev/null 2>"$TMP/missing.err"
check_eq report-missing-db-exit 1 $?
check_grep report-missing-db-msg 'logins --update' "$TMP/missing.err"

# ---- post-login hook ----
cat > "$TMP/next" <<'EOF'
#!/bin/sh
# the program Dovecot's script-login would run next: prove the exec and its exact argv
out=$POSTLOGIN_OUT
printf '%s\n' "$0" "$@" > "$out"
printf 'USER=%s\n' "$USER" >> "$out"
EOF
chmod +x "$TMP/next"
HDB="$TMP/hook.db"
hook() { env POSTLOGIN_OUT="$TMP/argv.out" "$@"; }

rm -f "$TMP/argv.out"
hook env USER=alice@example.com IP=192.0.2.7 LOCAL_IP=192.0.2.1 \
    "$MW" postlogin --db "$HDB" --service imap "$TMP/next" "one arg" '--help' '' 'x;y' > "$TMP/hook.stdout" 2> "$TMP/hook.err"
rc=$?
check_eq hook-exit-of-next 0 $rc
check_eq hook-exec-exact-argv "$TMP/next
one arg
--help

x;y
USER=alice@example.com" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_eq hook-stdout-untouched "" "$(cat "$TMP/hook.stdout")"
check_eq hook-stderr-quiet "" "$(cat "$TMP/hook.err")"
check_eq hook-recorded "alice@example.com|imap|1|192.0.2.7|192.0.2.1|postlogin" \
    "$(q "$HDB" 'SELECT user, proto, login_count, last_ip, last_local_ip, last_source FROM logins')"

EVIL="o'brien\"; DROP TABLE logins; -- \\' OR '1'='1 \`x\` \$(id)"
hook env USER="$EVIL" IP=2001:DB8::1 LOCAL_IP= "$MW" postlogin --db "$HDB" --service pop3 "$TMP/next" 2> "$TMP/hook2.err"
check_eq hook-evil-exec "$TMP/next
USER=$EVIL" "$(cat "$TMP/argv.out")"
check_eq hook-evil-verbatim "$EVIL|pop3|2001:db8::1" "$(q "$HDB" "SELECT user, proto, last_ip FROM logins WHERE proto = 'pop3'")"
check_eq hook-evil-no-injection 2 "$(q "$HDB" 'SELECT count(*) FROM logins')"
"$MW" logins --db "$HDB" --now "$NOW" > "$TMP/hookrep.txt" 2>&1
check_grep hook-report-shows-user "^o'brien\"; DROP TABLE" "$TMP/hookrep.txt"

# the database held locked by another process: the hook waits at most the busy timeout,
# warns, and execs anyway
mkfifo "$TMP/lock.in" "$TMP/lock.out"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
c.execute("INSERT INTO logins (user, proto, first_login, last_login) VALUES (?, ?, 1, 1)", ("locker", "imap"))
print("locked", flush=True)
sys.stdin.read()
c.execute("ROLLBACK")
' "$HDB" < "$TMP/lock.in" > "$TMP/lock.out" &
LOCKER=$!
exec 7> "$TMP/lock.in"
read -r state < "$TMP/lock.out"
check_eq locker-ready locked "$state"
rm -f "$TMP/argv.out"
hook env USER=bob@example.com IP=192.0.2.8 "$MW" postlogin --db "$HDB" --service imap "$TMP/next" after-lock 2> "$TMP/lock.err"
check_eq locked-hook-still-execs "$TMP/next
after-lock
USER=bob@example.com" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep locked-hook-warns 'postlogin: warning: login of bob@example.com not recorded \(database locked\)' "$TMP/lock.err"
# a hook stuck longer than its deadline (here: a long busy timeout on the locked database)
# is cut short by the watchdog, which execs the next program with SIGALRM not blocked
cat > "$TMP/next-mask" <<'EOF'
#!/bin/sh
printf '%s\n' "$0" "$@" > "$POSTLOGIN_OUT"
# read our own mask with shell builtins: a forked grep would read it while the shell
# blocks every signal around fork(), which says nothing about what exec gave us
while IFS= read -r l; do case $l in SigBlk:*) printf '%s\n' "$l" >> "$POSTLOGIN_OUT";; esac; done < /proc/self/status
EOF
chmod +x "$TMP/next-mask"
rm -f "$TMP/argv.out"
hook env USER=dora@example.com "$MW" postlogin --db "$HDB" --busy-timeout 60000 --deadline 300 "$TMP/next-mask" x 2> "$TMP/deadline.err"
check_eq deadline-still-execs "$TMP/next-mask
x" "$(head -n 2 "$TMP/argv.out" 2>/dev/null)"
check_grep deadline-warns 'deadline reached' "$TMP/deadline.err"
mask=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$TMP/argv.out" 2>/dev/null)
if [ -n "$mask" ] && [ $(( 0x$mask & 0x2000 )) -eq 0 ]; then pass deadline-sigalrm-unblocked
else fail deadline-sigalrm-unblocked "SigBlk [$mask]"; fi
exec 7>&-
wait "$LOCKER"
check_eq locked-hook-not-recorded 0 "$(q "$HDB" "SELECT count(*) FROM logins WHERE user IN ('bob@example.com', 'locker')")"

# unwritable database, bad options, no USER: still exec
rm -f "$TMP/argv.out"
hook env USER=carol IP=192.0.2.9 "$MW" postlogin --db /nonexistent/dir/x.db "$TMP/next" a 2> "$TMP/nodir.err"
check_eq unwritable-db-still-execs "$TMP/next
a
USER=carol" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep unwritable-db-warns 'warning: login of carol not recorded' "$TMP/nodir.err"
rm -f "$TMP/argv.out"
hook env USER=carol "$MW" postlogin --busy-timeout nonsense --db "$HDB" "$TMP/next" b 2> "$TMP/badopt.err"
check_eq bad-option-still-execs "$TMP/next
b
USER=carol" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep bad-option-warns 'busy-timeout' "$TMP/badopt.err"
rm -f "$TMP/argv.out"
hook env -u USER "$MW" postlogin --db "$HDB" "$TMP/next" c 2> "$TMP/nouser.err"
check_eq no-user-still-execs "$TMP/next
c
USER=" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep no-user-warns 'USER is not set' "$TMP/nouser.err"
"$MW" postlogin --db "$HDB" "$TMP/does-not-exist" 2> "$TMP/noexec.err"
check_eq exec-failure-exit 1 $?
check_grep exec-failure-msg 'cannot execute' "$TMP/noexec.err"

# hook and --update on one database: a login the hook recorded is not counted again when
# the log line of the same second is read
T=$(date +%s)
LINE="$(date -u -d "@$T" '+%b %e %H:%M:%S') mail dovecot: imap-login: Login: user=<dan@example.com>, method=PLAIN, rip=192.0.2.44, lip=192.0.2.1, mpid=9, session=<z>"
echo "$LINE" > "$TMP/dan.log"
DDB="$TMP/dan.db"
hook env USER=dan@example.com IP=192.0.2.44 "$MW" postlogin --db "$DDB" --service imap "$TMP/next" 2>/dev/null
# force the hook's row to the log line's second (the hook used the clock)
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE logins SET last_login=?, first_login=?", (int(sys.argv[2]), int(sys.argv[2]))); c.commit()' "$DDB" "$T"
"$MW" logins --update --db "$DDB" "$TMP/dan.log" 2>/dev/null
check_eq hook-then-log-same-second 1 "$(q "$DDB" 'SELECT login_count FROM logins')"

finish
