#!/bin/bash
# guard_nft: the daemon with the real kernel firewall, in network namespaces this test
# creates (and removes on exit). Addresses are only documentation ranges written into a log
# and 10.99.x.0/24 on a veth pair between the two namespaces.
#   ban appears in the nftables set, status shows it, unban removes it, a short ban expires,
#   a restart re-applies an unexpired ban, ignoreip / 127.0.0.1 / ::1 are never banned,
#   traffic from a banned peer namespace is dropped, every logrotate mode loses no failure,
#   a restart resumes at the saved position.
SUITE=guard_nft
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then skip all "needs root for ip netns and nftables"; finish; fi
if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then skip all "ip or nft not installed"; finish; fi
NS=mwtest$$
NS2=mwpeer$$
if ! ip netns add "$NS" 2>"$TMP/netns.err"; then skip all "ip netns add: $(cat "$TMP/netns.err")"; finish; fi
DPID=
LPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    ip netns del "$NS2" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

nsx() { ip netns exec "$NS" "$@"; }
inset() { nsx nft list set inet mailwarden "$1" 2>/dev/null | grep -qE "(^|[ {,])$2([ ,}]|$)"; }
notinset() { ! inset "$@"; }
stamp() { date '+%b %e %H:%M:%S'; }
sasl() { echo "$(stamp) mail postfix/smtpd[2900$2]: warning: unknown[$1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" >> "$LOG"; }
sshfail() { echo "$(stamp) mail sshd[77$3]: Failed password for root from $1 port 4$3 ssh2" >> "$2"; }
mw() { "$MW" "$@" --socket "$TMP/mw.sock"; }

CONF=$TMP/conf
mkdir -p "$CONF"
LOG=$TMP/mail.log
ROT=$TMP/rot.log
: > "$LOG"
: > "$ROT"
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
rotate_grace = 3
EOF
cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1 192.0.2.250
ignoreself = true
maxretry = 3
findtime = 10m
bantime = 1h
banaction = nftables

[postfix]
enabled = true
filter = mailwarden-postfix
logpath = $LOG
port = smtp,465,submission

[short]
enabled = true
filter = mailwarden-sshd
logpath = $LOG
bantime = 2s
port = all

[rot]
enabled = true
filter = mailwarden-sshd
logpath = $ROT
maxretry = 200
EOF

start_daemon() {
    # started directly (not through a shell function) so that $! is the daemon itself
    ip netns exec "$NS" "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 5000 cli ping >/dev/null 2>&1
}
stop_daemon() {
    kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
}

if "$MW" guard -c "$CONF" --test-config > "$TMP/tc.out" 2>&1; then pass test-config; else fail test-config "$(cat "$TMP/tc.out")"; fi
start_daemon || { fail start "daemon did not answer: $(tail -5 "$TMP/daemon.log")"; finish; }
pass start

# --- ban appears ---
for i in 1 2 3; do sasl 192.0.2.10 $i; done
if wait_until 5000 inset j_postfix_4 192.0.2.10; then pass ban-appears; else fail ban-appears "192.0.2.10 not in j_postfix_4"; fi
cli status postfix > "$TMP/st.out"
check_grep status-layout $'^   `- Banned IP list:\t192\\.0\\.2\\.10$' "$TMP/st.out"
check_grep status-failed $'^\\|  \\|- Total failed:\t3$' "$TMP/st.out"
cli status > "$TMP/st0.out"
check_eq status-summary "$(printf 'Status\n|- Number of jail:\t3\n`- Jail list:\tpostfix, rot, short')" "$(cat "$TMP/st0.out")"

# --- unban removes ---
cli unban 192.0.2.10 > /dev/null
if wait_until 5000 notinset j_postfix_4 192.0.2.10; then pass unban-removes; else fail unban-removes "still in the set"; fi

