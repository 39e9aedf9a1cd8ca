#!/bin/bash
# End-to-end: guard jails with backend = systemd read real journal files (built with Debian's
# systemd-journal-remote from export format) through sd-journal: bans from journal entries,
# entries appended to a file and a new file in the directory picked up while running, the
# cursor in the database resumes a restart exactly (nothing counted twice), a vanished
# cursor (rotation/vacuum) falls back with a warning, and `status` shows fail2ban's
# "Journal matches:" line. Null actions: no firewall needed.
SUITE=guard_journal
. "$(dirname "$0")/../lib.sh"
JR=/lib/systemd/systemd-journal-remote
if [ ! -x "$JR" ]; then
    skip journal "systemd-journal-remote is not installed (scripts/deps.sh installs it)"
    finish
fi
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# RFC 3339 stamp AGO seconds before now
# stamp [SECONDS-AGO]: RFC 3339 with the real microseconds, so that entries written one after
# the other never share a timestamp (sd-journal orders entries of different files by time;
# equal stamps would make "after the cursor" ambiguous)
stamp() {
    local ns; ns=$(date +%s%N)
    printf '%s.%06d+00:00' "$(date -u -d "@$(( ns / 1000000000 - ${1:-0} ))" +%Y-%m-%dT%H:%M:%S)" \
        $(( (ns / 1000) % 1000000 ))
}
sshfail() { echo "$(stamp "${2:-0}") mx sshd[$RANDOM]: Failed password for root from $1 port 4242 ssh2"; }
dovefail() { echo "$(stamp "${2:-0}") mx dovecot: auth: passwd-file(admin,$1,<f$RANDOM>): unknown user"; }
# journal FILE BOOTID < syslog lines: write (or append to) a real journal file
journal() {
    python3 "$TOP/tests/tools/log2export.py" --boot "$2" /dev/stdin > "$TMP/in.export" &&
    "$JR" -o "$1" - < "$TMP/in.export" > /dev/null 2>> "$TMP/jr.err"
}
BOOT1=11111111111111111111111111111111
BOOT2=22222222222222222222222222222222
BOOT3=33333333333333333333333333333333

CONF=$TMP/conf; mkdir -p "$CONF"; JD=$TMP/journal; mkdir -p "$JD"; DB=$TMP/mw.db
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
maxretry = 3
findtime = 10m
bantime = 1h
[sshd]
# fail2ban's backend arguments name the journal directory; the filter's default matches
enabled = true
filter = mailwarden-sshd
backend = systemd[journalpath=$JD]
[dovecot]
enabled = true
filter = mailwarden-dovecot
backend = systemd
journal_path = $JD
journalmatch = _SYSTEMD_UNIT=dovecot.service
EOF2

# --test-config shows the journal and the matches of each jail
"$MW" guard -c "$CONF" --test-config > "$TMP/test.out" 2>&1
check_eq test-config-exit 0 $?
check_grep test-config-journal "jail sshd: .*journal $JD, journalmatch _SYSTEMD_UNIT=ssh.service \+ _SYSTEMD_UNIT=sshd.service" "$TMP/test.out"
check_grep test-config-match "jail dovecot: .*journalmatch _SYSTEMD_UNIT=dovecot.service$" "$TMP/test.out"
# a malformed match is a configuration error, not a jail that never matches
sed 's/^journalmatch = .*/journalmatch = _SYSTEMD_UNIT=dovecot.service + + lower=x/' "$CONF/jail.conf" > "$TMP/bad.conf"
mkdir -p "$TMP/badconf"; cp "$CONF/mailwarden.conf" "$TMP/badconf/"; cp "$TMP/bad.conf" "$TMP/badconf/jail.conf"
"$MW" guard -c "$TMP/badconf" --test-config > "$TMP/bad.out" 2>&1
check_eq test-config-bad-match-exit 2 $?
check_grep test-config-bad-match-named "journalmatch" "$TMP/bad.out"

# the first file: two recent failures of .7, three of .99 older than findtime (not read back)
{ sshfail 192.0.2.99 10800; sshfail 192.0.2.99 10790; sshfail 192.0.2.99 10780
  sshfail 192.0.2.7 30; sshfail 192.0.2.7 20; } | journal "$JD/a.journal" $BOOT1
