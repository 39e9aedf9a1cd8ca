#!/bin/bash
# guard_ipset: the daemon with banaction = ipset (ipset + iptables/ip6tables), in a network
# namespace this test creates (and removes on exit). Addresses are documentation ranges.
#   setup creates the sets and the match-set rules; a ban from the log appears with its
#   timeout; a v4-mapped IPv6 ban lands in the -4 set; unban removes; a block is permanent
#   (no timeout); a restart re-applies; unban_on_stop flushes the jail sets only.
# And banaction = firewalld with a recording fake firewall-cmd: the daemon's ban reaches it
# as one run with --timeout and the jail's rich rules.
SUITE=guard_ipset
. "$(dirname "$0")/../lib.sh"

stamp() { date '+%b %e %H:%M:%S'; }
sasl() { echo "$(stamp) mail postfix/smtpd[2900$2]: warning: unknown[$1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" >> "$LOG"; }
DPID=
NS=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

CONF=$TMP/conf
mkdir -p "$CONF"
LOG=$TMP/mail.log
: > "$LOG"
jails() {
    cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
ignoreself = false
maxretry = 3
findtime = 10m
bantime = 1h
banaction = $1

[postfix]
enabled = true
filter = mailwarden-postfix
logpath = $LOG
port = smtp,465,submission
EOF
}

# ---------------- firewalld through a recording fake (no root needed) ----------------
FAKE=$TMP/fake
mkdir -p "$FAKE"
cat > "$FAKE/firewall-cmd" <<'EOF'
#!/bin/sh
d=$(dirname "$0")
{ for a in "$@"; do printf '%s\n' "$a"; done; echo; } >> "$d/log"
exit 0
EOF
chmod 755 "$FAKE/firewall-cmd"
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/fwd.db
socket = $TMP/mw.sock
logtarget = STDERR
firewallcmd = $FAKE/firewall-cmd
EOF
jails firewallcmd-rich-rules
"$MW" guard -c "$CONF" --foreground 2>>"$TMP/fwd.log" &
DPID=$!
if wait_until 5000 cli ping >/dev/null 2>&1; then
    pass firewalld-start
    for i in 1 2 3; do sasl 192.0.2.10 $i; done
    want=$(printf '%s\n' --timeout=3600s \
        '--add-rich-rule=rule family="ipv4" source address="192.0.2.10" port port="25" protocol="tcp" drop' \
        '--add-rich-rule=rule family="ipv4" source address="192.0.2.10" port port="465" protocol="tcp" drop' \
        '--add-rich-rule=rule family="ipv4" source address="192.0.2.10" port port="587" protocol="tcp" drop')
    if wait_until 5000 grep -q '192.0.2.10' "$FAKE/log"; then
        sleep 0.2
        # the timeout is what is left of the 1 h ban: 3600 s, or 3599 s across a second boundary
        check_eq firewalld-ban "$(printf -- '--state\n\n%s' "$want")" "$(sed 's/^--timeout=3599s$/--timeout=3600s/' "$FAKE/log")"
    else
        fail firewalld-ban "no run recorded: $(cat "$FAKE/log" 2>/dev/null | head -5)"
    fi
    : > "$FAKE/log"
    cli block 203.0.113.0/24 >/dev/null
    if wait_until 5000 grep -q '203.0.113.0/24' "$FAKE/log"; then
        sleep 0.2
        check_eq firewalld-block "$(printf -- '--permanent\n--add-rich-rule=rule family="ipv4" source address="203.0.113.0/24" drop\n\n--add-rich-rule=rule family="ipv4" source address="203.0.113.0/24" drop\n')" "$(cat "$FAKE/log")"
    else
        fail firewalld-block "no run recorded"
    fi
    cli unblock 203.0.113.0/24 >/dev/null
    : > "$FAKE/log"
else
    fail firewalld-start "daemon did not answer: $(tail -5 "$TMP/fwd.log")"
fi
kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; DPID=

# ---------------- ipset + iptables in a network namespace ----------------
if [ "$(id -u)" != 0 ]; then skip ipset "needs root for ip netns, ipset and iptables"; finish; fi
for p in ip ipset iptables ip6tables; do
    if ! command -v $p >/dev/null; then skip ipset "$p not installed (scripts/deps.sh installs it)"; finish; fi