# --- a short ban expires (kernel timeout and daemon timer) ---
for i in 1 2 3; do sshfail 192.0.2.20 "$LOG" $i; done
if wait_until 5000 inset j_short_4 192.0.2.20; then pass short-ban-appears; else fail short-ban-appears "not in j_short_4"; fi
if wait_until 8000 notinset j_short_4 192.0.2.20; then pass ban-expires; else fail ban-expires "still in the set"; fi
if wait_until 3000 bash -c "! '$MW' banned --socket '$TMP/mw.sock' | grep -q 192.0.2.20"; then pass ban-expires-status; else fail ban-expires-status "still listed"; fi

# --- ignoreip, 127.0.0.1, ::1, v4-mapped loopback never banned ---
for ip in 127.0.0.1 ::1 ::ffff:127.0.0.1 192.0.2.250; do for i in 1 2 3 4; do sasl "$ip" $i; done; done
for i in 1 2 3; do sasl 2001:db8::66 $i; done     # a sentinel: once it is banned, all above was read
if wait_until 5000 inset j_postfix_6 2001:db8::66; then pass ignore-sentinel; else fail ignore-sentinel "2001:db8::66 not banned"; fi
if notinset j_postfix_4 127.0.0.1 && notinset j_postfix_6 ::1 && notinset j_postfix_4 192.0.2.250; then pass ignoreip-never-banned
else fail ignoreip-never-banned "$(nsx nft list table inet mailwarden)"; fi

# --- manual ban, block ---
cli ban postfix 198.51.100.0/24 > /dev/null
if wait_until 3000 inset j_postfix_4 198.51.100.0/24; then pass manual-cidr-ban; else fail manual-cidr-ban "not in set"; fi
cli block 203.0.113.0/24 > /dev/null
if wait_until 3000 inset block4 203.0.113.0/24; then pass block; else fail block "not in block4"; fi

# --- the firewall is reloaded under us (table gone): the next change resyncs every ban ---
nsx nft delete table inet mailwarden
for i in 1 2 3; do sasl 192.0.2.40 $i; done
if wait_until 8000 inset j_postfix_4 192.0.2.40 && inset j_postfix_4 198.51.100.0/24 && inset block4 203.0.113.0/24; then
    pass resync-after-table-loss
else
    fail resync-after-table-loss "$(nsx nft list table inet mailwarden 2>&1 | head -20)"
fi

# --- restart re-applies unexpired bans (firewall emptied as after a reboot) ---
for i in 1 2 3; do sasl 192.0.2.30 $i; done
wait_until 5000 inset j_postfix_4 192.0.2.30
stop_daemon
if inset j_postfix_4 192.0.2.30; then pass bans-stay-on-stop; else fail bans-stay-on-stop "removed at stop"; fi
nsx nft delete table inet mailwarden
start_daemon || fail restart "daemon did not answer"
if wait_until 5000 inset j_postfix_4 192.0.2.30 && inset block4 203.0.113.0/24 && inset j_postfix_4 198.51.100.0/24; then
    pass restart-reapplies
else
    fail restart-reapplies "$(nsx nft list table inet mailwarden 2>&1 | head -20)"
fi

# --- traffic from a banned peer is dropped ---
ip netns add "$NS2"
ip link add mwv0$$ type veth peer name mwv1$$
ip link set mwv0$$ netns "$NS"
ip link set mwv1$$ netns "$NS2"
nsx ip addr add 10.99.0.1/24 dev mwv0$$
nsx ip link set mwv0$$ up
nsx ip link set lo up
ip netns exec "$NS2" ip addr add 10.99.0.2/24 dev mwv1$$
ip netns exec "$NS2" ip link set mwv1$$ up
ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.1", 25)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"220 test\r\n"); c.close()
' & LPID=$!
probe() {
    ip netns exec "$NS2" python3 -c '
import socket, sys
try:
    s = socket.create_connection(("10.99.0.1", 25), timeout=1); s.recv(16); sys.exit(0)
except Exception:
    sys.exit(1)'
}
if wait_until 5000 probe; then pass peer-connects-before-ban; else fail peer-connects-before-ban "no connection"; fi
for i in 1 2 3; do sasl 10.99.0.2 $i; done
if wait_until 5000 inset j_postfix_4 10.99.0.2; then pass peer-banned; else fail peer-banned "not in set"; fi
if ! probe; then pass peer-traffic-dropped; else fail peer-traffic-dropped "connection still accepted"; fi
cli unban 10.99.0.2 >/dev/null
if wait_until 5000 probe; then pass peer-connects-after-unban; else fail peer-connects-after-unban "still dropped"; fi

