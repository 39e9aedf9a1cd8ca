#!/bin/bash
# guard_cmd: the daemon with the command action (argv, posix_spawn; no root needed) and
# failure counts that survive a stop, a crash and a reload.
#   a ban runs the command; a slow command does not hold up the next ban (commands run
#   asynchronously); a failing command is retried; 3 failures + restart + 2 failures bans
#   with maxretry 5 (clean stop, SIGKILL after the periodic save, reload).
SUITE=guard_cmd
. "$(dirname "$0")/../lib.sh"

DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

stamp() { date '+%b %e %H:%M:%S'; }
fails() { local k; for k in $(seq "$2"); do echo "$(stamp) mail sshd[77$k]: Failed password for root from $1 port 4$k ssh2" >> "$LOG"; done; }
banned_out() { grep -q "^ban $1\$" "$OUT" 2>/dev/null; }
not_banned_out() { ! banned_out "$1"; }
total_failed() { cli status sshd | sed -n 's/^|  |- Total failed:\t//p'; }
total_is() { [ "$(total_failed)" = "$1" ]; }
current_failed() { cli status sshd | sed -n 's/^|  |- Currently failed:\t//p'; }

CONF=$TMP/conf
mkdir -p "$CONF"
LOG=$TMP/auth.log
OUT=$TMP/action.out
: > "$LOG"
cat > "$CONF/mailwarden.conf" <<EOF
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
EOF
# 192.0.2.12: the command takes 4 s; 192.0.2.14: the first run fails
cat > "$CONF/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
ignoreself = false
maxretry = 5
findtime = 10m
bantime = 1h

[sshd]
enabled = true
filter = mailwarden-sshd
logpath = $LOG
action = command[actionban="/bin/sh -c 'case \$1 in 192.0.2.12) sleep 4;; 192.0.2.14) [ -e $TMP/m14 ] || { touch $TMP/m14; exit 1; };; esac; echo ban \$1 >> $OUT' sh <ip>"]
EOF

start_daemon() {
    "$MW" guard -c "$CONF" --foreground 2>>"$TMP/daemon.log" &
    DPID=$!
    wait_until 5000 cli ping >/dev/null 2>&1
}
stop_daemon() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }
kill9_daemon() { kill -9 "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

start_daemon || { fail start "daemon did not answer: $(tail -5 "$TMP/daemon.log")"; finish; }
pass start

# --- a ban runs the command ---
fails 192.0.2.11 5
if wait_until 5000 banned_out 192.0.2.11; then pass ban-runs-command; else fail ban-runs-command "$(cat "$OUT" 2>&1)"; fi

# --- a slow command does not hold up the next ban ---
fails 192.0.2.12 5
fails 192.0.2.13 5
if wait_until 3000 banned_out 192.0.2.13; then
    if not_banned_out 192.0.2.12; then pass slow-command-async; else fail slow-command-async "the slow command finished first?"; fi
else
    fail slow-command-async "192.0.2.13 waited for the slow command: $(cat "$OUT")"
fi
if wait_until 10000 banned_out 192.0.2.12; then pass slow-command-completes; else fail slow-command-completes "$(cat "$OUT")"; fi

# --- a failing command is retried with back-off ---
fails 192.0.2.14 5
if wait_until 8000 banned_out 192.0.2.14; then pass failed-command-retried; else fail failed-command-retried "$(tail -3 "$TMP/daemon.log")"; fi
check_grep failed-command-logged 'action command: /bin/sh exited with status 1' "$TMP/daemon.log"

# --- failure counts survive a clean restart: 3 + restart + 2 = 5 = maxretry ---
fails 192.0.2.20 3
if wait_until 5000 total_is 23; then pass counted-before-stop; else fail counted-before-stop "total failed $(total_failed)"; fi
stop_daemon
if command -v sqlite3 >/dev/null; then
    check_eq failures-saved-at-stop 3 "$(sqlite3 "$TMP/mw.db" "SELECT length(times) - length(replace(times, ' ', '')) + 1 FROM guard_failures WHERE jail = 'sshd' AND ip = '192.0.2.20'")"
fi
start_daemon || fail restart "daemon did not answer"
check_eq failures-restored 1 "$(current_failed)"
fails 192.0.2.20 2
if wait_until 5000 banned_out 192.0.2.20; then pass restart-keeps-counts; else fail restart-keeps-counts "not banned after 3 + restart + 2"; fi
# a control: 2 failures of a fresh address do not ban
fails 192.0.2.21 2
fails 192.0.2.24 1                      # a sentinel line read after them
if wait_until 5000 total_is 5 && not_banned_out 192.0.2.21; then pass fresh-not-banned; else fail fresh-not-banned "total $(total_failed)"; fi

# --- the periodic save: SIGKILL after it, counts still there ---
fails 192.0.2.22 3
saved() { [ "$(sqlite3 "$TMP/mw.db" "SELECT count(*) FROM guard_failures WHERE ip = '192.0.2.22'" 2>/dev/null)" = 1 ]; }
if ! command -v sqlite3 >/dev/null; then
    skip crash-keeps-counts "sqlite3 CLI not installed"
elif wait_until 12000 saved; then
    kill9_daemon
    start_daemon || fail restart-after-kill "daemon did not answer"
    fails 192.0.2.22 2
    if wait_until 5000 banned_out 192.0.2.22; then pass crash-keeps-counts; else fail crash-keeps-counts "not banned"; fi
else
    fail crash-keeps-counts "no row for 192.0.2.22 after the save interval"
fi

# --- reload keeps counts ---
fails 192.0.2.23 3
wait_until 5000 bash -c "'$MW' status --socket '$TMP/mw.sock' sshd | grep -q 'Currently failed:.[1-9]'"
cnt_before=$(current_failed)
cli reload > /dev/null
check_eq reload-keeps-current "$cnt_before" "$(current_failed)"
fails 192.0.2.23 2
if wait_until 5000 banned_out 192.0.2.23; then pass reload-keeps-counts; else fail reload-keeps-counts "not banned"; fi

# --- a banned address leaves no saved count behind ---
stop_daemon
if command -v sqlite3 >/dev/null; then
    check_eq ban-drops-saved-count 0 "$(sqlite3 "$TMP/mw.db" "SELECT count(*) FROM guard_failures WHERE ip IN ('192.0.2.20', '192.0.2.22', '192.0.2.23')")"
fi
finish
