#!/bin/bash
# Agreement of `mailwarden summary` with the real pflogsumm (Debian package, /usr/sbin/pflogsumm)
# on every corpus log, in several option sets. Compared section by section:
#   - Grand Totals (and the smtpd block of --smtpd-stats): line for line, exactly;
#   - every other pflogsumm section: line for line, except that within a run of rows with
#     the same count the rows are compared as a set (pflogsumm's order of equal-count rows
#     changes from run to run: Perl hash order);
#   - our sections after "Beyond pflogsumm" are not pflogsumm's and are not compared here.
# A difference is allowed only when listed in DEVIATIONS below (log, options, pflogsumm's
# line, our line, and why pflogsumm is wrong); the README repeats the list.
# Also: the RFC 3339 copy of the corpus gives the same report as the traditional copy
# (TZ=UTC), and --json's totals equal the text report's Grand Totals.
SUITE=summary_pflogsumm
source "$(dirname "$0")/../lib.sh"

PFLOGSUMM=${PFLOGSUMM:-/usr/sbin/pflogsumm}
if [ ! -x "$PFLOGSUMM" ]; then
    skip all "pflogsumm not installed (scripts/deps.sh installs it)"
    finish
fi

# ---- explicit deviations: LOG|OPTIONS|pflogsumm line|mailwarden line|why ----
# (the lines are matched exactly; LOG is a comma-separated list of corpus names, "*" any)
cat > "$TMP/deviations" <<'EOF'
traditional,rfc3339|--smtpd-stats|      34        0:00:01          0s         1s   |      34        0:00:01          0s         1s   ::1|SMTPD connections from IPv6 clients: the 34 "postfix/smtpd[N]: disconnect from unknown[::1] ehlo=... commands=N" lines of mail-traditional.log / mail-rfc3339.log (e.g. "Nov 22 21:12:13 mail postfix/smtpd[29008]: disconnect from unknown[::1] ..."): pflogsumm's gimme_domain() only splits "name[a.b.c.d]" when the brackets hold a dotted quad; for "unknown[::1] ehlo=1 ..." its fallback regex is anchored at the line end and fails, so the host is undefined (Perl prints "Use of uninitialized value $hostID") and the row has an empty host. mailwarden names the client ::1.
postlog|--smtpd-stats|      33        0:00:00          0s         0s   |      33        0:00:00          0s         0s   ::1|the same IPv6 case: the 33 "postfix/smtpd[N]: disconnect from unknown[::1] ..." lines of mail-postlog.log
EOF

cat > "$TMP/compare.py" <<'PYEOF'
import re, sys
pf_path, mw_path, dev_path, logname, opts = sys.argv[1:6]

def sections(path, cut_ours):
    lines = open(path, encoding="latin-1").read().split("\n")
    if cut_ours:
        for i, l in enumerate(lines):
            if l == "Beyond pflogsumm":
                lines = lines[:i]
                break
    secs, order, cur = {}, [], "(head)"
    secs[cur] = []
    order.append(cur)
    i = 0
    while i < len(lines):
        l = lines[i]
        if i + 1 < len(lines) and l and set(lines[i + 1]) == {"-"} and len(lines[i + 1]) == len(l):
            cur = l.strip()
            secs[cur] = []
            order.append(cur)
            i += 2
            continue
        m = re.match(r"^(\S.*): none$", l)
        if m:
            cur = m.group(1)
            secs[cur] = ["(none)"]
            order.append(cur)
            i += 1
            continue
        if l.strip() == "smtpd" and cur == "Grand Totals":
            cur = "Grand Totals/smtpd"
            secs[cur] = []
            order.append(cur)
            i += 1
            continue
        if l.strip():
            secs[cur].append(l)
        i += 1
    return secs, order

