#!/bin/bash
# guard_nft_prefix: prefix escalation with the real kernel firewall, in a network namespace
# this test creates (and removes on exit). Three addresses of one /24 banned within the
# window: `nft list set` holds the /24 interval and no longer the members (an interval set
# refuses overlapping elements, so the network's ban replaces them in one transaction);
# further failures from inside it add nothing; `unban PREFIX` removes the interval; a restart
# re-applies it from the database; IPv6 /64 counting bans the /64 interval.
SUITE=guard_nft_prefix
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then skip all "needs root for ip netns and nftables"; finish; fi
if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then skip all "ip or nft not installed"; finish; fi
NS=mwpfx$$
if ! ip netns add "$NS" 2>"$TMP/netns.err"; then skip all "ip netns add: $(cat "$TMP/netns.err")"; finish; fi
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

nsx() { ip netns exec "$NS" "$@"; }
inset() { nsx nft list set inet mailwarden "$1" 2>/dev/null | grep -qE "(^|[ {,])$2([ ,}]|$)"; }
notinset() { ! inset "$@"; }
stamp() { date '+%b %e %H:%M:%S'; }
sshfail() { echo "$(stamp) mail sshd[77]: Failed password for root from $1 port 4 ssh2" >> "$LOG"; }

CONF=$TMP/conf
mkdir -p "$CONF"
LOG=$TMP/auth.log
: > "$LOG"
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
EOF
cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
maxretry = 2
findtime = 10m
bantime = 1h
banaction = nftables

[sshd]
enabled = true
filter = mailwarden-sshd
logpath = $LOG
port = ssh
prefix.escalate = true
prefix.count = 3
prefix.window = 1h
ipv6_prefix = 64
EOF

start_daemon() {
    ip netns exec "$NS" "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 5000 cli ping >/dev/null 2>&1
}
stop_daemon() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

start_daemon || { fail start "daemon did not answer: $(tail -5 "$TMP/daemon.log")"; finish; }
pass start

# two members: two host elements
for ip in 203.0.113.5 203.0.113.7; do sshfail $ip; sshfail $ip; done
if wait_until 5000 inset j_sshd_4 203.0.113.7 && inset j_sshd_4 203.0.113.5; then pass members-banned
else fail members-banned "$(nsx nft list set inet mailwarden j_sshd_4 2>&1)"; fi
# the third: the /24 interval replaces them
sshfail 203.0.113.9; sshfail 203.0.113.9
if wait_until 5000 inset j_sshd_4 203.0.113.0/24; then pass prefix-in-set
else fail prefix-in-set "$(nsx nft list set inet mailwarden j_sshd_4 2>&1; tail -5 "$TMP/daemon.log")"; fi
if notinset j_sshd_4 203.0.113.5 && notinset j_sshd_4 203.0.113.7 && notinset j_sshd_4 203.0.113.9; then
    pass members-replaced
else
    fail members-replaced "$(nsx nft list set inet mailwarden j_sshd_4)"
fi
cli status sshd > "$TMP/st.out"
check_grep status-prefix $'^   `- Banned prefixes:\t203\\.0\\.113\\.0/24 \\(203\\.0\\.113\\.5, 203\\.0\\.113\\.7, 203\\.0\\.113\\.9\\)$' "$TMP/st.out"
# failures from inside the banned network add nothing (and no overlapping element)
sshfail 203.0.113.77; sshfail 203.0.113.77
sshfail 198.51.100.3; sshfail 198.51.100.3          # a sentinel: once banned, the above was read
wait_until 5000 inset j_sshd_4 198.51.100.3 || fail sentinel "198.51.100.3 not banned"
if notinset j_sshd_4 203.0.113.77 && ! grep -q 'action nftables.*fail' "$TMP/daemon.log"; then pass covered-no-element
else fail covered-no-element "$(nsx nft list set inet mailwarden j_sshd_4; grep -i fail "$TMP/daemon.log" | tail -3)"; fi

# restart with an emptied firewall: the /24 comes back from the database
stop_daemon
nsx nft delete table inet mailwarden
start_daemon || fail restart "daemon did not answer"
if wait_until 5000 inset j_sshd_4 203.0.113.0/24; then pass restart-reapplies-prefix
else fail restart-reapplies-prefix "$(nsx nft list set inet mailwarden j_sshd_4 2>&1)"; fi
cli status sshd > "$TMP/st2.out"
check_grep restart-members $'^   `- Banned prefixes:\t203\\.0\\.113\\.0/24 \\(203\\.0\\.113\\.5, 203\\.0\\.113\\.7, 203\\.0\\.113\\.9\\)$' "$TMP/st2.out"

# unban of the network removes the interval
check_eq unban-count "1" "$(cli unban 203.0.113.0/24)"
if wait_until 5000 notinset j_sshd_4 203.0.113.0/24; then pass unban-removes-prefix
else fail unban-removes-prefix "$(nsx nft list set inet mailwarden j_sshd_4)"; fi
# and the network's addresses can be banned one by one again
sshfail 203.0.113.5; sshfail 203.0.113.5
if wait_until 5000 inset j_sshd_4 203.0.113.5; then pass member-again; else fail member-again "not banned"; fi

# IPv6 counted per /64: two addresses of one /64 ban the /64 interval
sshfail 2001:db8:5:6::1; sshfail 2001:db8:5:6:ffff::2
if wait_until 5000 inset j_sshd_6 2001:db8:5:6::/64; then pass ipv6-64-in-set
else fail ipv6-64-in-set "$(nsx nft list set inet mailwarden j_sshd_6 2>&1)"; fi
stop_daemon
finish
