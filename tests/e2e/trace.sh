#!/bin/bash
# End-to-end: `mailwarden trace` on the real corpus (the stories of the corpus README's
# "Interesting queue IDs", checked against tests/data/corpus/traces-expected.txt), on a
# hand-built two-hop log (content filter on 127.0.0.1:10025 -> re-injection -> another
# host whose log is also given), and on hostile lines (queue IDs in a Subject, a HELO and a
# forged remote reply; addresses with shell and regex metacharacters).
source "$(dirname "$0")/../lib.sh"
NOW="--now 2026-11-23"
TRAD="$DATA/mail-traditional.log.gz"
MX="$DATA/trace/twohop-mx.log"
MX2="$DATA/trace/twohop-mx2.log"
EXP="$DATA/corpus/traces-expected.txt"
zcat "$TRAD" > "$TMP/trad.log"

t() { "$MW" trace $NOW "$@"; }
# has NAME FILE FIXED-STRING : the text output holds this exact text
has() { if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "no '$3' in $(basename "$2")"; fi; }
hasnt() { if grep -qF -- "$3" "$2"; then fail "$1" "unexpected '$3' in $(basename "$2")"; else pass "$1"; fi; }

# ---- the corpus stories (text) ----
for q in 5876D1045C9 BFF7F10456F 0F12A1045D2 1140D1045AD 84D35104599 DE34110459A 3FBFB10459B \
         1A0BB104599 83C0C1045BE 69FC51045AE A70BE1045DB 4jXhgr4zzjz821f 4jXhgw1gCcz821p \
         4jXhgS3WcNz81xv 4jXhgQ5Ft5z821W; do
    t "$q" "$TRAD" > "$TMP/$q.txt" 2> "$TMP/$q.err"
    check_eq "corpus-$q-exit" 0 $?
    check_eq "corpus-$q-no-warnings" "" "$(cat "$TMP/$q.err")"
