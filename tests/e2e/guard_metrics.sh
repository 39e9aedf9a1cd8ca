#!/bin/bash
# End-to-end: the guard's Prometheus metrics, scraped with real HTTP clients (curl and
# Python's urllib) from the loopback /metrics listener (libmicrohttpd), read from the
# node_exporter textfile and through `mailwarden metrics`. The daemon binds port 0 and logs
# the port it got (no guessed free port, no race with other tests). Checks: counts after real
# failure lines (bans, failures, ignoreip, lines, unparsed programs with hostile names and
# the 64-program cap), the format (a strict parser of the 0.0.4 grammar written here, the
# Python client library's parser and promtool when installed), HTTP status codes (404, 405,
# HEAD), counters kept across `reload`, the textfile rewritten atomically and at stop, the
# IPv6 loopback listener, and non-loopback addresses refused. Null and command actions: no
# firewall needed.
SUITE=guard_metrics
. "$(dirname "$0")/../lib.sh"
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
stamp() { date '+%b %e %H:%M:%S'; }
sasl() { echo "$(stamp) mail postfix/smtpd[42]: warning: unknown[$1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" >> "$LOG"; }
sshfail() { echo "$(stamp) mail sshd[7]: Failed password for root from $1 port 4711 ssh2" >> "$LOG"; }
# the system python has the Debian prometheus_client; pyenv's may not
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

CONF=$TMP/conf; mkdir -p "$CONF" "$TMP/textfile"; LOG=$TMP/mail.log; : > "$LOG"
PROM=$TMP/textfile/mailwarden.prom
daemon_conf() {   # daemon_conf LISTEN
    cat > "$CONF/mailwarden.conf" <<EOF2
[Definition]
dbfile = $TMP/mw.db
socket = $TMP/mw.sock
logtarget = STDERR
metrics_textfile = $PROM
metrics_interval = 1
metrics_listen = $1
EOF2
}
daemon_conf 127.0.0.1:0
cat > "$CONF/jail.conf" <<EOF2
[DEFAULT]
ignoreip = 10.0.0.0/8
ignoreself = false
maxretry = 3
findtime = 10m
bantime = 1h
logpath = $LOG
[postfix]
enabled = true
filter = mailwarden-postfix
action = command[actionban="/usr/bin/touch $TMP/banned.<ip>"]
[sshd]
enabled = true
filter = mailwarden-sshd
banaction = null
EOF2

# The strict reader: every line is a HELP, a TYPE or a sample of the family typed last; label
# values may hold only the escapes \\ \" \n. Prints "name{label=value}\tvalue" per sample
# (label value unescaped, JSON-quoted) so the shell can look values up.
cat > "$TMP/expo.py" <<'PY'
import json, re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
VAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*=%s)(?:,[a-zA-Z_][a-zA-Z0-9_]*=%s)*)\})? (\S+)$' % (NAME, VAL, VAL))
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)=(%s)' % VAL)
def unesc(v):
    return re.sub(r'\\(.)', lambda m: {'n': '\n', '\\': '\\', '"': '"'}[m.group(1)], v[1:-1])
text = open(sys.argv[1], encoding='utf-8').read()
assert text.endswith('\n'), 'no final newline'
typed, seen = None, set()
for ln in text[:-1].split('\n'):
    if ln.startswith('# HELP '):
        assert not re.search(r'\\[^\\n]', ln), 'bad HELP escape: ' + ln
        continue
    if ln.startswith('# TYPE '):
        _, _, name, kind = ln.split(' ')
        assert kind in ('counter', 'gauge', 'histogram'), ln
        assert name not in seen, 'family twice: ' + name
        seen.add(name); typed = name
        continue
    m = SAMPLE.match(ln)
    assert m, 'not a sample line: %r' % ln
    assert typed and m.group(1).startswith(typed), 'sample outside its family: ' + ln
    float(m.group(3).replace('+Inf', 'inf'))
    labels = dict((k, unesc(v)) for k, v in LABEL.findall(m.group(2) or ''))
    key = m.group(1) + ''.join('{%s=%s}' % (k, json.dumps(v)) for k, v in sorted(labels.items()) if k != 'le')
    if 'le' in labels: key += '[le=%s]' % labels['le']
    print('%s\t%s' % (key, m.group(3)))
