#!/bin/bash
# guard_prefix: prefix escalation, per-prefix IPv6 counting and recidive, end to end:
#   `simulate` on lines written here (3 addresses of one /24 -> the /24; IPv6 per /64 on and
#   off; recidive after N bans across jails), and the daemon with the null action (no root
#   needed): `status JAIL` shows the prefix ban with its members after fail2ban's lines,
#   `--json` too, `banned` lists it, `unban PREFIX` lifts it, a restart restores it with its
#   members from the database, recidive counts bans from the database across a restart.
SUITE=guard_prefix
. "$(dirname "$0")/../lib.sh"

CONF=$TMP/conf
mkdir -p "$CONF"
cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip =
ignoreself = false
maxretry = 2
findtime = 10m
bantime = 1h
banaction = null
logpath = /dev/null
[postfix]
enabled = true
filter = mailwarden-postfix
[sshd]
enabled = true
filter = mailwarden-sshd
[recidive]
enabled = true
filter = mailwarden-recidive
maxretry = 3
findtime = 1d
bantime = 1w
EOF
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/sim-unused.db
socket = $TMP/unused.sock
EOF
ssh() { echo "Nov 22 $1 mail sshd[7]: Failed password for root from $2 port 4 ssh2"; }
sasl() { echo "Nov 22 $1 mail postfix/smtpd[9]: warning: unknown[$2]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"; }

# --- three addresses of one /24 banned within the hour: the /24 ---
{
    ssh 10:00:00 203.0.113.5; ssh 10:00:01 203.0.113.5
    ssh 10:10:00 203.0.113.7; ssh 10:10:01 203.0.113.7
    ssh 10:20:00 203.0.113.9; ssh 10:20:01 203.0.113.9
    ssh 10:30:00 203.0.113.11; ssh 10:30:01 203.0.113.11      # inside the banned /24: nothing
    ssh 10:40:00 198.51.100.1; ssh 10:40:01 198.51.100.1      # another network
} > "$TMP/p.log"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/p.log" > "$TMP/off.out" 2>&1
check_eq prefix-off-by-default "2026-11-22T10:00:01+00:00 sshd 203.0.113.5 3600 2
2026-11-22T10:10:01+00:00 sshd 203.0.113.7 3600 2
2026-11-22T10:20:01+00:00 sshd 203.0.113.9 3600 2
2026-11-22T10:30:01+00:00 sshd 203.0.113.11 3600 2
2026-11-22T10:40:01+00:00 sshd 198.51.100.1 3600 2" "$(cat "$TMP/off.out")"
printf '[sshd]\nprefix.escalate = true\nprefix.count = 3\nprefix.window = 1h\n' > "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/p.log" > "$TMP/on.out" 2>&1
check_eq prefix-escalates "2026-11-22T10:00:01+00:00 sshd 203.0.113.5 3600 2
2026-11-22T10:10:01+00:00 sshd 203.0.113.7 3600 2
2026-11-22T10:20:01+00:00 sshd 203.0.113.9 3600 2
2026-11-22T10:20:01+00:00 sshd 203.0.113.0/24 3600 3
2026-11-22T10:40:01+00:00 sshd 198.51.100.1 3600 2" "$(cat "$TMP/on.out")"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd --json "$TMP/p.log" > "$TMP/on.json"
check_grep prefix-json-members '^\{"time":[0-9]+,"jail":"sshd","ip":"203\.0\.113\.0/24","bantime":3600,"failures":3,"members":\["203\.0\.113\.5","203\.0\.113\.7","203\.0\.113\.9"\]\}$' "$TMP/on.json"
# outside the window: no escalation
printf '[sshd]\nprefix.escalate = true\nprefix.count = 3\nprefix.window = 15m\n' > "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/p.log" > "$TMP/win.out" 2>&1
check_nogrep prefix-window '/24' "$TMP/win.out"
# a network holding an ignored address is never banned as a whole
printf '[sshd]\nprefix.escalate = true\nignoreip = 203.0.113.200\n' > "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/p.log" > "$TMP/ign.out" 2> "$TMP/ign.err"
check_nogrep prefix-ignoreip-inside '203\.0\.113\.0/24' "$TMP/ign.out"
check_grep prefix-ignoreip-banned-singly ' 203\.0\.113\.11 3600 2$' "$TMP/ign.out"
check_grep prefix-ignoreip-why '203\.0\.113\.0/24 not banned as a network: it holds an ignored address' "$TMP/ign.err"
# IPv6: /48 escalation of /64 bans
{
    ssh 10:00:00 2001:db8:7:1::1; ssh 10:00:01 2001:db8:7:1::1
    ssh 10:01:00 2001:db8:7:2::1; ssh 10:01:01 2001:db8:7:2::1
    ssh 10:02:00 2001:db8:7:3::1; ssh 10:02:01 2001:db8:7:3::1
} > "$TMP/v6p.log"
printf '[sshd]\nprefix.escalate = true\n' > "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/v6p.log" > "$TMP/v6p.out" 2>&1
check_grep prefix-v6-48 '^2026-11-22T10:02:01\+00:00 sshd 2001:db8:7::/48 3600 3$' "$TMP/v6p.out"

