#!/bin/bash
# bench/guard.sh - `mailwarden guard` and fail2ban-server (Debian package) side by side, with
# the same three jails (postfix, dovecot, sshd) on one file and the same action (a shell that
# appends a timestamp to a file), measured the same way for both:
#   idle VmRSS / RssAnon; RssAnon growth per tracked (jail, IP) entry while N_DISTINCT IPs
#   fail; CPU seconds (utime+stime of the daemon) to digest LINES appended lines; latency from
#   the write() of the deciding line to the action's timestamp (median, p99 over LAT_N bans);
#   time to stop with STOP_BANS bans and unban_on_stop (fail2ban always unbans at stop; both
#   actions have an actionflush).
# Not part of `make check`. Logs come from ../shared/bench/gen_attack_log.py.
#   usage: bench/guard.sh [--only mailwarden|fail2ban]
#   env: LINES=1000000 F2B_LINES=$LINES N_DISTINCT=100000 LAT_N=60 STOP_BANS=3000
#        PRIVSEP=yes|no (mailwarden's privilege separation; unset: the config default, auto;
#        yes needs root: the parsing process runs as PRIVSEP_USER=nobody, the command action
#        in the privileged helper; CPU figures include the helper's CPU time)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MW=${MW:-$ROOT/mailwarden}
GEN=${GEN:-$ROOT/../shared/bench/gen_attack_log.py}
[ -f "$GEN" ] || GEN=/work/shared/bench/gen_attack_log.py
M="python3 $ROOT/bench/guard_measure.py"
LINES=${LINES:-1000000}
F2B_LINES=${F2B_LINES:-$LINES}
N_DISTINCT=${N_DISTINCT:-100000}
LAT_N=${LAT_N:-60}
STOP_BANS=${STOP_BANS:-3000}
ONLY=
[ "${1:-}" = "--only" ] && ONLY=$2
W=$(mktemp -d /tmp/mw-bench-guard.XXXXXX)
PRIVSEP=${PRIVSEP:-}
PRIVSEP_USER=${PRIVSEP_USER:-nobody}
# under privsep the unprivileged parsing process must reach the logs
[ "$PRIVSEP" = yes ] && chmod 755 "$W"
echo "privsep: ${PRIVSEP:-default}; load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPU(s)"
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$W"' EXIT
export TZ=UTC

echo "generating logs in $W ..."
# every line inside the last findtime (10 min) so that both tools count it; the distinct
# IPs all at "now"
python3 "$GEN" -n "$LINES" --start $(( $(date +%s) - 540 )) --span 540 -o "$W/mixed.log" >/dev/null
python3 "$GEN" --mode distinct -n "$N_DISTINCT" --start now --span 0 -o "$W/distinct.log" >/dev/null

