#!/bin/bash
# bench/guard_privsep.sh - what privilege separation costs. One generated log, digested by
# `mailwarden guard` with privsep = no and privsep = yes, alternately ROUNDS times (load from
# other processes on the machine then hits both variants alike), with bench/guard.sh's
# three jails and command action (`sh -c 'echo $(date) ban IP >> file'`):
#   CPU seconds (utime+stime of the daemon plus, under privsep, its helper) for LINES lines;
#   latency from the write() of the deciding line to the action's timestamp (median, p99
#   over LAT_N bans), which includes the socketpair round trip to the helper.
# Needs root (privsep = yes). Not part of `make check`.
#   env: LINES=300000 LAT_N=60 ROUNDS=3 PRIVSEP_USER=nobody
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MW=${MW:-$ROOT/mailwarden}
GEN=${GEN:-$ROOT/../shared/bench/gen_attack_log.py}
[ -f "$GEN" ] || GEN=/work/shared/bench/gen_attack_log.py
M="python3 $ROOT/bench/guard_measure.py"
LINES=${LINES:-300000}
LAT_N=${LAT_N:-60}
ROUNDS=${ROUNDS:-3}
PRIVSEP_USER=${PRIVSEP_USER:-nobody}
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
W=$(mktemp -d /tmp/mw-bench-privsep.XXXXXX)
chmod 755 "$W"                  # the unprivileged parsing process reads the logs here
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$W"' EXIT
export TZ=UTC
python3 "$GEN" -n "$LINES" --seed 7 --start $(( $(date +%s) - 540 )) --span 540 -o "$W/mixed.log" >/dev/null
ACT_OUT=$W/action.out

mk() {      # mk DIR LOG PRIVSEP
    rm -rf "$1"; mkdir -p "$1"
    cat > "$1/mailwarden.conf" <<EOF
[Definition]
dbfile = $1/mw.db
socket = $1/mw.sock
logtarget = $1/daemon.log
privsep = $3
user = $PRIVSEP_USER
EOF
    cat > "$1/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
ignoreself = false
maxretry = 5
findtime = 10m
bantime = 1h
logpath = $2
action = command[actionban="/bin/sh -c 'echo \$(date +%%s.%%N) ban \$1 >> $ACT_OUT' sh <ip>"]
[postfix]
enabled = true
filter = mailwarden-postfix
[dovecot]
enabled = true
filter = mailwarden-dovecot
[sshd]
enabled = true
filter = mailwarden-sshd
EOF
}
start() {
    "$MW" guard -c "$1" --foreground 2>>"$1/stderr" &
    PID=$!
    for _ in $(seq 400); do "$MW" ping --socket "$1/mw.sock" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "daemon did not start: $(tail -3 "$1/stderr")" >&2
    exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=; }

declare -A CPU LMED LP99
for r in $(seq "$ROUNDS"); do
    for v in no yes; do
        d=$W/$v
        log=$W/cpu-$v.log; : > "$log"; : > "$ACT_OUT"
        mk "$d" "$log" "$v"
        start "$d"
        [ "$v" = yes ] && [ -z "$($M helper $PID)" ] && { echo "privsep = yes but no helper" >&2; exit 1; }
        c0=$($M cpu $PID)
        cat "$W/mixed.log" >> "$log"
        c1=$($M settle $PID 3)
        cpu=$(echo "$c1 - $c0" | bc -l | xargs printf '%.2f')
        bans=$(grep -c ' ban ' "$ACT_OUT")
        stop
        log=$W/lat-$v.log; : > "$log"; : > "$ACT_OUT"
        mk "$d" "$log" "$v"
        start "$d"
        read -r med p99 nb < <($M latency "$log" "$ACT_OUT" "$LAT_N" 5 10.$((70 + r)))
        stop
        load=$(cut -d' ' -f1 /proc/loadavg)
        printf 'round %d privsep=%-3s  CPU %5s s (%d bans)  latency median %6s ms p99 %7s ms (%d bans)  load %s\n' \
            "$r" "$v" "$cpu" "$bans" "$med" "$p99" "$nb" "$load"
        CPU[$v]="${CPU[$v]:-} $cpu"; LMED[$v]="${LMED[$v]:-} $med"; LP99[$v]="${LP99[$v]:-} $p99"
    done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
printf '%-28s %10s %10s %10s\n' "median over $ROUNDS rounds" "no" "yes" "yes-no"
for k in CPU LMED LP99; do
    declare -n A=$k
    a=$(echo "${A[no]}" | med); b=$(echo "${A[yes]}" | med)
    case $k in CPU) n="CPU s per $LINES lines";; LMED) n="latency median (ms)";; LP99) n="latency p99 (ms)";; esac
    printf '%-28s %10s %10s %10s\n' "$n" "$a" "$b" "$(echo "$b - $a" | bc -l | xargs printf '%+.2f')"
done

# the request itself, precisely: round trips of single-ban apply() calls (null backend)
PKGS="zlib liblzma libzstd libpcre2-8 sqlite3 jansson libsystemd libmariadb libnftables"
LIB=${LIB:-$ROOT/build/libmw.a}
mkdir -p "$W/rtt"
printf '[postfix]\nenabled = true\nfilter = mailwarden-postfix\nlogpath = %s/mixed.log\n' "$W" > "$W/rtt/jail.conf"
: > "$W/rtt/mailwarden.conf"
if cc -O2 -std=c11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $PKGS) -o "$W/privsep_rtt" bench/privsep_rtt.c "$LIB" \
      $(pkg-config --libs $PKGS) -lbz2 -lpthread -lm; then
    echo
    "$W/privsep_rtt" "$W/rtt" "${RTT_N:-20000}"
fi
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