# --- IPv6 counted per /64: off by default (one address is one host), on with ipv6_prefix ---
{
    ssh 10:00:00 2001:db8:1:2::1
    ssh 10:00:01 2001:db8:1:2::2
    ssh 10:00:02 2001:db8:1:2:abcd::3
    ssh 10:00:03 2001:db8:1:3::1
} > "$TMP/v6.log"
rm -f "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/v6.log" > "$TMP/v6off.out" 2>&1
check_eq ipv6-per-address "" "$(cat "$TMP/v6off.out")"
printf '[sshd]\nipv6_prefix = 64\n' > "$CONF/jail.local"
"$MW" simulate -c "$CONF" --now 2026-11-22T12:00:00 --jail sshd "$TMP/v6.log" > "$TMP/v6on.out" 2>&1
check_eq ipv6-per-64 "2026-11-22T10:00:01+00:00 sshd 2001:db8:1:2::/64 3600 2" "$(cat "$TMP/v6on.out")"
"$MW" explain -c "$CONF" "$(ssh 10:00:00 2001:db8:1:2::1)" > "$TMP/v6x.out" 2>&1
check_grep ipv6-per-64-explain '^jail sshd \(filter mailwarden-sshd\): counts 1 failure of 2001:db8:1:2::1 for its network 2001:db8:1:2::/64 ' "$TMP/v6x.out"
rm -f "$CONF/jail.local"

# --- recidive: the third ban of one address within a day, across jails ---
{
    ssh 10:00:00 192.0.2.50; ssh 10:00:01 192.0.2.50
    sasl 10:05:00 192.0.2.50; sasl 10:05:01 192.0.2.50
    ssh 11:30:00 192.0.2.60; ssh 11:30:01 192.0.2.60          # someone else: no recidive
    ssh 12:00:00 192.0.2.50; ssh 12:00:01 192.0.2.50
} > "$TMP/r.log"
"$MW" simulate -c "$CONF" --now 2026-11-22T23:00:00 "$TMP/r.log" > "$TMP/r.out" 2>&1
check_eq recidive "2026-11-22T10:00:01+00:00 sshd 192.0.2.50 3600 2
2026-11-22T10:05:01+00:00 postfix 192.0.2.50 3600 2
2026-11-22T11:30:01+00:00 sshd 192.0.2.60 3600 2
2026-11-22T12:00:01+00:00 sshd 192.0.2.50 3600 2
2026-11-22T12:00:01+00:00 recidive 192.0.2.50 604800 3" "$(cat "$TMP/r.out")"
"$MW" explain -c "$CONF" "$(ssh 10:00:00 192.0.2.50)" > "$TMP/rx.out" 2>&1
check_grep recidive-explain '^jail recidive \(filter mailwarden-recidive\): not counted: a recidive jail counts the bans of the other jails' "$TMP/rx.out"
"$MW" guard -c "$CONF" --test-config > "$TMP/rtc.out" 2>&1
check_grep recidive-test-config '^jail recidive: filter mailwarden-recidive, maxretry 3, findtime 1d, bantime 7d, actions null, counts the bans of the other jails$' "$TMP/rtc.out"

# --fail2ban-compat: fail2ban's [recidive] (filter recidive on fail2ban.log) is the built-in one
if [ -d /etc/fail2ban/filter.d ]; then
    cp -r /etc/fail2ban "$TMP/f2b"
    rm -f "$TMP/f2b/jail.d/"*
    printf '[DEFAULT]\nignoreip =\nignoreself = false\nlogpath = /dev/null\nbackend = auto\n[sshd]\nenabled = true\nmaxretry = 2\n[recidive]\nenabled = true\nmaxretry = 3\n' > "$TMP/f2b/jail.d/test.local"
    "$MW" guard -c "$CONF" --fail2ban-compat "$TMP/f2b" --test-config > "$TMP/f2btc.out" 2>&1
    check_grep compat-recidive '^jail recidive: filter recidive(\[mode=normal\])?, maxretry 3, findtime 1d, bantime 7d.*counts the bans of the other jails$' "$TMP/f2btc.out"
    { ssh 10:00:00 192.0.2.70; ssh 10:00:01 192.0.2.70; ssh 11:00:00 192.0.2.70; ssh 11:00:01 192.0.2.70
      ssh 12:00:00 192.0.2.70; ssh 12:00:01 192.0.2.70; } > "$TMP/f2br.log"
    "$MW" simulate -c "$CONF" --fail2ban-compat "$TMP/f2b" --now 2026-11-22T23:00:00 "$TMP/f2br.log" > "$TMP/f2br.out" 2>&1
    check_grep compat-recidive-bans '^2026-11-22T12:00:01\+00:00 recidive 192\.0\.2\.70 604800 3$' "$TMP/f2br.out"
else
    skip compat-recidive "/etc/fail2ban not installed"
fi