done
NS=mwfw$$
if ! ip netns add "$NS" 2>"$TMP/netns.err"; then skip ipset "ip netns add: $(cat "$TMP/netns.err")"; NS=; finish; fi
nsx() { ip netns exec "$NS" "$@"; }
# member SET ADDR: the member line of ADDR in SET
member() { nsx ipset list "$1" 2>/dev/null | sed -n '/^Members:/,$p' | grep -E "^$2( |$)"; }
inset() { [ -n "$(member "$1" "$2")" ]; }
notinset() { ! inset "$@"; }
: > "$LOG"
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
EOF
jails iptables-ipset-proto6
start_daemon() {
    ip netns exec "$NS" "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 5000 cli ping >/dev/null 2>&1
}
stop_daemon() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

if start_daemon; then pass ipset-start; else fail ipset-start "daemon did not answer: $(tail -5 "$TMP/daemon.log")"; finish; fi
if wait_until 5000 bash -c "ip netns exec $NS iptables -S INPUT | grep -q -- '--match-set mw-postfix-4 src -j DROP'"; then
    check_grep ipset-rules4 '^-A INPUT -p tcp -m multiport --dports 25,465,587 -m set --match-set mw-postfix-4 src -j DROP$' <(nsx iptables -S INPUT)
    check_grep ipset-rules6 '^-A INPUT -p tcp -m multiport --dports 25,465,587 -m set --match-set mw-postfix-6 src -j DROP$' <(nsx ip6tables -S INPUT)
    check_grep ipset-block-rule '^-A INPUT -m set --match-set mw-block-4 src -j DROP$' <(nsx iptables -S INPUT)
else
    fail ipset-rules "no match-set rule: $(nsx iptables -S INPUT | head -5)"
fi

# a ban from the log, with its timeout
for i in 1 2 3; do sasl 192.0.2.10 $i; done
if wait_until 5000 inset mw-postfix-4 192.0.2.10; then
    to=$(member mw-postfix-4 192.0.2.10 | sed -n 's/.* timeout \([0-9]*\).*/\1/p')
    if [ -n "$to" ] && [ "$to" -gt 3500 ] && [ "$to" -le 3600 ]; then pass ban-timeout; else fail ban-timeout "member line: $(member mw-postfix-4 192.0.2.10)"; fi
else
    fail ban-appears "192.0.2.10 not in mw-postfix-4"
fi
# v4-mapped IPv6 in the -4 set; IPv6 in the -6 set
cli ban postfix ::ffff:192.0.2.30 >/dev/null
cli ban postfix 2001:db8::30 >/dev/null
if wait_until 5000 inset mw-postfix-4 192.0.2.30 && inset mw-postfix-6 2001:db8::30; then pass v4mapped-in-4; else fail v4mapped-in-4 "$(nsx ipset list mw-postfix-4 | tail -4)"; fi
check_eq v4mapped-not-in-6 "1" "$(nsx ipset list mw-postfix-6 | sed -n 's/^Number of entries: //p')"
# unban
cli unban 192.0.2.10 >/dev/null
if wait_until 5000 notinset mw-postfix-4 192.0.2.10; then pass unban-removes; else fail unban-removes "still in mw-postfix-4"; fi
# block: permanent, no timeout
cli block 203.0.113.0/24 >/dev/null
if wait_until 5000 inset mw-block-4 203.0.113.0/24; then
    check_eq block-permanent "203.0.113.0/24" "$(member mw-block-4 203.0.113.0/24)"
else
    fail block-permanent "not in mw-block-4"
fi
# a restart re-applies after the sets were emptied behind the daemon's back
stop_daemon
nsx ipset flush mw-postfix-4
nsx ipset flush mw-block-4
start_daemon || fail restart "daemon did not answer"
if wait_until 5000 inset mw-postfix-4 192.0.2.30 && inset mw-block-4 203.0.113.0/24; then pass restart-reapplies; else fail restart-reapplies "$(nsx ipset list mw-postfix-4 | tail -3)"; fi
check_eq rules-not-duplicated "1" "$(nsx iptables -S INPUT | grep -c -- '--match-set mw-postfix-4 ')"
# unban_on_stop: jail sets flushed, blocks stay
printf '[Definition]\nunban_on_stop = true\n' > "$CONF/mailwarden.local"
stop_daemon
start_daemon
wait_until 5000 inset mw-postfix-4 192.0.2.30
stop_daemon
if notinset mw-postfix-4 192.0.2.30 && notinset mw-postfix-6 2001:db8::30 && inset mw-block-4 203.0.113.0/24; then
    pass unban-on-stop-flush
else
    fail unban-on-stop-flush "$(nsx ipset list -t 2>&1 | head; nsx ipset list mw-postfix-4 | tail -3)"
fi
finish