done
o=$TMP/5876D1045C9.txt
has story-5876-header "$o" "== 5876D1045C9 on mail: 2 delivered, 1 bounced"
has story-5876-client "$o" "from unknown[::1], SASL PLAIN login dave@example.net"
has story-5876-bounced "$o" "to <nobody3@remote-bounce.test>: bounced, 1 attempt"
has story-5876-dsn "$o" "dsn 5.1.1: permanent failure: not retried; the sender gets a non-delivery notification (bad destination mailbox address (no such user))"
has story-5876-reply "$o" "127.0.0.4[127.0.0.4] said: 550 5.1.1 Recipient address rejected: User unknown in relay recipient table (after RCPT TO)"
has story-5876-lmtp "$o" "to <alice@example.com>: delivered, 1 attempt"
has story-5876-ndn "$o" "child     5E5531045CB (non-delivery notification): below"
has story-5876-ndn-story "$o" "== 5E5531045CB on mail (non-delivery notification of 5876D1045C9): 1 delivered"
has story-5876-connect "$o" "postfix/smtps/smtpd[29463]: connect from unknown[::1]"
has story-5876-disconnect "$o" "postfix/smtps/smtpd[29463]: disconnect from unknown[::1]"
has story-5876-delays "$o" "delays 0.01/0/0/0.01: 0.01s before the queue manager"
o=$TMP/BFF7F10456F.txt
has story-bff7-header "$o" "== BFF7F10456F on mail: 1 expired"
has story-bff7-attempts "$o" "to <it11@remote-defer.test>: expired (too long in the queue; returned to the sender), 8 attempts"
has story-bff7-dsn "$o" "dsn 4.7.1: temporary failure: Postfix keeps the message and tries again"
has story-bff7-delay-child "$o" "== 4jXhfp3NcCz820p on mail (delay notification of BFF7F10456F): 1 delivered"
has story-bff7-ndn-child "$o" "== 4jXhlm5n0wz81yC on mail (non-delivery notification of BFF7F10456F): 1 delivered"
has story-bff7-expired "$o" "expired   2026-11-22 21:19:16"
o=$TMP/0F12A1045D2.txt
has story-0f12-header "$o" "== 0F12A1045D2 on mail: 2 delivered"
has story-0f12-it8 "$o" "to <it8@remote-flaky.test>: delivered, 4 attempts"
has story-0f12-john9 "$o" "to <john9@remote-flaky.test>: delivered, 4 attempts"
check_eq story-0f12-deferred-lines 6 "$(grep -c 'status=deferred' "$o")"
o=$TMP/1140D1045AD.txt
has story-1140-header "$o" "== 1140D1045AD on mail: 2 deleted"
has story-1140-postsuper "$o" "by postsuper -d (deleted by an administrator)"
has story-1140-attempts "$o" "to <john37@remote-down.test>: deleted by postsuper, 3 attempts"
has story-1140-dsn "$o" "dsn 4.4.1: temporary failure"
o=$TMP/84D35104599.txt
has story-84d3-held "$o" "held      2026-11-22 21:12:53 (header/body checks), released 2026-11-22 21:14:34 by postsuper -H"
has story-84d3-delivered "$o" "to <bob@example.com>: delivered, 1 attempt"
o=$TMP/DE34110459A.txt
has story-de34-header "$o" "== DE34110459A on mail: 1 deleted"
has story-de34-held "$o" "held      2026-11-22 21:12:53 (header/body checks)"
has story-de34-sender "$o" "sender    <news@partner.test> (from the cleanup line"
has story-de34-rcpt "$o" "to <bob@example.com>: deleted by postsuper, 0 attempts"
o=$TMP/3FBFB10459B.txt
has story-3fbf-header "$o" "== 3FBFB10459B on mail: 1 discarded"
has story-3fbf-rcpt "$o" "to <carol@example.com>: discarded, 0 attempts"
check_eq story-3fbf-no-delivery 0 "$(grep -c 'status=' "$o")"
o=$TMP/1A0BB104599.txt
has story-1a0b-header "$o" "== 1A0BB104599 on mail: 1 delivered"
has story-1a0b-warn-line "$o" "1A0BB104599: warning: header Subject: Odd offer [WARNME]"
o=$TMP/83C0C1045BE.txt
has story-83c0-bounced "$o" "to <full@example.com>: bounced, 1 attempt"
has story-83c0-quota "$o" "dsn 5.2.2: permanent failure: not retried; the sender gets a non-delivery notification (mailbox full (over quota))"
has story-83c0-ndn "$o" "== 8B9AB1045C3 on mail (non-delivery notification of 83C0C1045BE): 1 delivered"
has story-83c0-ndn-rcpt "$o" "to <sender@partner.test>: delivered"
o=$TMP/69FC51045AE.txt
has story-69fc-bounced "$o" "to <ops31@remote-datareject.test>: bounced, 1 attempt"
has story-69fc-data "$o" "554 5.7.1 Message rejected as spam by content filter (after end of DATA)"
has story-69fc-ndn "$o" "== 6FEEB1045B0 on mail (non-delivery notification of 69FC51045AE)"
o=$TMP/A70BE1045DB.txt
has story-a70b-forward "$o" "child     B06201045DC (forwarded): below"
has story-a70b-child "$o" "== B06201045DC on mail (forwarded copy of A70BE1045DB): 1 delivered"
has story-a70b-child-rcpt "$o" "to <forwarded-user@remote-ok.test> (for <remotefwd@mail.example.test>): delivered"
o=$TMP/4jXhgr4zzjz821f.txt
has story-gr4z-header "$o" "== 4jXhgr4zzjz821f on mail: 2 deferred"
has story-gr4z-queued "$o" "queued    still in the queue at the end of the log"
has story-gr4z-attempts "$o" "to <ops39@remote-defer.test>: deferred, still in the queue at the end of the log, 7 attempts"
has story-gr4z-delay "$o" "== 4jXhkc4R8Cz81xw on mail (delay notification of 4jXhgr4zzjz821f): 1 delivered"
o=$TMP/4jXhgw1gCcz821p.txt
has story-gw1g-attempts "$o" "to <john10@remote-down.test>: deferred, still in the queue at the end of the log, 7 attempts"
has story-gw1g-refused "$o" "relay none: connect to 127.0.0.5[127.0.0.5]:2525: Connection refused"
has story-gw1g-delay "$o" "== 4jXhkc420Dz81xr on mail (delay notification of 4jXhgw1gCcz821p)"
o=$TMP/4jXhgS3WcNz81xv.txt
has story-gs3w-client "$o" "from unknown[127.0.0.52], SASL PLAIN login carol@example.com"
has story-gs3w-delivered "$o" "to <drop@remote-ok.test>: delivered, 1 attempt"
o=$TMP/4jXhgQ5Ft5z821W.txt
has story-gq5f-header "$o" "== 4jXhgQ5Ft5z821W on mail: 1 held"
has story-gq5f-rcpt "$o" "to <bob@example.com>: held (in the hold queue)"

