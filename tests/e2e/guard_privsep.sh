#!/bin/bash
# guard_privsep: least privilege. The daemon started as root with privsep = yes in a network
# namespace this test creates: the parsing process runs as an unprivileged user (uid/gid not
# 0, no capabilities at all, bounding set empty, no_new_privs, supplementary group adm so it
# reads a root:adm 0640 log), the firewall helper keeps uid 0 with only CAP_NET_ADMIN and
# CAP_NET_RAW; failure lines still become bans in `nft list set`, unban and block work,
# SIGHUP reload keeps the split, the helper ends with the daemon. privsep = yes with a log
# the user cannot read refuses to start; privsep = auto then runs without the split.
SUITE=guard_privsep
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then skip all "needs root for ip netns, nftables and setuid"; finish; fi
if ! command -v ip >/dev/null || ! command -v nft >/dev/null; then skip all "ip or nft not installed"; finish; fi
if ! getent passwd nobody >/dev/null; then skip all "no user nobody"; finish; fi
NS=mwps$$
if ! ip netns add "$NS" 2>"$TMP/netns.err"; then skip all "ip netns add: $(cat "$TMP/netns.err")"; finish; fi
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    [ -n "${NPID:-}" ] && kill "$NPID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    [ -n "${KEEP_LOG:-}" ] && cat "$TMP"/daemon*.log > "$KEEP_LOG"    # debugging aid
    rm -rf "$TMP"
}
trap cleanup EXIT

