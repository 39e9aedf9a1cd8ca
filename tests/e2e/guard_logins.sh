#!/bin/bash
# End-to-end: the guard daemon records last logins live from the lines it follows (no process
# per login), into the same database `mailwarden logins` reports from; a restart resumes at
# the saved position and counts nothing twice. Null actions: no firewall needed.
SUITE=guard_logins
. "$(dirname "$0")/../lib.sh"
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
stamp() { date '+%b %e %H:%M:%S'; }
login() { echo "$(stamp) mail dovecot: $2-login: Login: user=<$1>, method=PLAIN, rip=$3, lip=10.0.0.1, mpid=$RANDOM, session=<s$RANDOM>" >> "$LOG"; }
authfail() { echo "$(stamp) mail dovecot: auth: passwd-file($1,$2,<f$RANDOM>): unknown user" >> "$LOG"; }

CONF=$TMP/conf; mkdir -p "$CONF"; LOG=$TMP/mail.log; : > "$LOG"; DB=$TMP/mw.db
cat > "$CONF/mailwarden.conf" <<EOF2
[Definition]
dbfile = $DB
socket = $TMP/mw.sock
logtarget = STDERR
EOF2
cat > "$CONF/jail.conf" <<EOF2
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
banaction = null
[dovecot]
enabled = true
filter = mailwarden-dovecot
logpath = $LOG
EOF2
start() {
    "$MW" guard -c "$CONF" --foreground 2>>"$TMP/guard.err" &
    DPID=$!
    wait_until 10000 cli ping >/dev/null 2>&1
}
stop() { cli stop >/dev/null 2>&1; wait "$DPID" 2>/dev/null; DPID=; }
# lines are processed in order: once the jail has counted N failures, every line before the
# last failure has been read too
failed_is() { [ "$(cli status dovecot 2>/dev/null | awk -F'\t' '/Total failed:/ { print $NF }')" = "$1" ]; }
count() {   # count USER PROTO from `logins --json`
    "$MW" logins --db "$DB" --json | python3 -c '
import json, sys
u, p = sys.argv[1], sys.argv[2]
d = json.load(sys.stdin)
rows = d["users"] if isinstance(d, dict) and "users" in d else d
n = 0
for r in rows:
    if r.get("user") != u: continue
    for k in ("logins", "login_count", "count"):
        if k in r: n = r[k]
    for x in r.get("protocols", []) or []:
        if x.get("proto", x.get("protocol")) == p: n = x.get("logins", x.get("count", n))
print(n)' "$1" "$2"
}

start
check_cmd daemon-up cli ping
login alice@example.com imap 192.0.2.10
login alice@example.com imap 192.0.2.10
login bob@example.com pop3 192.0.2.11
authfail admin 198.51.100.66
authfail admin 198.51.100.66
check_cmd first-lines-read wait_until 10000 failed_is 2
stop
"$MW" logins --db "$DB" > "$TMP/report.txt" 2>&1
check_grep live-alice 'alice@example.com' "$TMP/report.txt"
check_grep live-bob 'bob@example.com' "$TMP/report.txt"
check_nogrep brute-name-not-a-user '^admin ' "$TMP/report.txt"
"$MW" logins --db "$DB" --json > "$TMP/r1.json"
python3 - "$TMP/r1.json" <<'PY' > "$TMP/r1.out" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
s = json.dumps(d)
assert "alice@example.com" in s and "bob@example.com" in s, s[:300]
print("ok")
PY
check_eq live-json ok "$(tail -1 "$TMP/r1.out")"
a1=$(grep -m1 'alice@example.com' "$TMP/report.txt" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/ && $(i-1) !~ /:/) n = $i } END { print n }')
# restart: old lines are not counted again, a new one is. (Logins are counted by time with
# a per-second watermark, like `logins --update`; a login in the very second of the stored
# last one is ambiguous after a restart, so the new one comes a second later.)
t0=$(date +%s)
later() { [ "$(date +%s)" -gt "$t0" ]; }
start
wait_until 3000 later
login alice@example.com imap 192.0.2.10
authfail admin 198.51.100.66
check_cmd new-lines-read wait_until 10000 failed_is 1
stop
"$MW" logins --db "$DB" > "$TMP/report2.txt" 2>&1
a2=$(grep -m1 'alice@example.com' "$TMP/report2.txt" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/ && $(i-1) !~ /:/) n = $i } END { print n }')
check_eq restart-counts-once "2 3" "$a1 $a2"
finish
