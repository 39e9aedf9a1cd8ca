#!/bin/bash
# guard_simulate: `mailwarden simulate` and `explain` on the real corpus (loopback attackers,
# so the test config empties ignoreip and turns ignoreself off) and on hostile lines whose
# attacker-controlled fields (user names, HELO, senders, #012-escaped newlines) hold a
# decoy address: only the structural client slot may ever be banned; v4-mapped and
# differently spelled IPv6 of one attacker count as one host.
SUITE=guard_simulate
. "$(dirname "$0")/../lib.sh"

GD=$DATA/guard
CONF=$GD/conf-simulate

# --- the shipped configuration loads and runs the three mail jails ---
"$MW" guard -c "$TOP/config" --test-config > "$TMP/shipped.out" 2>&1
check_grep shipped-postfix '^jail postfix: filter mailwarden-postfix\[mode=normal\], maxretry 5, findtime 10m, bantime 1h \(increment\), actions nftables' "$TMP/shipped.out"
check_grep shipped-dovecot '^jail dovecot: filter mailwarden-dovecot,' "$TMP/shipped.out"
check_grep shipped-sshd '^jail sshd: filter mailwarden-sshd,' "$TMP/shipped.out"
check_grep shipped-ok '^OK: 4 jail\(s\)' "$TMP/shipped.out"
# the shipped ignoreip protects loopback: the corpus' loopback attackers are never banned
"$MW" simulate -c "$TOP/config" --now 2026-11-22T21:30:00 "$DATA/mail-traditional.log.gz" > "$TMP/shipped-sim.out" 2>/dev/null
check_eq shipped-ignores-loopback "" "$(cat "$TMP/shipped-sim.out")"
# a broken configuration is refused with the reason
mkdir -p "$TMP/broken"
printf '[sshd]\nenabled = true\nfilter = mailwarden-sshd\nlogpath = /x\nmaxretry = many\n' > "$TMP/broken/jail.conf"
"$MW" guard -c "$TMP/broken" --test-config > "$TMP/broken.out" 2>&1
check_eq broken-config-exit 2 $?
check_grep broken-config-why 'maxretry = many: expected a number' "$TMP/broken.out"

# --- corpus: golden output ---
"$MW" simulate -c "$CONF" --now 2026-11-22T21:30:00 "$DATA/mail-traditional.log.gz" > "$TMP/corpus.out" 2> "$TMP/corpus.err"
if diff -u "$GD/simulate-traditional.expected" "$TMP/corpus.out" > "$TMP/corpus.diff"; then pass corpus-golden
else fail corpus-golden "$(head -20 "$TMP/corpus.diff")"; fi
# the biggest offenders of `offenders` are all banned
for ip in 127.0.0.60 127.0.0.50 127.0.0.38 127.0.0.51 127.0.0.62; do
    check_grep "corpus-bans-$ip" " $ip 3600 " "$TMP/corpus.out"
done
# --jail restricts; --json gives JSON lines with canonical IPs
"$MW" simulate -c "$CONF" --now 2026-11-22T21:30:00 --jail sshd --jail dovecot --json "$DATA/mail-traditional.log.gz" > "$TMP/j.out"
check_nogrep jail-restricts '"jail":"postfix"' "$TMP/j.out"
check_grep json-line '^\{"time":[0-9]+,"jail":"dovecot","ip":"127\.0\.0\.60","bantime":3600,"failures":5\}$' "$TMP/j.out"
check_eq json-vs-text "$(grep -c ' dovecot \| sshd ' "$TMP/corpus.out")" "$(wc -l < "$TMP/j.out" | tr -d ' ')"

# --- injection lines ---
ICONF=$TMP/iconf
mkdir -p "$ICONF"
sed 's/^maxretry = 5/maxretry = 3/' "$CONF/jail.conf" > "$ICONF/jail.conf"
sed -i 's/^bantime.increment = true/bantime.increment = false/' "$ICONF/jail.conf"
cp "$CONF/mailwarden.conf" "$ICONF/"
"$MW" simulate -c "$ICONF" --now 2026-11-22T12:00:00 "$GD/injection.log" > "$TMP/inj.out" 2>&1
check_nogrep injection-decoy-never-banned '203\.0\.113\.9' "$TMP/inj.out"
check_eq injection-bans "2026-11-22T10:00:03+00:00 dovecot 192.0.2.1 3600 3
2026-11-22T10:01:03+00:00 postfix 192.0.2.2 3600 3
2026-11-22T10:02:03+00:00 sshd 192.0.2.3 3600 3
2026-11-22T10:03:03+00:00 dovecot 192.0.2.4 3600 3
2026-11-22T10:03:06+00:00 dovecot 2001:db8::a 3600 3" "$(cat "$TMP/inj.out")"