def canon(rows):
    """sort every run of consecutive rows that share indentation and leading count"""
    out, run, key = [], [], None
    for r in rows:
        m = re.match(r"^(\s*)(\d+)([ km])  ", r)
        k = (m.group(1), m.group(2) + m.group(3)) if m else None
        if k is not None and k == key:
            run.append(r)
            continue
        out.extend(sorted(run))
        run, key = [r], k
    out.extend(sorted(run))
    return out

devs = []
for l in open(dev_path):
    l = l.rstrip("\n")
    if not l or l.startswith("#"):
        continue
    log, o, pfl, mwl, why = l.split("|", 4)
    if (log == "*" or logname in log.split(",")) and o == opts:
        devs.append((pfl, mwl))

pf, pforder = sections(pf_path, False)
mw, mworder = sections(mw_path, True)
bad = []
used = set()
for name in pforder:
    if name not in mw:
        bad.append("section missing: %s" % name)
        continue
    a, b = list(pf[name]), list(mw[name])
    for i, r in enumerate(a):
        for pfl, mwl in devs:
            if r == pfl:
                a[i] = mwl
                used.add(pfl)
    if name.startswith("Grand Totals") or name.startswith("Per-Hour") or name.startswith("Per-Day"):
        ok = a == b
    else:
        ok = canon(a) == canon(b)
    if not ok:
        ca, cb = (a, b) if name.startswith("Grand") else (canon(a), canon(b))
        diff = [("pflogsumm: " + x, "mailwarden: " + y) for x, y in zip(ca, cb) if x != y][:3]
        if len(ca) != len(cb):
            diff.append(("pflogsumm rows %d" % len(ca), "mailwarden rows %d" % len(cb)))
        bad.append("section %s differs: %s" % (name, diff))
if [n for n in pforder if n in mworder] != [n for n in mworder if n in pf]:
    bad.append("section order differs: %s vs %s" % (pforder, mworder))
for pfl, mwl in devs:
    if pfl not in used:
        bad.append("listed deviation not seen (remove it?): %r" % pfl)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PYEOF

LOGS="traditional rfc3339 postlog postlog-dovecot"
OPTSETS=("" "--verbose-msg-detail" "--smtpd-stats" "--ignore-case" "--problems-first" "--iso-date-time" "--zero-fill")