PY
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics" -o "$TMP/scrape.txt"; }
val() {    # val FILE KEY -> the sample's value (empty when absent or the file does not parse)
    K="$2" $PY "$TMP/expo.py" "$1" 2>/dev/null | K="$2" awk -F'\t' '$1 == ENVIRON["K"] { print $2 }'
}
bans_reach() {   # bans_reach JAIL N: scrape until mailwarden_bans_total{jail=JAIL} is N
    scrape && [ "$(val "$TMP/scrape.txt" "mailwarden_bans_total{jail=\"$1\"}")" = "$2" ]
}
port_logged() { PORT=$(sed -n 's/.*metrics: listening on .* (port \([0-9]*\)).*/\1/p' "$TMP/guard.err" | tail -1); [ -n "$PORT" ]; }
start() {
    : > "$TMP/guard.err"
    "$MW" guard -c "$CONF" --foreground 2>>"$TMP/guard.err" &
    DPID=$!
    wait_until 10000 cli ping >/dev/null 2>&1
    wait_until 10000 port_logged
}
stop() { cli stop >/dev/null 2>&1; wait "$DPID" 2>/dev/null; DPID=; }

start
check_cmd daemon-up cli ping
if ! port_logged; then fail listener-port "no 'metrics: listening ... (port N)' in the log"; finish; fi
pass listener-port

for i in 1 2 3; do sasl 192.0.2.10; sasl 192.0.2.11; done
sasl 10.1.1.1; sasl 10.1.1.2                  # ignoreip: not counted, counted as ignored
for i in 1 2 3 4; do sshfail 198.51.100.7; done
echo "$(stamp) mail ev\"il\\prog[1]: quote and backslash in the program name" >> "$LOG"
echo "a line without any syslog envelope" >> "$LOG"
for i in $(seq 1 70); do echo "$(stamp) mail prog$i[1]: one of many programs" >> "$LOG"; done
NLINES=$(wc -l < "$LOG")

check_cmd bans-postfix-scraped wait_until 15000 bans_reach postfix 2
check_cmd bans-sshd-scraped wait_until 15000 bans_reach sshd 1
# lines are read in order: once the last line is counted every count below is final
lines_done() { scrape && [ "$(val "$TMP/scrape.txt" 'mailwarden_lines_total{jail="postfix"}')" = "$NLINES" ]; }
check_cmd all-lines-counted wait_until 15000 lines_done
S=$TMP/scrape.txt
check_cmd format-strict $PY "$TMP/expo.py" "$S"
check_eq failures-postfix 6 "$(val "$S" 'mailwarden_failures_total{jail="postfix"}')"
check_eq failures-sshd 3 "$(val "$S" 'mailwarden_failures_total{jail="sshd"}')"
check_eq ignored-postfix 2 "$(val "$S" 'mailwarden_ignored_failures_total{jail="postfix"}')"
check_eq current-bans-postfix 2 "$(val "$S" 'mailwarden_current_bans{jail="postfix"}')"
check_eq lines-sshd "$NLINES" "$(val "$S" 'mailwarden_lines_total{jail="sshd"}')"
check_eq tracked-entries 0 "$(val "$S" 'mailwarden_tracked_entries{jail="postfix"}')"
check_eq build-info 1 "$(val "$S" 'mailwarden_build_info{version="'"$("$MW" --version | awk '{ print $NF }')"'"}')"
START=$(val "$S" mailwarden_start_time_seconds)
check_cmd start-time-recent test "${START:-0}" -ge $(( $(date +%s) - 600 ))
check_eq hostile-program-escaped 1 "$(val "$S" 'mailwarden_unparsed_lines_total{program="ev\"il\\prog"}')"
check_grep hostile-program-raw 'mailwarden_unparsed_lines_total\{program="ev\\"il\\\\prog"\} 1$' "$S"
check_eq no-envelope-program 1 "$(val "$S" 'mailwarden_unparsed_lines_total{program="(none)"}')"
NPROG=$($PY "$TMP/expo.py" "$S" | grep -c '^mailwarden_unparsed_lines_total{')
check_eq program-label-cap 65 "$NPROG"
check_eq unparsed-none-lost 72 "$($PY "$TMP/expo.py" "$S" | awk -F'\t' '/^mailwarden_unparsed_lines_total\{/ { s += $2 } END { print s }')"
check_cmd program-other-series test -n "$(val "$S" 'mailwarden_unparsed_lines_total{program="other"}')"
check_cmd action-latency-observed test "$(val "$S" 'mailwarden_action_duration_seconds_count{action="command:postfix:0"}')" -ge 1
check_eq action-latency-inf-bucket "$(val "$S" 'mailwarden_action_duration_seconds_count{action="command:postfix:0"}')" \
    "$(val "$S" 'mailwarden_action_duration_seconds_bucket{action="command:postfix:0"}[le=+Inf]')"