# every line of the reference tracer (except Dovecot's, which carry no queue ID slot) is in
# our story, and we add nothing but the smtpd session lines
python3 - "$EXP" "$TMP" > "$TMP/ref.out" <<'EOF'
import re, sys
ref, tmp = sys.argv[1], sys.argv[2]
for sec in re.split(r'\n(?=== )', open(ref).read().strip()):
    lines = sec.split('\n')
    q = lines[0].split()[1].rstrip(':')
    want = {l.strip() for l in lines[1:] if l.strip() and not l.strip().startswith('==') and ' dovecot: ' not in l}
    got = {l.strip() for l in open(f'{tmp}/{q}.txt') if re.match(r'\s+Nov ', l)}
    extra = [e for e in got - want if not re.search(r'smtpd\[\d+\]: (connect from|disconnect from|Anonymous TLS|NOQUEUE)', e)]
    print(q, len(want - got), len(extra))
EOF
while read -r q missing extra; do
    check_eq "reference-$q-all-lines" 0 "$missing"
    check_eq "reference-$q-only-session-extra" 0 "$extra"
done < "$TMP/ref.out"
check_eq reference-15-ids 15 "$(wc -l < "$TMP/ref.out")"

# ---- the same stories in --json ----
for q in 5876D1045C9 BFF7F10456F 0F12A1045D2 1140D1045AD 84D35104599 DE34110459A 3FBFB10459B \
         1A0BB104599 83C0C1045BE 69FC51045AE A70BE1045DB 4jXhgr4zzjz821f 4jXhgw1gCcz821p \
         4jXhgS3WcNz81xv 4jXhgQ5Ft5z821W; do
    t --json "$q" "$TRAD" > "$TMP/$q.json"
done
python3 - "$TMP" > "$TMP/json.out" <<'EOF'
import json, sys
tmp = sys.argv[1]
def docs(q): return [json.loads(l) for l in open(f'{tmp}/{q}.json')]
def rc(d): return sorted((r['to'], r['state'], r['attempts'], r['dsn']) for r in d['recipients'])
def kids(d): return sorted((c['queue_id'], c['via'], c['found']) for c in d['children'])
checks = {
 '5876D1045C9': ('mixed', [('alice@example.com','delivered',1,'2.0.0'),('friend8@remote-ok.test','delivered',1,'2.0.0'),('nobody3@remote-bounce.test','bounced',1,'5.1.1')], [('5E5531045CB','non-delivery notification',True)]),
 'BFF7F10456F': ('expired', [('it11@remote-defer.test','expired',8,'4.7.1')], [('4jXhfp3NcCz820p','delay notification',True),('4jXhlm5n0wz81yC','non-delivery notification',True)]),
 '0F12A1045D2': ('delivered', [('it8@remote-flaky.test','delivered',4,'2.0.0'),('john9@remote-flaky.test','delivered',4,'2.0.0')], []),
 '1140D1045AD': ('deleted', [('john37@remote-down.test','deleted',3,'4.4.1'),('ops6@remote-down.test','deleted',3,'4.4.1')], []),
 '84D35104599': ('delivered', [('bob@example.com','delivered',1,'2.0.0')], []),
 'DE34110459A': ('deleted', [('bob@example.com','deleted',0,None)], []),
 '3FBFB10459B': ('discarded', [('carol@example.com','discarded',0,None)], []),
 '1A0BB104599': ('delivered', [('alice@example.com','delivered',1,'2.0.0')], []),
 '83C0C1045BE': ('bounced', [('full@example.com','bounced',1,'5.2.2')], [('8B9AB1045C3','non-delivery notification',True)]),
 '69FC51045AE': ('bounced', [('ops31@remote-datareject.test','bounced',1,'5.7.1')], [('6FEEB1045B0','non-delivery notification',True)]),
 'A70BE1045DB': ('delivered', [('remotefwd@mail.example.test','delivered',1,'2.0.0')], [('B06201045DC','forwarded',True)]),
 '4jXhgr4zzjz821f': ('deferred', [('ops39@remote-defer.test','deferred',7,'4.7.1'),('ops44@remote-defer.test','deferred',7,'4.7.1')], [('4jXhkc4R8Cz81xw','delay notification',True)]),
 '4jXhgw1gCcz821p': ('deferred', [('john10@remote-down.test','deferred',7,'4.4.1')], [('4jXhkc420Dz81xr','delay notification',True)]),
 '4jXhgS3WcNz81xv': ('delivered', [('drop@remote-ok.test','delivered',1,'2.0.0')], []),
 '4jXhgQ5Ft5z821W': ('held', [('bob@example.com','held',0,None)], []),
}
for q, (state, rcpts, ks) in checks.items():
    ds = docs(q)
    d = ds[0]
    ok = (d['queue_id'] == q and d['host'] == 'mail' and d['state'] == state and rc(d) == sorted(rcpts)
          and kids(d) == sorted(ks) and len(ds) == 1 + len(ks) and d['parent'] is None)
    print(q, 'ok' if ok else 'BAD', d['state'], rc(d), kids(d), len(ds))