for log in $LOGS; do
    gz="$DATA/mail-$log.log.gz"
    [ -f "$gz" ] || { fail "$log/present" "missing $gz"; continue; }
    zcat "$gz" > "$TMP/$log.log"
    for opts in "${OPTSETS[@]}"; do
        name="$log/${opts:-default}"
        # pflogsumm reads the file; its year guess does not matter for a one-day log
        $PFLOGSUMM $opts "$TMP/$log.log" > "$TMP/pf.txt" 2>/dev/null
        if ! "$MW" summary $opts --now 2026-11-23 "$TMP/$log.log" > "$TMP/mw.txt" 2>"$TMP/mw.err"; then
            fail "$name" "mailwarden summary failed: $(head -c 300 "$TMP/mw.err")"
            continue
        fi
        if out=$(python3 "$TMP/compare.py" "$TMP/pf.txt" "$TMP/mw.txt" "$TMP/deviations" "$log" "$opts" 2>&1); then
            pass "$name"
        else
            fail "$name" "$(echo "$out" | head -c 1500)"
        fi
    done
    # compressed input gives the same report
    "$MW" summary --now 2026-11-23 "$gz" > "$TMP/mwgz.txt" 2>/dev/null
    "$MW" summary --now 2026-11-23 "$TMP/$log.log" > "$TMP/mwplain.txt" 2>/dev/null
    check_eq "$log/gzip-same" "$(sed '/^Input$/,$d' "$TMP/mwplain.txt" | md5sum)" "$(sed '/^Input$/,$d' "$TMP/mwgz.txt" | md5sum)"
    # one thread and many threads (chunk merging) give the same report
    "$MW" summary --threads 1 --now 2026-11-23 "$TMP/$log.log" > "$TMP/t1.txt" 2>/dev/null
    check_eq "$log/threads-same" "$(md5sum < "$TMP/mwplain.txt")" "$(md5sum < "$TMP/t1.txt")"
    # --json totals equal the text Grand Totals
    "$MW" summary --json --now 2026-11-23 "$TMP/$log.log" > "$TMP/mw.json" 2>/dev/null
    if out=$(python3 - "$TMP/mw.json" "$TMP/pf.txt" <<'PYEOF' 2>&1
import json, re, sys
d = json.load(open(sys.argv[1]))["totals"]
txt = open(sys.argv[2], encoding="latin-1").read()
def units(v):
    if v > 536870912: return "%dm" % (v // 1048576)
    if v > 524288: return "%dk" % (v // 1024)
    return "%d" % v
want = {"received": "received", "delivered": "delivered", "forwarded": "forwarded", "bounced": "bounced",
        "reject warnings": "reject_warnings", "held": "held", "bytes received": "bytes_received",
        "bytes delivered": "bytes_delivered", "senders": "senders", "sending hosts/domains": "sending_domains",
        "recipients": "recipients", "recipient hosts/domains": "recipient_domains"}
bad = []
for label, key in want.items():
    m = re.search(r"^\s+(\d+[km]?)\s+%s$" % re.escape(label), txt, re.M)
    if not m or m.group(1) != units(d[key]):
        bad.append("%s: pflogsumm %s, json %s" % (label, m and m.group(1), d[key]))
m = re.search(r"^\s+(\d+)\s+rejected \((\d+)%\)$", txt, re.M)
if not m or int(m.group(1)) != d["rejected"] or int(m.group(2)) != d["rejected_pct"]:
    bad.append("rejected")
m = re.search(r"^\s+(\d+)\s+deferred(?:\s+\((\d+)\s+deferrals\))?$", txt, re.M)
if not m or int(m.group(1)) != d["deferred"] or int(m.group(2) or 0) != d["deferrals"]:
    bad.append("deferred")
if bad:
    print("; ".join(bad)); sys.exit(1)
PYEOF
    ); then pass "$log/json-totals"; else fail "$log/json-totals" "$out"; fi
done

# The RFC 3339 copy holds the same messages as the traditional one: same report (TZ=UTC).
"$MW" summary --now 2026-11-23 "$TMP/traditional.log" 2>/dev/null | sed '/^Input$/,$d' > "$TMP/a.txt"
"$MW" summary --now 2026-11-23 "$TMP/rfc3339.log" 2>/dev/null | sed '/^Input$/,$d' > "$TMP/b.txt"
if cmp -s "$TMP/a.txt" "$TMP/b.txt"; then pass rfc3339-equals-traditional
else fail rfc3339-equals-traditional "$(diff "$TMP/a.txt" "$TMP/b.txt" | head -5)"; fi
"$MW" summary --json --now 2026-11-23 "$TMP/traditional.log" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("input"); print(json.dumps(d, sort_keys=True))' > "$TMP/a.json"
"$MW" summary --json --now 2026-11-23 "$TMP/rfc3339.log" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("input"); print(json.dumps(d, sort_keys=True))' > "$TMP/b.json"
if cmp -s "$TMP/a.json" "$TMP/b.json"; then pass rfc3339-equals-traditional-json
else fail rfc3339-equals-traditional-json "JSON differs"; fi

# Beyond pflogsumm, on the corpus (ground truth in /work/shared/corpus/README.md):
# 3 expired messages, Dovecot logins 74, auth: failure lines 122.
"$MW" summary --json --now 2026-11-23 "$TMP/traditional.log" > "$TMP/t.json" 2>/dev/null
check_eq extras/expired 3 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["expired"])' "$TMP/t.json")"
check_eq extras/dovecot-logins 74 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dovecot"]["logins"])' "$TMP/t.json")"
check_eq extras/dovecot-auth-failures 122 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dovecot"]["auth_failures"])' "$TMP/t.json")"
check_eq extras/sasl-failures 56 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sasl"]["failures"])' "$TMP/t.json")"
finish