nsx() { ip netns exec "$NS" "$@"; }
inset() { nsx nft list set inet mailwarden "$1" 2>/dev/null | grep -qE "(^|[ {,])$2([ ,}]|$)"; }
notinset() { ! inset "$@"; }
stamp() { date '+%b %e %H:%M:%S'; }
sasl() { echo "$(stamp) mail postfix/smtpd[2900$2]: warning: unknown[$1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" >> "$LOG"; }
status_field() { awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status"; }
helper_of() { cat /proc/"$1"/task/*/children 2>/dev/null | awk '{ print $1; exit }'; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# the unprivileged user must reach the log: the directory is searchable, the log root:adm 0640
chmod 755 "$TMP"
CONF=$TMP/conf
mkdir -p "$CONF"
LOG=$TMP/mail.log
: > "$LOG"
ADM=no
if getent group adm >/dev/null; then chgrp adm "$LOG"; chmod 640 "$LOG"; ADM=yes; else chmod 644 "$LOG"; fi
mkconf() {   # mkconf PRIVSEP LOGPATH
    cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
privsep = $1
user = nobody
EOF
    cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
ignoreself = false
maxretry = 3
findtime = 10m
bantime = 1h
banaction = nftables

[postfix]
enabled = true
filter = mailwarden-postfix
logpath = $2
port = smtp,465,submission
EOF
}
mkconf yes "$LOG"

# sd_notify: a datagram socket standing in for systemd's; every message goes to a file
NPID=
cat > "$TMP/notify.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)      # the unprivileged process sends READY=1 after its drop
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
        f.flush()
PY
python3 "$TMP/notify.py" "$TMP/notify.sock" "$TMP/notify.log" 2>"$TMP/notify.err" &
NPID=$!
wait_until 15000 test -S "$TMP/notify.sock" || fail notify-socket "receiver did not start: $(cat "$TMP/notify.err")"
start_daemon() {
    NOTIFY_SOCKET=$TMP/notify.sock ip netns exec "$NS" "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 15000 cli ping >/dev/null 2>&1
}

start_daemon || { fail start "daemon did not answer: $(tail -5 "$TMP/daemon.log")"; finish; }
pass start
HPID=$(helper_of "$DPID")
if [ -n "$HPID" ] && [ "$(tr -d '\0' < /proc/"$HPID"/comm)" = mailwarden-fw ]; then pass helper-found
else fail helper-found "no mailwarden-fw child of $DPID (got '${HPID}')"; fi

# --- the parsing process: no root, no capabilities ---
NOBODY_UID=$(id -u nobody)
check_eq parser-uid "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' /proc/$DPID/status)"
GIDS=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' /proc/$DPID/status)
if [ -n "$GIDS" ] && ! echo " $GIDS " | grep -q " 0 "; then pass parser-gid; else fail parser-gid "Gid: $GIDS"; fi
check_eq parser-capeff 0000000000000000 "$(status_field "$DPID" CapEff)"
check_eq parser-capprm 0000000000000000 "$(status_field "$DPID" CapPrm)"
check_eq parser-capbnd 0000000000000000 "$(status_field "$DPID" CapBnd)"
check_eq parser-capamb 0000000000000000 "$(status_field "$DPID" CapAmb)"
check_eq parser-nonewprivs 1 "$(status_field "$DPID" NoNewPrivs)"
if [ "$ADM" = yes ]; then
    ADMGID=$(getent group adm | cut -d: -f3)
    if awk '$1 == "Groups:"' /proc/$DPID/status | grep -qw "$ADMGID"; then pass parser-group-adm
    else fail parser-group-adm "$(grep Groups: /proc/$DPID/status)"; fi
fi
# --- the helper: uid 0, only CAP_NET_ADMIN (12) and CAP_NET_RAW (13) ---
if [ -n "$HPID" ]; then
    check_eq helper-uid "0" "$(status_field "$HPID" Uid)"
    check_eq helper-capeff 0000000000003000 "$(status_field "$HPID" CapEff)"
    check_eq helper-capprm 0000000000003000 "$(status_field "$HPID" CapPrm)"
    check_eq helper-capbnd 0000000000003000 "$(status_field "$HPID" CapBnd)"
fi
check_grep log-says-privsep 'privsep: parsing as uid' "$TMP/daemon.log"
if wait_until 15000 grep -q '^READY=1 STATUS=1 jail(s), 0 ban(s), 0 block(s), privilege separation' "$TMP/notify.log"
then pass notify-ready; else fail notify-ready "$(cat "$TMP/notify.log")"; fi

# --- failures become bans in nftables, through the helper ---
for i in 1 2 3; do sasl 192.0.2.10 $i; done
if wait_until 15000 inset j_postfix_4 192.0.2.10; then pass ban-appears; else fail ban-appears "192.0.2.10 not in j_postfix_4: $(tail -3 "$TMP/daemon.log")"; fi
cli status postfix > "$TMP/st.out"
check_grep status-banned $'Banned IP list:\t192\\.0\\.2\\.10$' "$TMP/st.out"
for i in 1 2 3; do sasl 2001:db8::66 $i; done
if wait_until 15000 inset j_postfix_6 2001:db8::66; then pass ban-appears-v6; else fail ban-appears-v6 "not in j_postfix_6"; fi
cli unban 192.0.2.10 > /dev/null
if wait_until 15000 notinset j_postfix_4 192.0.2.10; then pass unban-removes; else fail unban-removes "still in the set"; fi
cli block 198.51.100.0/24 > /dev/null
if wait_until 15000 inset block4 198.51.100.0/24; then pass block; else fail block "not in block4"; fi
cli unblock 198.51.100.0/24 > /dev/null
if wait_until 15000 notinset block4 198.51.100.0/24; then pass unblock; else fail unblock "still in block4"; fi

# --- rotation (rename + create): the unprivileged process opens the new file ---
mv "$LOG" "$LOG.1"
: > "$LOG"
if [ "$ADM" = yes ]; then chgrp adm "$LOG"; chmod 640 "$LOG"; fi
for i in 1 2 3; do sasl 192.0.2.12 $i; done
if wait_until 15000 inset j_postfix_4 192.0.2.12; then pass ban-after-rotation; else fail ban-after-rotation "not in j_postfix_4"; fi

# --- reload (SIGHUP): the helper re-reads the configuration, the split stays ---
sed -i 's/^maxretry = 3/maxretry = 2/' "$CONF/jail.conf"
kill -HUP "$DPID"
if wait_until 15000 grep -q 'reloaded:' "$TMP/daemon.log"; then pass reload; else fail reload "no reload message"; fi
if wait_until 15000 grep -q '^RELOADING=1 STATUS=reloading MONOTONIC_USEC=[0-9]' "$TMP/notify.log"; then pass notify-reloading
else fail notify-reloading "$(cat "$TMP/notify.log")"; fi
if wait_until 15000 bash -c "grep -A1 '^RELOADING=1' '$TMP/notify.log' | grep -q '^READY=1'"; then pass notify-ready-after-reload
else fail notify-ready-after-reload "$(cat "$TMP/notify.log")"; fi
check_eq reload-same-helper "$HPID" "$(helper_of "$DPID")"
check_eq reload-still-unprivileged 0000000000000000 "$(status_field "$DPID" CapEff)"
for i in 1 2; do sasl 192.0.2.11 $i; done
if wait_until 15000 inset j_postfix_4 192.0.2.11; then pass ban-after-reload; else fail ban-after-reload "not in j_postfix_4"; fi

# --- the DB is still written by the unprivileged process ---
cli banned > "$TMP/banned.out"
check_grep banned-list '192\.0\.2\.11' "$TMP/banned.out"

# --- stop: the helper ends with the daemon, the socket is removed ---
kill "$DPID"; wait "$DPID" 2>/dev/null; RC=$?; DPID=
check_eq stop-exit 0 "$RC"
if wait_until 15000 grep -q '^STOPPING=1' "$TMP/notify.log"; then pass notify-stopping; else fail notify-stopping "$(cat "$TMP/notify.log")"; fi
if [ -n "$HPID" ] && wait_until 15000 gone "$HPID"; then pass helper-ends; else fail helper-ends "helper $HPID still runs"; fi
if [ ! -e "$TMP/mw.sock" ]; then pass socket-removed; else fail socket-removed "$TMP/mw.sock is left"; fi
# the bans stay in the kernel (unban_on_stop = false) and a restart re-applies them
if inset j_postfix_4 192.0.2.11; then pass bans-stay; else fail bans-stay "ban gone at stop"; fi
nsx nft flush ruleset
start_daemon || fail restart "daemon did not answer"
if wait_until 15000 inset j_postfix_4 192.0.2.11; then pass restart-reapplies; else fail restart-reapplies "not re-applied"; fi
kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=

# --- the helper dies: the daemon does not run on without a firewall, it stops (exit 1) ---
start_daemon || fail helper-death-start "daemon did not answer"
HPID=$(helper_of "$DPID")
if [ -n "$HPID" ]; then
    kill -9 "$HPID"
    if wait_until 15000 gone "$DPID"; then
        wait "$DPID" 2>/dev/null; RC=$?; DPID=
        check_eq helper-death-exit 1 "$RC"
        check_grep helper-death-logged 'firewall helper is gone' "$TMP/daemon.log"
    else
        fail helper-death-stops "daemon still runs without its helper"
    fi
else
    fail helper-death-start "no helper"
fi

# --- a log the user cannot read: yes refuses, auto runs without the split ---
mkdir -m 700 "$TMP/private"
: > "$TMP/private/mail.log"
mkconf yes "$TMP/private/mail.log"
mv "$TMP/daemon.log" "$TMP/daemon-1.log"
if ip netns exec "$NS" "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log"; then fail yes-unreadable-refuses "started"
else check_grep yes-unreadable-refuses 'not readable by user nobody' "$TMP/daemon.log"; fi
mkconf auto "$TMP/private/mail.log"
mv "$TMP/daemon.log" "$TMP/daemon-2.log"
start_daemon || fail auto-start "daemon did not answer: $(tail -3 "$TMP/daemon.log")"
check_grep auto-falls-back 'running without privilege separation' "$TMP/daemon.log"
check_eq auto-no-helper "" "$(helper_of "$DPID")"
check_eq auto-root "0" "$(status_field "$DPID" Uid)"
kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
# privsep = no as root: one process, as before
mkconf no "$LOG"
start_daemon || fail no-start "daemon did not answer"
check_eq no-no-helper "" "$(helper_of "$DPID")"
kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
finish