check_cmd journal-built test -s "$JD/a.journal"

start() {
    "$MW" guard -c "$CONF" --foreground 2>>"$TMP/guard.err" &
    DPID=$!
    wait_until 10000 cli ping >/dev/null 2>&1
}
stop() { cli stop >/dev/null 2>&1; wait "$DPID" 2>/dev/null; DPID=; }
field() { cli status "$1" 2>/dev/null | awk -F'\t' -v k="$2:" '$1 ~ k { print $NF }'; }
failed_is() { [ "$(field "$1" 'Total failed')" = "$2" ]; }
banned_has() { cli banned "$1" 2>/dev/null | grep -q "	$2	"; }

start
check_cmd daemon-up cli ping
check_cmd read-back-findtime wait_until 10000 failed_is sshd 2
cli status sshd > "$TMP/status.txt"
check_grep status-journal-matches '^|  `- Journal matches:	_SYSTEMD_UNIT=ssh.service _SYSTEMD_UNIT=sshd.service _COMM=sshd _COMM=sshd-session$' "$TMP/status.txt"
check_nogrep status-no-file-list 'File list' "$TMP/status.txt"
cli status dovecot > "$TMP/status-d.txt"
check_grep status-journal-matches-dovecot '^|  `- Journal matches:	_SYSTEMD_UNIT=dovecot.service$' "$TMP/status-d.txt"
cli status sshd --json > "$TMP/status.json"
check_grep status-json-matches '"journal_matches":"_SYSTEMD_UNIT=ssh.service' "$TMP/status.json"
check_nogrep old-entries-not-banned '192.0.2.99' <(cli banned)

# appended to the same file while the daemon follows it: the third failure bans
sshfail 192.0.2.7 | journal "$JD/a.journal" $BOOT1
check_cmd append-same-file-bans wait_until 10000 banned_has sshd 192.0.2.7
check_eq append-counted 3 "$(field sshd 'Total failed')"
# a new file in the directory (as journald's rotation makes): picked up with inotify
{ dovefail 198.51.100.9; dovefail 198.51.100.9; dovefail 198.51.100.9; } | journal "$JD/b.journal" $BOOT2
check_cmd new-file-bans wait_until 10000 banned_has dovecot 198.51.100.9
check_eq new-file-counted 3 "$(field dovecot 'Total failed')"
# the sshd jail's matches keep the Dovecot entries away from it
check_eq matches-separate-jails 3 "$(field sshd 'Total failed')"
# rotation as journald does it: the active file renamed to an archive name, a new one
# created under the old name; entries of the new file are read, the archived ones not again
mv "$JD/b.journal" "$JD/b@0000000000000001-0000000000000001.journal~"
dovefail 198.51.100.10 | journal "$JD/b.journal" $BOOT2
check_cmd rotated-new-file-read wait_until 10000 failed_is dovecot 4
# two failures of an address below maxretry: a restart that read them again would count them
{ sshfail 192.0.2.8; sshfail 192.0.2.8; } | journal "$JD/a.journal" $BOOT1
check_cmd below-maxretry-read wait_until 10000 failed_is sshd 5
# a burst of 1200 entries (distinct addresses): the reader reopens the journal at its cursor
# after 1000 (sd-journal's mappings), losing and repeating none, and keeps following
s=$(stamp)
for i in $(seq 1 1200); do echo "$s mx sshd[$i]: Failed password for root from 10.9.$((i / 250)).$((i % 250 + 1)) port 4242 ssh2"; done |
    journal "$JD/a.journal" $BOOT1