# --- explain ---
"$MW" explain -c "$ICONF" "$(sed -n 14p "$GD/injection.log")" > "$TMP/ex.out" 2>&1
check_grep explain-host '^  host: 192\.0\.2\.3 \(from its structural slot\)$' "$TMP/ex.out"
check_grep explain-jail '^jail sshd \(filter mailwarden-sshd\): counts 1 failure of 192\.0\.2\.3 ' "$TMP/ex.out"
check_grep explain-why '^jail postfix \(filter mailwarden-postfix\): not counted: not a Postfix line$' "$TMP/ex.out"
"$MW" explain -c "$ICONF" 'Nov 22 10:00:00 mail postfix/smtpd[1]: connect from unknown[192.0.2.9]' > "$TMP/ex2.out" 2>&1
check_grep explain-not-failure 'jail postfix \(filter mailwarden-postfix\): not counted: not a failure kind' "$TMP/ex2.out"
printf '[DEFAULT]\nignoreip = 192.0.2.0/24\n' > "$ICONF/jail.local"
"$MW" explain -c "$ICONF" "$(sed -n 14p "$GD/injection.log")" > "$TMP/ex3.out" 2>&1
check_grep explain-ignored 'jail sshd .*192\.0\.2\.3 matched .* but is ignored' "$TMP/ex3.out"
rm "$ICONF/jail.local"

# --- bantime.increment: a repeat offender's second ban is twice as long ---
cat > "$TMP/rep.log" <<EOF
Nov 22 10:00:00 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 10:00:01 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 10:00:02 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 10:00:30 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 12:00:00 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 12:00:01 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 12:00:02 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 16:00:00 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 16:00:01 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
Nov 22 16:00:02 mail sshd[1]: Failed password for root from 192.0.2.77 port 1 ssh2
EOF
sed 's/^bantime.increment = false/bantime.increment = true/' "$ICONF/jail.conf" > "$TMP/x" && mv "$TMP/x" "$ICONF/jail.conf"
"$MW" simulate -c "$ICONF" --now 2026-11-22T23:00:00 --jail sshd "$TMP/rep.log" > "$TMP/rep.out"
check_eq increment "2026-11-22T10:00:02+00:00 sshd 192.0.2.77 3600 3
2026-11-22T12:00:02+00:00 sshd 192.0.2.77 7200 3
2026-11-22T16:00:02+00:00 sshd 192.0.2.77 14400 3" "$(cat "$TMP/rep.out")"
printf '[sshd]\nbantime.multipliers = 1 5 30\n' > "$ICONF/jail.local"
"$MW" simulate -c "$ICONF" --now 2026-11-22T23:00:00 --jail sshd --json "$TMP/rep.log" | sed 's/.*"bantime":\([-0-9]*\).*/\1/' | tr '\n' ' ' > "$TMP/mult.out"
check_eq multipliers "3600 18000 " "$(cat "$TMP/mult.out")"
printf '[sshd]\nbantime = -1\n' > "$ICONF/jail.local"
"$MW" simulate -c "$ICONF" --now 2026-11-22T23:00:00 --jail sshd --json "$TMP/rep.log" > "$TMP/perm.out"
check_grep permanent '"bantime":-1,' "$TMP/perm.out"
check_eq permanent-once "1" "$(wc -l < "$TMP/perm.out" | tr -d ' ')"

# --- --fail2ban-compat: the jails and filters of a fail2ban tree (Debian's, copied) ---
if [ -d /etc/fail2ban/filter.d ]; then
    cp -r /etc/fail2ban "$TMP/f2b"
    rm -f "$TMP/f2b/jail.d/"*
    printf '[DEFAULT]\nignoreip =\nignoreself = false\nlogpath = /dev/null\nbackend = auto\n[sshd]\nenabled = true\nmaxretry = 3\n[postfix]\nenabled = true\nmaxretry = 3\n' > "$TMP/f2b/jail.d/test.local"
    "$MW" guard -c "$ICONF" --fail2ban-compat "$TMP/f2b" --test-config > "$TMP/f2b.out" 2>&1
    check_grep compat-test-config '^jail sshd: filter sshd\[mode=normal\], maxretry 3' "$TMP/f2b.out"
    check_grep compat-action-mapped 'actions iptables-multiport\[port="ssh".*\] \(ipset\)' "$TMP/f2b.out"
    check_nogrep compat-action-own 'no iptables action yet' "$TMP/f2b.out"
    "$MW" simulate -c "$ICONF" --fail2ban-compat "$TMP/f2b" --now 2026-11-22T23:00:00 --jail sshd "$TMP/rep.log" > "$TMP/f2bsim.out" 2>&1
    check_grep compat-simulate-sshd '^2026-11-22T10:00:02\+00:00 sshd 192\.0\.2\.77 600 3$' "$TMP/f2bsim.out"