check_eq action-errors-zero 0 "$(val "$S" 'mailwarden_action_errors_total{action="command:postfix:0"}')"
check_cmd null-action-latency test "$(val "$S" 'mailwarden_action_duration_seconds_count{action="null"}')" -ge 1
check_cmd command-action-ran test -e "$TMP/banned.192.0.2.10" -a -e "$TMP/banned.192.0.2.11"

# the reference parsers
if $PY -c 'import prometheus_client.parser' 2>/dev/null; then
    if $PY - "$S" > "$TMP/pc.out" 2>&1 <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
bans = {s.labels['jail']: s.value for s in fams['mailwarden_bans'].samples if s.name == 'mailwarden_bans_total'}
assert bans == {'postfix': 2.0, 'sshd': 1.0}, bans
progs = {s.labels['program'] for s in fams['mailwarden_unparsed_lines'].samples}
assert 'ev"il\\prog' in progs and 'other' in progs and len(progs) == 65, sorted(progs)[:5]
assert fams['mailwarden_action_duration_seconds'].type == 'histogram'
print('ok')
PY
    then pass python-client-parser; else fail python-client-parser "$(tail -3 "$TMP/pc.out")"; fi
else
    skip python-client-parser "python3-prometheus-client not installed"
fi
# promtool is an extra lint where the admin's machine has it (Debian's prometheus package
# starts a server on install, so the test set-up does not pull it in); the two parsers above
# are the checks that always run.
if command -v promtool >/dev/null 2>&1; then
    if promtool check metrics < "$S" > "$TMP/promtool.out" 2>&1; then pass promtool-lint
    else fail promtool-lint "$(head -3 "$TMP/promtool.out")"; fi
fi

# HTTP: a second client, headers, status codes
$PY - "$PORT" > "$TMP/urllib.out" 2>&1 <<'PY'
import sys, urllib.request, urllib.error
base = 'http://127.0.0.1:%s' % sys.argv[1]
r = urllib.request.urlopen(base + '/metrics', timeout=5)
ct = r.headers['Content-Type']
body = r.read().decode()
assert r.status == 200 and ct.startswith('text/plain') and 'version=0.0.4' in ct, ct
assert 'mailwarden_bans_total{jail="postfix"} 2\n' in body
def code(path, method='GET'):
    try:
        return urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code