d = docs('5876D1045C9')[0]
print('5876-fields', 'ok' if (d['sender'] == 'dave@example.net' and d['size'] == 2551 and d['nrcpt'] == 3
      and d['message_id'] == '179538200730.28914.11370309995122755351@example.example'.replace('example.example', 'example.net')
      and d['client']['ip'] == '::1' and d['client']['sasl_username'] == 'dave@example.net'
      and d['client']['service'] == 'postfix/smtps/smtpd' and d['origin'] == 'smtpd' and d['finished']
      and any('connect from unknown[::1]' in l for l in d['lines'])) else 'BAD')
b = [r for r in d['recipients'] if r['to'] == 'nobody3@remote-bounce.test'][0]
print('5876-bounce-rcpt', 'ok' if (b['dsn_class'] == 'permanent' and b['relay'] == '127.0.0.4[127.0.0.4]:2525'
      and b['reply'].startswith('host 127.0.0.4[127.0.0.4] said: 550 5.1.1') and b['delays'] ==
      {'before_qmgr': 0.01, 'in_qmgr': 0.0, 'conn_setup': 0.0, 'transmission': 0.01} and b['delay'] == 0.02) else 'BAD')
n = docs('5876D1045C9')[1]
print('5876-child-doc', 'ok' if (n['queue_id'] == '5E5531045CB' and n['parent'] == {'queue_id': '5876D1045C9', 'host': 'mail', 'via': 'non-delivery notification'}
      and n['sender'] == '' and n['origin'] == 'notification') else 'BAD')
e = docs('BFF7F10456F')[0]['recipients'][0]
print('bff7-last', 'ok' if (e['last_attempt'] == '2026-11-22T21:19:16+00:00' and e['dsn_class'] == 'temporary') else 'BAD')
q = docs('4jXhgr4zzjz821f')[0]
print('gr4z-unfinished', 'ok' if (not q['finished'] and q['state'] == 'deferred') else 'BAD')
EOF
while read -r name res rest; do
    if [ "$res" = ok ]; then pass "json-$name"; else fail "json-$name" "$rest"; fi
done < "$TMP/json.out"
check_eq json-checks 20 "$(wc -l < "$TMP/json.out")"

# ---- the same answers from a plain (mapped, pread search) file and from the .gz stream ----
for w in 5876D1045C9 BFF7F10456F 4jXhgr4zzjz821f carol@example.com '<179538197353.28914.3314716402558538163@partner.test>'; do
    t -v "$w" "$TRAD" > "$TMP/s.txt"; t -v "$w" "$TMP/trad.log" > "$TMP/m.txt"
    if cmp -s "$TMP/s.txt" "$TMP/m.txt"; then pass "stream-equals-mapped-$w"; else fail "stream-equals-mapped-$w" "$(diff "$TMP/s.txt" "$TMP/m.txt" | head -3)"; fi
done
t 5876D1045C9 --threads 1 "$TMP/trad.log" > "$TMP/t1.txt"; t 5876D1045C9 "$TMP/trad.log" > "$TMP/t2.txt"
check_cmd threads-1-same cmp -s "$TMP/t1.txt" "$TMP/t2.txt"