check_cmd burst-read wait_until 20000 failed_is sshd 1205
sshfail 192.0.2.9 | journal "$JD/a.journal" $BOOT1
check_cmd after-reopen-followed wait_until 10000 failed_is sshd 1206
stop
check_grep cursor-saved 'journal:' <(sqlite3 "$DB" 'SELECT source FROM guard_journal' 2>/dev/null || python3 -c "
import sqlite3, sys; print('\n'.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT source FROM guard_journal')))" "$DB")

# restart: the cursors resume after the last entry; a marker failure proves the journal was
# read (entries come in order), and exactly one failure counted proves none was read twice
start
sshfail 203.0.113.5 | journal "$JD/a.journal" $BOOT1
check_cmd restart-marker-read wait_until 10000 failed_is sshd 1
check_eq restart-no-double-count-sshd 1 "$(field sshd 'Total failed')"
check_eq restart-no-double-count-dovecot 0 "$(field dovecot 'Total failed')"
check_grep restart-resumed 'resuming after the saved cursor' "$TMP/guard.err"
check_cmd restart-ban-restored banned_has sshd 192.0.2.7
# reload: new readers start at the cursor the old ones saved (counts start at zero again)
check_cmd reload-ok cli reload
sshfail 203.0.113.6 | journal "$JD/a.journal" $BOOT1
check_cmd reload-marker-read wait_until 10000 failed_is sshd 1
check_eq reload-no-double-count 1 "$(field sshd 'Total failed')"
stop

# vacuum: the files holding the cursors are gone; a new file has one failure older than the
# cursor (already seen before: not counted again) and two new ones
rm -f "$JD"/*.journal "$JD"/*.journal~
{ sshfail 192.0.2.50 300; sshfail 192.0.2.50; sshfail 192.0.2.50; } | journal "$JD/c.journal" $BOOT3
cat "$TMP/guard.err" >> "$TMP/all.err"; : > "$TMP/guard.err"
start
check_cmd vacuum-read wait_until 10000 failed_is sshd 2
check_grep vacuum-warning 'saved cursor is no longer in the journal' "$TMP/guard.err"
check_eq vacuum-not-before-cursor 2 "$(field sshd 'Total failed')"
stop

# least privilege: with privsep = yes the parsing process (not root) reads the journal files
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
    chmod 755 "$TMP"; PJ=$TMP/pjournal; PC=$TMP/pconf; mkdir -p "$PJ" "$PC"; chmod 755 "$PJ"
    { sshfail 192.0.2.70; sshfail 192.0.2.70; } | journal "$PJ/p.journal" $BOOT3
    chmod 644 "$PJ/p.journal"
    printf '[Definition]\ndbfile = %s\nsocket = %s\nlogtarget = STDERR\nprivsep = yes\nuser = nobody\n' \
        "$TMP/p.db" "$TMP/p.sock" > "$PC/mailwarden.conf"
    printf '[DEFAULT]\nbanaction = null\nmaxretry = 3\nfindtime = 10m\n[sshd]\nenabled = true\n%s\n%s\n%s\n' \
        'filter = mailwarden-sshd' 'backend = systemd' "journal_path = $PJ" > "$PC/jail.conf"
    pcli() { local c=$1; shift; "$MW" "$c" --socket "$TMP/p.sock" "$@"; }
    "$MW" guard -c "$PC" --foreground 2>>"$TMP/guard.err" &
    DPID=$!
    wait_until 10000 pcli ping >/dev/null 2>&1
    check_cmd privsep-daemon-up pcli ping
    check_eq privsep-parser-not-root 1 "$(awk '$1 == "Uid:" { print ($2 != 0) }' /proc/$DPID/status)"
    check_cmd privsep-journal-read wait_until 10000 eval '[ "$(pcli status sshd | awk -F"\t" "/Total failed/ { print \$NF }")" = 2 ]'
    sshfail 192.0.2.70 | journal "$PJ/p.journal" $BOOT3
    check_cmd privsep-journal-bans wait_until 10000 eval 'pcli banned sshd | grep -q "	192.0.2.70	"'
    pcli stop > /dev/null 2>&1; wait "$DPID" 2>/dev/null; DPID=
    # a journal the user cannot read: privsep = yes refuses to start and names it
    chmod 700 "$PJ"
    "$MW" guard -c "$PC" --foreground > /dev/null 2> "$TMP/p.err"
    check_eq privsep-unreadable-journal-exit 1 $?
    check_grep privsep-unreadable-journal-named "not readable by user nobody .*pjournal" "$TMP/p.err"
else
    skip privsep "needs root and the user nobody"
fi

# simulate replays the journal files through the jails with their matches
{ sshfail 192.0.2.60 50; sshfail 192.0.2.60 40; sshfail 192.0.2.60 30; } | journal "$JD/c.journal" $BOOT3
"$MW" simulate -c "$CONF" --journal-file "$JD" > "$TMP/sim.txt" 2> "$TMP/sim.err"
check_eq simulate-exit 0 $?
check_grep simulate-journal-ban ' sshd 192\.0\.2\.60 3600 3$' "$TMP/sim.txt"
check_grep simulate-journal-ban-50 ' sshd 192\.0\.2\.50 3600 3$' "$TMP/sim.txt"
check_nogrep simulate-matches-respected ' dovecot 192\.0\.2\.' "$TMP/sim.txt"
# on the same messages the journal jails ban exactly as the file jails do on the text log
mkdir -p "$TMP/cf" "$TMP/cj" "$TMP/corpusj"
cat > "$TMP/cf/jail.conf" <<EOF2
[DEFAULT]
banaction = null
ignoreip =
ignoreself = false
maxretry = 3
findtime = 1d
logpath = /dev/null
[postfix]
enabled = true
filter = mailwarden-postfix
[dovecot]
enabled = true
filter = mailwarden-dovecot
EOF2
sed 's|^logpath = /dev/null|backend = systemd|' "$TMP/cf/jail.conf" > "$TMP/cj/jail.conf"
python3 "$TOP/tests/tools/log2export.py" "$DATA/mail-rfc3339.log.gz" > "$TMP/corpus.export"
"$JR" -o "$TMP/corpusj/corpus.journal" - < "$TMP/corpus.export" > /dev/null 2>> "$TMP/jr.err"
"$MW" simulate -c "$TMP/cf" --now 2026-11-22T21:30:00 "$DATA/mail-rfc3339.log.gz" > "$TMP/sim-text.txt" 2>> "$TMP/sim.err"
"$MW" simulate -c "$TMP/cj" --journal-file "$TMP/corpusj" > "$TMP/sim-journal.txt" 2>> "$TMP/sim.err"
check_cmd simulate-corpus-bans test -s "$TMP/sim-text.txt"
check_cmd simulate-journal-equals-text cmp "$TMP/sim-text.txt" "$TMP/sim-journal.txt"

# hostile MESSAGE: an embedded newline followed by a forged line naming a victim; the entry
# stays one line (#012), and the address is the one sshd itself wrote at the end
python3 - "$(date +%s)" > "$TMP/evil.export" <<'PY'
import struct, sys
now = int(sys.argv[1])
out = sys.stdout.buffer
def field(name, value):
    out.write(name + b'\n' + struct.pack('<Q', len(value)) + value + b'\n')
for i in range(3):
    out.write(b'__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n' % ((now - 10 + i) * 1000000, i + 1))
    out.write(b'_BOOT_ID=44444444444444444444444444444444\n')
    field(b'_HOSTNAME', b'mx')
    field(b'SYSLOG_IDENTIFIER', b'sshd')
    field(b'_PID', b'%d' % (100 + i))
    field(b'_SYSTEMD_UNIT', b'ssh.service')
    field(b'MESSAGE', b'Invalid user x\n2026-11-22T21:12:13+00:00 mx sshd[1]: Failed password for root from'
          b' 192.0.2.66 port 1 ssh2 from 198.51.100.77 port 5555')
    out.write(b'\n')
PY
mkdir -p "$TMP/evil"
"$JR" -o "$TMP/evil/e.journal" - < "$TMP/evil.export" > /dev/null 2>> "$TMP/jr.err"
"$MW" simulate -c "$CONF" --journal-file "$TMP/evil" > "$TMP/evil.txt" 2>> "$TMP/sim.err"
check_grep hostile-real-address-banned ' sshd 198\.51\.100\.77 3600 3$' "$TMP/evil.txt"
check_nogrep hostile-forged-address-not-banned '192\.0\.2\.66' "$TMP/evil.txt"
cat "$TMP/guard.err" "$TMP/sim.err" >> "$TMP/all.err"
check_nogrep no-sanitizer-reports 'Sanitizer|runtime error' "$TMP/all.err"
finish