# --- logrotate modes: no failure lost (rot jail counts without banning) ---
total() { cli status rot | sed -n 's/^|  |- Total failed:\t//p'; }
expect_total() { [ "$(total)" = "$1" ]; }
n=0
emit() { local k; for k in $(seq "$2"); do n=$((n + 1)); sshfail "192.0.2.$(( n % 200 + 1 ))" "$1" $((n % 10)); done; }
emit "$ROT" 5
if wait_until 5000 expect_total 5; then pass rot-baseline; else fail rot-baseline "total $(total)"; fi
# rename + create, the writer keeps writing to the renamed file for a while
exec 3>>"$ROT"
mv "$ROT" "$ROT.1"
echo "$(stamp) mail sshd[7701]: Failed password for root from 192.0.2.201 port 41 ssh2" >&3; n=$((n + 1))
: > "$ROT"
emit "$ROT" 4
echo "$(stamp) mail sshd[7702]: Failed password for root from 192.0.2.202 port 42 ssh2" >&3; n=$((n + 1))
exec 3>&-
if wait_until 6000 expect_total $n; then pass rotate-rename-create; else fail rotate-rename-create "total $(total), expected $n"; fi
# copytruncate
emit "$ROT" 3
wait_until 5000 expect_total $n
cp "$ROT" "$ROT.1"
: > "$ROT"
emit "$ROT" 6
if wait_until 5000 expect_total $n; then pass rotate-copytruncate; else fail rotate-copytruncate "total $(total), expected $n"; fi
# delete + recreate
emit "$ROT" 2
wait_until 5000 expect_total $n
rm -f "$ROT"
emit "$ROT" 7
if wait_until 5000 expect_total $n; then pass rotate-delete-recreate; else fail rotate-delete-recreate "total $(total), expected $n"; fi
# restart: lines written while stopped are read, none twice
stop_daemon
emit "$ROT" 8
start_daemon
if wait_until 5000 expect_total 8; then pass restart-resumes-position; else fail restart-resumes-position "total $(total), expected 8"; fi

# --- reload: a broken configuration is refused and the running one stays; a good one applies ---
printf '[postfix]\nmaxretry = none\n' > "$CONF/jail.local"
cli reload > "$TMP/rl.out" 2>&1
check_eq reload-broken-exit 2 $?
check_grep reload-broken-why 'maxretry = none' "$TMP/rl.out"
kill -HUP "$DPID"
if cli ping >/dev/null 2>&1 && cli status | grep -q 'Number of jail:.3'; then pass reload-broken-keeps-running; else fail reload-broken-keeps-running "daemon gone or jails changed"; fi
printf '[extra]\nenabled = true\nfilter = mailwarden-postfix\nlogpath = %s\n' "$LOG" > "$CONF/jail.local"
cli reload > "$TMP/rl2.out" 2>&1
check_eq reload-ok "OK" "$(cat "$TMP/rl2.out")"
if cli status | grep -q 'Number of jail:.4' && inset j_postfix_4 192.0.2.30; then pass reload-keeps-bans; else fail reload-keeps-bans "$(cli status)"; fi
rm -f "$CONF/jail.local"
cli reload >/dev/null

# --- unban_on_stop removes everything in one go ---
printf '[Definition]\nunban_on_stop = true\n' > "$CONF/mailwarden.local"
stop_daemon
start_daemon
wait_until 5000 inset j_postfix_4 192.0.2.30
stop_daemon
if notinset j_postfix_4 192.0.2.30 && inset block4 203.0.113.0/24; then pass unban-on-stop; else fail unban-on-stop "$(nsx nft list table inet mailwarden | head)"; fi

finish