# stdin: read once, searched in several passes (copied to a temporary file)
zcat "$TRAD" | t 5876D1045C9 - > "$TMP/stdin.txt"
check_cmd stdin-equals-file cmp -s "$TMP/stdin.txt" "$TMP/5876D1045C9.txt"
# a rotated family split in the middle of a story (the smtpd session starts in mail.log.1)
head -n 2 "$MX" > "$TMP/mail.log.1"; tail -n +3 "$MX" > "$TMP/mail.log"
t --rotated 1A2B3C4D5E "$TMP/mail.log" > "$TMP/rot.txt"
has rotated-connect-in-older-file "$TMP/rot.txt" "postfix/smtpd[1001]: connect from mail.sender.test[192.0.2.10]"
has rotated-story "$TMP/rot.txt" "== 6F7E8D9C0B on mx (next hop (queued as) of 1A2B3C4D5E): 2 delivered"
t --rotated mallory@evil.test "$TMP/mail.log" > "$TMP/rot2.txt"
has rotated-address "$TMP/rot2.txt" "7B7B7B7B7B  <mallory@evil.test> -> <dave@example.org>: delivered"
# the systemd journal (same messages as the RFC 3339 log): same stories
JR=/lib/systemd/systemd-journal-remote
if [ -x "$JR" ]; then
    python3 "$TOP/tests/tools/log2export.py" "$DATA/mail-rfc3339.log.gz" > "$TMP/corpus.export"
    "$JR" -o "$TMP/corpus.journal" - < "$TMP/corpus.export" > /dev/null 2>&1
    "$MW" trace --json BFF7F10456F --journal-file "$TMP/corpus.journal" | python3 -c '
import json, sys
d = [json.loads(l) for l in sys.stdin]
print(len(d), d[0]["state"], d[0]["recipients"][0]["attempts"], [c["found"] for c in d[0]["children"]])' > "$TMP/j.txt"
    check_eq journal-story "3 expired 8 [True, True]" "$(cat "$TMP/j.txt")"
else
    skip journal-story "systemd-journal-remote is not installed"
fi

# ---- address and Message-ID ----
t it11@remote-defer.test "$TRAD" > "$TMP/a.txt"
check_eq addr-it11-lines 1 "$(wc -l < "$TMP/a.txt")"
has addr-it11 "$TMP/a.txt" "BFF7F10456F  <carol@example.com> -> <it11@remote-defer.test>: expired after 8 attempts 4.7.1; delay notification 4jXhfp3NcCz820p, non-delivery notification 4jXhlm5n0wz81yC"
t carol@example.com "$TRAD" > "$TMP/carol.txt"
# reference: distinct queue IDs with carol in from=/to=/orig_to= or a cleanup trailer, plus NOQUEUE rejects
python3 - "$TMP/trad.log" > "$TMP/carol.ref" <<'EOF'
import re, sys
ids, noq = set(), 0
for l in open(sys.argv[1], errors='replace'):
    m = re.search(r'postfix/[\w/-]+\[\d+\]: (\w+): (.*)', l)
    if not m: continue
    q, rest = m.groups()
    if q == 'NOQUEUE':
        if re.search(r'; from=<[^>]*> to=<carol@example\.com>|; from=<carol@example\.com>', rest) and 'reject:' in rest: noq += 1
        continue
    if re.match(r'(from|to)=<carol@example\.com>', rest) or re.search(r', orig_to=<carol@example\.com>', rest) \
       or re.search(r'; from=<[^>]*> to=<carol@example\.com> proto=|; from=<carol@example\.com> ', rest):
        ids.add(q)
print(len(ids), noq)
EOF
read -r nid nnoq < "$TMP/carol.ref"
check_eq addr-carol-messages "$nid" "$(grep -vc '  NOQUEUE  ' "$TMP/carol.txt")"
check_eq addr-carol-noqueue "$nnoq" "$(grep -c '  NOQUEUE  ' "$TMP/carol.txt")"
awk '{ print $1 " " $2 }' "$TMP/carol.txt" > "$TMP/times"
check_cmd addr-newest-first sort -c -r "$TMP/times"
has addr-carol-discarded "$TMP/carol.txt" "3FBFB10459B  <promo@newsletter.test> -> <carol@example.com>: discarded"
t --since '2026-11-22 21:18' carol@example.com "$TRAD" > "$TMP/since.txt"
# a message counts when one of its matching lines is in the window (a retry is enough)
t --json --since '2026-11-22 21:18' carol@example.com "$TRAD" |
    python3 -c 'import json, sys; print(sum(d["last"] < "2026-11-22T21:18" for d in map(json.loads, sys.stdin) if d["parent"] is None))' > "$TMP/since.n"