else
    skip compat "/etc/fail2ban not installed"
fi

# --- fail2ban filter files with multi-line buffers (maxlines > 1) and F-MLFID connections:
# the jail reports the same hosts as `mailwarden regex` (one engine) ---
F2BL=/usr/lib/python3/dist-packages/fail2ban/tests/files/logs
if [ -d /etc/fail2ban/filter.d ] && [ -f "$F2BL/sshd" ]; then
    MC=$TMP/mlconf
    mkdir -p "$MC"
    cp -r /etc/fail2ban/filter.d "$MC/"
    cp "$CONF/mailwarden.conf" "$MC/"
    ips() { python3 -c '
import ipaddress, json, sys
s = set()
for l in sys.stdin:
    o = json.loads(l)
    h = o.get(sys.argv[1])
    try: s.add(str(ipaddress.ip_address(h)))
    except ValueError: pass            # names are not resolved by the daemon
print(" ".join(sorted(s)))' "$1"; }
    for f in 'sshd[mode=aggressive]' mongodb-auth slapd ejabberd-auth; do
        log=${f%%\[*}
        grep -v '^#' "$F2BL/$log" | grep -v '^$' > "$TMP/ml-$log.log"
        printf '[DEFAULT]\nignoreip =\nignoreself = false\nmaxretry = 1\nfindtime = 365d\nbantime = 1\nbanaction = null\n[ml]\nenabled = true\nfilter = %s\nlogpath = /dev/null\n' "$f" > "$MC/jail.conf"
        want=$(TZ=CET-01CEST-02,M3.5.0,M10.5.0 "$MW" regex --json --now @1124013600 --filter-dir "$MC/filter.d" "$TMP/ml-$log.log" "$f" 2>/dev/null | ips host)
        got=$(TZ=CET-01CEST-02,M3.5.0,M10.5.0 "$MW" simulate -c "$MC" --now @1124013600 --json "$TMP/ml-$log.log" 2> "$TMP/ml.err" | ips ip)
        if [ -n "$want" ] && [ "$want" = "$got" ]; then pass "multiline-f2b-jail-as-regex/$f ($(echo "$want" | wc -w) hosts)"
        else fail "multiline-f2b-jail-as-regex/$f" "regex: $want | simulate: $got $(head -c 300 "$TMP/ml.err")"; fi
    done
    # a host that only an earlier line of the connection names (F-MLFID): sshd's
    # "Connection from" + "Disconnecting: Too many authentication failures" pair
    cat > "$TMP/ml-pair.log" <<'EOF'
Aug 14 11:58:58 h sshd[2001]: Connection from 192.0.2.201 port 5000 on 10.0.0.1 port 22
Aug 14 11:58:59 h sshd[2001]: Disconnecting: Too many authentication failures for root [preauth]
EOF
    printf '[DEFAULT]\nignoreip =\nignoreself = false\nmaxretry = 1\nfindtime = 365d\nbantime = 1\nbanaction = null\n[ml]\nenabled = true\nfilter = sshd\nlogpath = /dev/null\n' > "$MC/jail.conf"
    # banned at the failure line (11:58:59), not at the connection line, which is F-NOFAIL
    check_eq multiline-f2b-mlfid-host '{"time":1124020739,"jail":"ml","ip":"192.0.2.201","bantime":1,"failures":1}' \
        "$(TZ=UTC "$MW" simulate -c "$MC" --now 2005-08-14T12:00:00 --json "$TMP/ml-pair.log" 2>&1)"
    head -1 "$TMP/ml-pair.log" > "$TMP/ml-conn.log"
    check_eq multiline-f2b-nofail-alone "" \
        "$(TZ=UTC "$MW" simulate -c "$MC" --now 2005-08-14T12:00:00 --json "$TMP/ml-conn.log" 2>&1)"
else
    skip multiline-f2b-jail-as-regex "fail2ban (filter.d and its sample logs) is not installed"
fi

finish