# ---------------------------------------------------------------- configurations
ACT_OUT=$W/action.out
mk_mw() {   # mk_mw DIR LOG MAXENTRIES
    mkdir -p "$1"
    cat > "$1/mailwarden.conf" <<EOF
[Definition]
dbfile = $1/mw.db
socket = $1/mw.sock
logtarget = $1/daemon.log
maxentries = $3
unban_on_stop = true
EOF
    if [ -n "$PRIVSEP" ]; then
        printf 'privsep = %s\nuser = %s\n' "$PRIVSEP" "$PRIVSEP_USER" >> "$1/mailwarden.conf"
    fi
    cat > "$1/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
ignoreself = false
maxretry = 5
findtime = 10m
bantime = 1h
logpath = $2
action = command[actionban="/bin/sh -c 'echo \$(date +%%s.%%N) ban \$1 >> $ACT_OUT' sh <ip>", actionflush="/bin/sh -c 'echo \$(date +%%s.%%N) flush >> $ACT_OUT'"]
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
mk_f2b() {  # mk_f2b DIR LOG
    mkdir -p "$1/action.d" "$1/jail.d"
    cp -r /etc/fail2ban/filter.d "$1/"
    cp /etc/fail2ban/paths-common.conf /etc/fail2ban/paths-debian.conf "$1/" 2>/dev/null
    cat > "$1/fail2ban.conf" <<EOF
[Definition]
loglevel = NOTICE
logtarget = $1/f2b.log
socket = $1/f2b.sock
pidfile = $1/f2b.pid
dbfile = $1/f2b.sqlite3
dbpurgeage = 1d
EOF
    cat > "$1/action.d/bench.conf" <<EOF
[Definition]
actionstart =
actionstop =
actioncheck =
actionban = echo "\$(date +%%s.%%N) ban <ip>" >> $ACT_OUT
actionunban = true
actionflush = echo "\$(date +%%s.%%N) flush" >> $ACT_OUT
EOF
    cat > "$1/jail.conf" <<EOF
[DEFAULT]
ignoreip = 127.0.0.1/8 ::1
maxretry = 5
findtime = 10m
bantime = 1h
backend = pyinotify
usedns = no
logpath = $2
banaction = bench
action = bench
[postfix]
enabled = true
filter = postfix
[dovecot]
enabled = true
filter = dovecot
[sshd]
enabled = true
filter = sshd
EOF
}

start() {   # start TOOL DIR ; sets PID
    if [ "$1" = mailwarden ]; then
        "$MW" guard -c "$2" --foreground 2>>"$2/stderr" &
        PID=$!
        for _ in $(seq 200); do "$MW" ping --socket "$2/mw.sock" >/dev/null 2>&1 && return 0; sleep 0.05; done
    else
        fail2ban-client -c "$2" -x start >/dev/null 2>&1
        for _ in $(seq 600); do
            fail2ban-client -c "$2" ping >/dev/null 2>&1 && { PID=$(cat "$2/f2b.pid"); return 0; }
            sleep 0.1
        done
    fi
    echo "$1 did not start" >&2
    return 1
}
stop() {    # stop TOOL DIR ; prints seconds
    local t0 t1
    t0=$(date +%s.%N)
    kill -TERM "$PID"
    while kill -0 "$PID" 2>/dev/null; do sleep 0.01; done
    t1=$(date +%s.%N)
    wait "$PID" 2>/dev/null
    PID=
    echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}
tracked() { # tracked TOOL DIR: sum of "Currently failed"
    if [ "$1" = mailwarden ]; then
        "$MW" status --socket "$2/mw.sock" --all | sed -n 's/^|  |- Currently failed:\t//p' | paste -sd+ | bc
    else
        for j in postfix dovecot sshd; do fail2ban-client -c "$2" status $j; done | sed -n 's/^|  |- Currently failed:\t//p' | paste -sd+ | bc
    fi
}
banned() {
    if [ "$1" = mailwarden ]; then
        "$MW" status --socket "$2/mw.sock" --all | sed -n 's/^   |- Currently banned:\t//p' | paste -sd+ | bc
    else
        for j in postfix dovecot sshd; do fail2ban-client -c "$2" status $j; done | sed -n 's/^   |- Currently banned:\t//p' | paste -sd+ | bc
    fi
}

declare -A R
run_tool() {
    local tool=$1 d=$W/$1 log
    rm -rf "$d"; mkdir -p "$d"
    echo "== $tool"
    # 1. idle memory
    log=$d/idle.log; : > "$log"
    if [ $tool = mailwarden ]; then mk_mw "$d/c1" "$log" 200000; else mk_f2b "$d/c1" "$log"; fi
    start $tool "$d/c1" || return
    sleep 2
    read -r rss anon < <($M mem $PID)
    R[$tool.idle_rss]=$rss; R[$tool.idle_anon]=$anon
    echo "  idle: VmRSS $rss kB, RssAnon $anon kB"
    local hp; hp=$($M helper $PID)
    if [ -n "$hp" ]; then
        read -r hrss hanon < <($M mem $hp)
        R[$tool.helper_rss]=$hrss; R[$tool.helper_anon]=$hanon
        echo "  privsep helper (pid $hp): VmRSS $hrss kB, RssAnon $hanon kB"
    fi
    # 2. RssAnon per tracked entry
    cat "$W/distinct.log" >> "$log"
    $M settle $PID 3 >/dev/null
    local n; n=$(tracked $tool "$d/c1")
    read -r rss2 anon2 < <($M mem $PID)
    R[$tool.entries]=$n
    R[$tool.per_entry]=$(echo "($anon2 - $anon) * 1024 / ($n + 0.0001)" | bc -l | xargs printf '%.0f')
    echo "  tracked entries: $n; RssAnon $anon -> $anon2 kB: ${R[$tool.per_entry]} bytes per entry"
    stop $tool >/dev/null
    # 3. CPU for appended lines
    log=$d/cpu.log; : > "$log"; : > "$ACT_OUT"
    rm -rf "$d/c2"
    if [ $tool = mailwarden ]; then mk_mw "$d/c2" "$log" 100000; else mk_f2b "$d/c2" "$log"; fi
    start $tool "$d/c2" || return
    local nl=$LINES; [ $tool = fail2ban ] && nl=$F2B_LINES
    local c0 c1; c0=$($M cpu $PID)
    head -n "$nl" "$W/mixed.log" >> "$log"
    c1=$($M settle $PID 3)
    R[$tool.cpu]=$(echo "($c1 - $c0) * $LINES / $nl" | bc -l | xargs printf '%.2f')
    R[$tool.cpu_bans]=$(grep -c ' ban ' "$ACT_OUT")
    echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "  CPU for $nl lines: $(echo "$c1 - $c0" | bc -l | xargs printf '%.2f') s (scaled to $LINES: ${R[$tool.cpu]} s), ${R[$tool.cpu_bans]} bans"
    stop $tool >/dev/null
    # 4. latency and 5. stop time
    log=$d/lat.log; : > "$log"; : > "$ACT_OUT"
    rm -rf "$d/c3"
    if [ $tool = mailwarden ]; then mk_mw "$d/c3" "$log" 100000; else mk_f2b "$d/c3" "$log"; fi
    start $tool "$d/c3" || return
    read -r med p99 nb < <($M latency "$log" "$ACT_OUT" "$LAT_N" 5 10.77)
    R[$tool.lat_med]=$med; R[$tool.lat_p99]=$p99
    echo "  latency over $nb bans: median $med ms, p99 $p99 ms"
    if [ $tool = mailwarden ]; then
        # the decision alone: time until the daemon logs the ban (no action process)
        read -r med p99 nb < <($M latency "$log" "$d/c3/daemon.log" "$LAT_N" 5 10.78 observe)
        R[$tool.dec_med]=$med; R[$tool.dec_p99]=$p99
        echo "  decision latency (line written -> ban logged) over $nb bans: median $med ms, p99 $p99 ms"
    fi
    python3 - "$log" "$STOP_BANS" <<'EOF'
import sys, time
log, n = sys.argv[1], int(sys.argv[2])
st = time.strftime("%b %e %H:%M:%S")
with open(log, "a") as f:
    for i in range(n):
        ip = f"10.88.{i // 250}.{i % 250 + 1}"
        for _ in range(5):
            f.write(f"{st} bench sshd[{9000 + i % 1000}]: Failed password for root from {ip} port {30000 + i} ssh2\n")
EOF
    for _ in $(seq 1200); do
        [ "$(banned $tool "$d/c3")" -ge "$STOP_BANS" ] 2>/dev/null && break
        sleep 0.5
    done
    local nb2; nb2=$(banned $tool "$d/c3")
    R[$tool.stop]=$(stop $tool)
    echo "  stop with $nb2 bans (unban on stop): ${R[$tool.stop]} s"
}

for t in mailwarden fail2ban; do
    [ -n "$ONLY" ] && [ "$ONLY" != "$t" ] && continue
    run_tool $t
done

echo
printf '%-34s %14s %14s %10s\n' "figure" "mailwarden" "fail2ban" "ratio"
row() {
    local a=${R[mailwarden.$2]:-n/a} b=${R[fail2ban.$2]:-n/a} r=n/a
    if [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && [ "$(echo "$a > 0" | bc)" = 1 ]; then
        r=$(echo "$b / $a" | bc -l | xargs printf '%.1fx')
    fi
    printf '%-34s %14s %14s %10s\n' "$1" "$a" "$b" "$r"
}
row "idle VmRSS (kB)" idle_rss
row "idle RssAnon (kB)" idle_anon
row "privsep helper VmRSS (kB)" helper_rss
row "privsep helper RssAnon (kB)" helper_anon
row "RssAnon per tracked entry (B)" per_entry
row "CPU s per $LINES lines" cpu
row "latency median (ms)" lat_med
row "latency p99 (ms)" lat_p99
row "stop with bans, unban (s)" stop
row "decision latency median (ms)" dec_med
row "decision latency p99 (ms)" dec_p99
echo "(latency: write() of the deciding line -> the action's timestamp; both actions are"
echo " 'sh -c echo \$(date) >> file', so process creation is included; decision latency:"
echo " until the daemon logs the ban, i.e. what the in-process nftables action adds ~1 ms to)"