check_eq addr-since-window 0 "$(cat "$TMP/since.n")"
has addr-since-retried "$TMP/since.txt" "BFF7F10456F  <carol@example.com> -> <it11@remote-defer.test>: expired"
check_cmd addr-since-fewer test "$(wc -l < "$TMP/since.txt")" -lt "$(wc -l < "$TMP/carol.txt")"
t --max 3 carol@example.com "$TRAD" > "$TMP/max.txt"
has addr-max-note "$TMP/max.txt" "older messages not shown"
t -v it11@remote-defer.test "$TRAD" > "$TMP/av.txt"
has addr-verbose-story "$TMP/av.txt" "== BFF7F10456F on mail: 1 expired"
has addr-verbose-child "$TMP/av.txt" "== 4jXhlm5n0wz81yC on mail (non-delivery notification of BFF7F10456F)"
t '<179538197353.28914.3314716402558538163@partner.test>' "$TRAD" > "$TMP/mid.txt"
has msgid-found "$TMP/mid.txt" "84D35104599  <news@partner.test> -> <bob@example.com>: delivered"
check_eq msgid-one 1 "$(wc -l < "$TMP/mid.txt")"
t --json @remote-flaky.test "$TRAD" | python3 -c '
import json, sys
d = [json.loads(l) for l in sys.stdin]
print(len(d), sorted({r["to"].split("@")[1] for x in d for r in x["recipients"]}))' > "$TMP/dom.txt"
check_eq addr-domain "5 ['remote-flaky.test']" "$(cat "$TMP/dom.txt")"

# ---- two hops: this server -> content filter (127.0.0.1:10025) -> re-injection -> mx2 ----
t 1A2B3C4D5E "$MX" "$MX2" > "$TMP/hop.txt"
has hop-reused-note "$TMP/hop.txt" "(queue ID 1A2B3C4D5E was used by 2 messages in the logs given"
has hop-filter-child "$TMP/hop.txt" "== 6F7E8D9C0B on mx (next hop (queued as) of 1A2B3C4D5E): 2 delivered"
has hop-reinject-client "$TMP/hop.txt" "received  2026-11-23 10:00:02 by postfix/reinject/smtpd[1010] from localhost[127.0.0.1]"
has hop-reinject-connect "$TMP/hop.txt" "postfix/reinject/smtpd[1010]: connect from localhost[127.0.0.1]"
has hop-other-host "$TMP/hop.txt" "== 4F00A2B3C1 on mx2 (next hop (queued as) of 6F7E8D9C0B on mx): 1 delivered"
has hop-other-host-delivery "$TMP/hop.txt" "relay virtual: delivered to maildir"
has hop-session-reject "$TMP/hop.txt" "NOQUEUE: reject: RCPT from mail.sender.test[192.0.2.10]: 550 5.1.1 <nobody@example.org>"
has hop-reuse-second "$TMP/hop.txt" "to <frank@far.test>: deferred, still in the queue at the end of the log, 1 attempt"
t 1A2B3C4D5E "$MX" > "$TMP/hop1.txt"
has hop-remote-id "$TMP/hop1.txt" "remote queue ID 4F00A2B3C1 at mx2.example.net[198.51.100.7]:25 (no such message in the logs given): quote it to that server's postmaster"
t 6F7E8D9C0B "$MX" "$MX2" > "$TMP/hop2.txt"
has hop-made-by "$TMP/hop2.txt" "made by   1A2B3C4D5E on mx: 1A2B3C4D5E: to=<bob@example.org>"
t --json 1A2B3C4D5E "$MX" "$MX2" | python3 -c '
import json, sys
d = [json.loads(l) for l in sys.stdin]
ids = [(x["queue_id"], x["host"], (x["parent"] or {}).get("queue_id"), (x["parent"] or {}).get("via")) for x in d]
print(ids)
print(d[0]["children"], d[1]["origin"], d[1]["client"]["ip"], d[3]["recipients"][0]["state"])' > "$TMP/hop.json"
check_eq hop-json-docs "[('1A2B3C4D5E', 'mx', None, None), ('6F7E8D9C0B', 'mx', '1A2B3C4D5E', 'queued as'), ('4F00A2B3C1', 'mx2', '6F7E8D9C0B', 'queued as'), ('1A2B3C4D5E', 'mx', None, None)]" "$(sed -n 1p "$TMP/hop.json")"
check_eq hop-json-links "[{'queue_id': '6F7E8D9C0B', 'host': 'mx', 'via': 'queued as', 'found': True}] hop 127.0.0.1 deferred" "$(sed -n 2p "$TMP/hop.json")"