print(code('/'), code('/metrics/x'), code('/metrics', 'POST'), code('/metrics', 'DELETE'), code('/metrics', 'HEAD'))
PY
check_eq urllib-codes "404 404 405 405 200" "$(tail -1 "$TMP/urllib.out")"
check_eq curl-404 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope")"
check_eq curl-405 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "http://127.0.0.1:$PORT/metrics")"
curl -s -D "$TMP/h405" -o /dev/null -X PUT "http://127.0.0.1:$PORT/metrics"
check_grep allow-header '^Allow: GET, HEAD' "$TMP/h405"
check_eq head-no-body 0 "$(curl -s -I "http://127.0.0.1:$PORT/metrics" | awk 'BEGIN{IGNORECASE=1} /^content-length:/ { n = $2 + 0 } END { print (n > 0 ? 0 : 1) }')"

# the same text through the control socket
cli metrics > "$TMP/cli.txt"
check_eq cli-metrics-bans 2 "$(val "$TMP/cli.txt" 'mailwarden_bans_total{jail="postfix"}')"

# the textfile: complete, parseable, rewritten every metrics_interval
tf_bans() { [ "$(val "$PROM" 'mailwarden_bans_total{jail="postfix"}')" = 2 ]; }
check_cmd textfile-written wait_until 10000 tf_bans
check_cmd textfile-strict $PY "$TMP/expo.py" "$PROM"
check_eq textfile-mode 644 "$(stat -c %a "$PROM")"

# reload keeps the counters (a new core starts from zero underneath)
check_cmd reload cli reload
sasl 192.0.2.12
failures_7() { scrape && [ "$(val "$TMP/scrape.txt" 'mailwarden_failures_total{jail="postfix"}')" = 7 ]; }
check_cmd counters-monotonic-over-reload wait_until 10000 failures_7
check_eq bans-kept-over-reload 2 "$(val "$TMP/scrape.txt" 'mailwarden_bans_total{jail="postfix"}')"

# stop: the textfile holds the final counts
sasl 192.0.2.12
failures_8() { scrape && [ "$(val "$TMP/scrape.txt" 'mailwarden_failures_total{jail="postfix"}')" = 8 ]; }
wait_until 10000 failures_8
stop
check_eq textfile-final-at-stop 8 "$(val "$PROM" 'mailwarden_failures_total{jail="postfix"}')"
check_eq textfile-no-tmp-left "mailwarden.prom" "$(ls "$TMP/textfile")"
check_cmd listener-closed-at-stop test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/metrics")" = 000

# IPv6 loopback
if $PY -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    daemon_conf '[::1]:0'
    start
    if port_logged && [ -n "$DPID" ]; then
        check_eq ipv6-listener 200 "$(curl -s -g -o /dev/null -w '%{http_code}' "http://[::1]:$PORT/metrics")"
        check_eq ipv6-v4-not-served 000 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/metrics")"
    else
        fail ipv6-listener "no listener on [::1]: $(tail -2 "$TMP/guard.err")"
    fi
    stop
else
    skip ipv6-listener "no IPv6 loopback on this machine"
fi

# non-loopback addresses are refused unless metrics_listen_any = yes (checked at load)
for a in 0.0.0.0:9746 '[::]:9746' 192.0.2.1:9746 localhost:9746; do
    daemon_conf "$a"
    "$MW" guard -c "$CONF" --test-config > "$TMP/tc.out" 2>&1
    rc=$?
    if [ $rc = 2 ] && grep -q 'metrics_listen' "$TMP/tc.out"; then pass "refused-$a"
    else fail "refused-$a" "exit $rc: $(tail -1 "$TMP/tc.out")"; fi
done
daemon_conf 0.0.0.0:9746
timeout 20 "$MW" guard -c "$CONF" --foreground > "$TMP/refused.out" 2>&1
check_eq daemon-refuses-any 2 "$?"
check_grep daemon-refuses-why 'not a loopback address' "$TMP/refused.out"
daemon_conf 0.0.0.0:9746
echo "metrics_listen_any = yes" >> "$CONF/mailwarden.conf"
check_cmd any-allowed-explicitly "$MW" guard -c "$CONF" --test-config
finish