# --- the shipped configuration: recidive on, prefix escalation off ---
"$MW" guard -c "$TOP/config" --test-config > "$TMP/shipped.out" 2>&1
check_grep shipped-recidive '^jail recidive: filter mailwarden-recidive, maxretry 5, findtime 1d, bantime 7d' "$TMP/shipped.out"
check_nogrep shipped-prefix-off 'prefix bans' "$TMP/shipped.out"

# --- the daemon (null action): status, --json, banned, unban, restart, recidive from the db ---
LOG=$TMP/live.log
: > "$LOG"
D=$TMP/dconf
mkdir -p "$D"
sed "s#^logpath = /dev/null#logpath = $LOG#" "$CONF/jail.conf" > "$D/jail.conf"
printf '[sshd]\nprefix.escalate = true\nprefix.count = 3\n' > "$D/jail.local"
cat > "$D/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
EOF
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
start_daemon() {
    "$MW" guard -c "$D" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 5000 cli ping >/dev/null 2>&1
}
stop_daemon() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }
stamp() { date '+%b %e %H:%M:%S'; }
live() { echo "$(stamp) mail sshd[7]: Failed password for root from $1 port 4 ssh2" >> "$LOG"; }
banned_has() { cli banned | grep -q "$1"; }

start_daemon || { fail daemon-start "$(tail -5 "$TMP/daemon.log")"; finish; }
for ip in 203.0.113.5 203.0.113.7 203.0.113.9; do live $ip; live $ip; done
if wait_until 5000 banned_has 203.0.113.0/24; then pass daemon-prefix-ban; else fail daemon-prefix-ban "$(cli banned)"; fi
cli status sshd > "$TMP/st.out"
check_grep status-banned-list $'^   `- Banned IP list:\t203\\.0\\.113\\.0/24$' "$TMP/st.out"
check_eq status-prefix-line-last "$(printf '   `- Banned prefixes:\t203.0.113.0/24 (203.0.113.5, 203.0.113.7, 203.0.113.9)')" "$(tail -1 "$TMP/st.out")"
check_grep status-layout-kept $'^   |- Currently banned:\t1$' "$TMP/st.out"
cli status postfix > "$TMP/stp.out"
check_nogrep status-no-prefix-line-when-off 'Banned prefixes' "$TMP/stp.out"
cli status sshd --json > "$TMP/st.json"
check_grep status-json '"banned_prefixes":\[\{"prefix":"203\.0\.113\.0/24","members":\["203\.0\.113\.5","203\.0\.113\.7","203\.0\.113\.9"\]\}\]' "$TMP/st.json"
cli banned --json > "$TMP/b.json"
check_grep banned-json-members '"ip":"203\.0\.113\.0/24".*"members":\["203\.0\.113\.5","203\.0\.113\.7","203\.0\.113\.9"\]' "$TMP/b.json"
check_eq banned-one "1" "$(cli banned | wc -l | tr -d ' ')"
# reload keeps it with its members
cli reload > /dev/null
cli status sshd > "$TMP/st1.out"
check_eq reload-keeps-prefix "$(printf '   `- Banned prefixes:\t203.0.113.0/24 (203.0.113.5, 203.0.113.7, 203.0.113.9)')" "$(tail -1 "$TMP/st1.out")"
# restart: the prefix ban comes back from the database with its members
stop_daemon
start_daemon || fail daemon-restart "$(tail -5 "$TMP/daemon.log")"
cli status sshd > "$TMP/st2.out"
check_eq restart-restores-prefix "$(printf '   `- Banned prefixes:\t203.0.113.0/24 (203.0.113.5, 203.0.113.7, 203.0.113.9)')" "$(tail -1 "$TMP/st2.out")"
# unban of the network lifts it
check_eq unban-prefix "1" "$(cli unban 203.0.113.0/24)"
check_eq unban-prefix-gone "" "$(cli banned)"
check_eq unban-prefix-db "unban" "$(sqlite3 "$TMP/mw.db" "SELECT ended_how FROM guard_bans WHERE ip = '203.0.113.0' AND prefix = 24")"
check_eq members-ended-prefix "3" "$(sqlite3 "$TMP/mw.db" "SELECT count(*) FROM guard_bans WHERE prefix = 32 AND ended_how = 'prefix'")"
# recidive counts the bans in the database, across a restart: two bans, restart, a third
live 192.0.2.50; live 192.0.2.50
wait_until 5000 banned_has 192.0.2.50 || fail recidive-ban1 "not banned"
cli unban 192.0.2.50 > /dev/null
cli ban postfix 192.0.2.50 > /dev/null
stop_daemon
start_daemon || fail daemon-restart2 "$(tail -5 "$TMP/daemon.log")"
cli unban 192.0.2.50 > /dev/null
live 192.0.2.50; live 192.0.2.50
if wait_until 5000 bash -c "'$MW' banned --socket '$TMP/mw.sock' | grep -q '^recidive	192\.0\.2\.50	'"; then
    pass recidive-from-db
else
    fail recidive-from-db "$(cli banned)"
fi
stop_daemon
finish