# ---- hostile input ----
check_nogrep hostile-subject-qid '7B7B7B7B7B' "$TMP/hop.txt"
check_nogrep hostile-helo-qid 'helo=<1A2B3C4D5E>' "$TMP/hop.txt"
t bob@example.org "$MX" "$MX2" > "$TMP/bob.txt"
hasnt hostile-subject-address "$TMP/bob.txt" "7B7B7B7B7B"
check_eq hostile-bob-messages 2 "$(wc -l < "$TMP/bob.txt")"
t dave@example.org "$MX" > "$TMP/dave.txt"
has hostile-real-trailer "$TMP/dave.txt" "7B7B7B7B7B  <mallory@evil.test> -> <dave@example.org>: delivered"
t 8C8C8C8C8C "$MX" "$MX2" > "$TMP/forged.txt"
hasnt hostile-forged-reply-no-hop "$TMP/forged.txt" "== 6F7E8D9C0B"
has hostile-forged-reply-remote-id "$TMP/forged.txt" "remote queue ID 6F7E8D9C0B at mx.remote.test[203.0.113.80]:25"
hasnt hostile-forged-reply-no-parent "$TMP/hop2.txt" "8C8C8C8C8C"
t 'weird.+*?[x]^$|(y)@example.org' "$MX" > "$TMP/weird.txt"
check_eq hostile-regex-literal 1 "$(wc -l < "$TMP/weird.txt")"
has hostile-regex-match "$TMP/weird.txt" "9D9D9D9D9D"
hasnt hostile-regex-no-wildcard "$TMP/weird.txt" "AEAEAEAEAE"
rm -f /tmp/mw-trace-pwned
t '$(touch /tmp/mw-trace-pwned)@example.org' "$MX" > "$TMP/shell.txt"
check_cmd hostile-shell-not-run test ! -e /tmp/mw-trace-pwned
has hostile-shell-literal "$TMP/shell.txt" '<$(touch /tmp/mw-trace-pwned)@example.org>: bounced 5.1.1'
printf 'Nov 23 10:00:00 mx postfix/cleanup[1]: 7B7B7B7B7B: warning: header Subject: \033]0;pwned\007 from x[192.0.2.1]; from=<a@b.test> to=<c@d.test> proto=ESMTP helo=<x>: w\n' > "$TMP/esc.log"
t 7B7B7B7B7B "$TMP/esc.log" > "$TMP/esc.txt"
check_cmd hostile-no-terminal-escapes sh -c "! grep -q \"\$(printf '\\033')\" '$TMP/esc.txt'"
has hostile-escaped "$TMP/esc.txt" 'Subject: \x1b]0;pwned\x07'

# ---- usage ----
"$MW" trace > /dev/null 2>&1; check_eq usage-no-what 2 $?
"$MW" trace foo "$TRAD" > /dev/null 2>&1; check_eq usage-bad-what 2 $?
"$MW" trace '<abc' "$TRAD" > /dev/null 2>&1; check_eq usage-bad-msgid 2 $?
"$MW" trace '<a@b>' --max 0 "$TRAD" > /dev/null 2>&1; check_eq usage-bad-max 2 $?
t 0123456789AB "$TRAD" > "$TMP/none.txt"; check_eq not-found-exit 0 $?
has not-found-text "$TMP/none.txt" "no message found for 0123456789AB"
"$MW" trace 5876D1045C9 /nonexistent/log > /dev/null 2>&1; check_eq unreadable-exit 1 $?
"$MW" help trace | grep -q 'queue ID'; check_eq help 0 $?
finish
