#!/bin/bash
# `mailwarden summary --html`: one self-contained file (no scripts, no external assets),
# checked in a real headless Chromium: the DOM has the chart SVGs with one bar group per hour
# that had traffic and one per day, and screenshots at 1280 and 390 px width are not blank.
# Set SHOT_DIR to keep the screenshots.
SUITE=summary_html
source "$(dirname "$0")/../lib.sh"

LOG="$DATA/mail-traditional.log.gz"
"$MW" summary --now 2026-11-23 --html "$TMP/r.html" --json "$LOG" > "$TMP/r.json" 2>"$TMP/err" \
    || fail generate "exit status $?: $(head -c 300 "$TMP/err")"
check_cmd html-written test -s "$TMP/r.html"
check_nogrep no-script '<script' "$TMP/r.html"
check_nogrep no-external-assets '(src|href)="(https?:)?//' "$TMP/r.html"
check_grep viewport-meta 'name="viewport"' "$TMP/r.html"
# --html - : the HTML on stdout instead of the text report
"$MW" summary --now 2026-11-23 --html - "$LOG" 2>/dev/null | head -c 15 > "$TMP/head"
check_eq html-stdout '<!DOCTYPE html>' "$(cat "$TMP/head")"

# log text is escaped
printf '%s\n' 'Nov 22 21:00:00 mail postfix/smtpd[1]: warning: <script>alert(1)</script> & "x"' \
    'Nov 22 21:00:01 mail postfix/master[2]: <img src=x onerror=alert(1)>' > "$TMP/evil.log"
"$MW" summary --now 2026-11-23 --html "$TMP/evil.html" "$TMP/evil.log" >/dev/null 2>&1
check_nogrep escaped-script '<script' "$TMP/evil.html"
check_nogrep escaped-img '<img' "$TMP/evil.html"
check_grep escaped-visible '&lt;script&gt;alert' "$TMP/evil.html"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    skip chromium "chromium not installed (scripts/deps.sh installs it)"
    finish
fi
chrome() {
    local prof
    prof=$(mktemp -d "$TMP/prof.XXXXXX")
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$prof" "$@" 2>/dev/null
}
chrome --dump-dom "file://$TMP/r.html" > "$TMP/dom.html"
hours=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for h in d["per_hour"] if sum(h[k] for k in ("received","delivered","deferred","bounced","rejected"))))' "$TMP/r.json")
days=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["per_day"]))' "$TMP/r.json")
check_grep dom-chart-hour '<svg id="chart-hour"' "$TMP/dom.html"
check_grep dom-chart-day '<svg id="chart-day"' "$TMP/dom.html"
check_grep dom-chart-domains '<svg id="chart-domains"' "$TMP/dom.html"
check_eq dom-one-bar-per-hour-with-traffic "$hours" "$(grep -o '<g class="bar" data-hour="[0-9]*"' "$TMP/dom.html" | sort -u | wc -l)"
check_eq dom-bar-hour-21 1 "$(grep -c '<g class="bar" data-hour="21"' "$TMP/dom.html")"
check_eq dom-five-rects-per-hour-bar 5 "$(grep -o '<g class="bar" data-hour="21">.*</g>' "$TMP/dom.html" | grep -o '<rect' | wc -l)"
check_eq dom-one-bar-per-day "$days" "$(grep -o '<g class="bar" data-day=' "$TMP/dom.html" | wc -l)"

# several hours: the corpus with minutes 12-13 moved to 03h and 14-15 to 09h
zcat "$LOG" | sed -E 's/^(Nov 22) 21:1([23])/\1 03:1\2/; s/^(Nov 22) 21:1([45])/\1 09:1\2/' > "$TMP/multi.log"
"$MW" summary --now 2026-11-23 --html "$TMP/m.html" --json "$TMP/multi.log" > "$TMP/m.json" 2>/dev/null
chrome --dump-dom "file://$TMP/m.html" > "$TMP/mdom.html"
mh=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(str(h["hour"]) for h in d["per_hour"] if sum(h[k] for k in ("received","delivered","deferred","bounced","rejected"))))' "$TMP/m.json")
check_eq multi-hour-input-has-3-hours "3 9 21" "$mh"
check_eq multi-hour-bars "$mh" "$(grep -o '<g class="bar" data-hour="[0-9]*"' "$TMP/mdom.html" | grep -o '[0-9]*' | sed 's/^0//' | tr '\n' ' ' | sed 's/ $//')"

for w in 1280 390; do
    png="$TMP/shot-$w.png"
    chrome --screenshot="$png" --window-size=$w,2000 "file://$TMP/r.html" >/dev/null
    if out=$(python3 - "$png" $w <<'PYEOF' 2>&1
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, t = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif t == b"IDAT":
        idat += body
    pos += 12 + n
assert w == int(sys.argv[2]), "width %d" % w
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}.get(ctype, 4)
stride = w * bpp + 1
rows = [raw[i * stride + 1:(i + 1) * stride] for i in range(h)]
# filtered scanlines: count distinct pixel chunks on unfiltered rows (filter 0) and overall byte variety
distinct = set()
for r in rows[::7]:
    for x in range(0, len(r), bpp * 5):
        distinct.add(r[x:x + bpp])
variety = len(set(raw))
assert variety > 20 and len(distinct) > 10, "blank-looking screenshot (%d byte values, %d pixels)" % (variety, len(distinct))
print("ok", w, h, variety, len(distinct))
PYEOF
    ); then pass "screenshot-$w-not-blank"; else fail "screenshot-$w-not-blank" "$out"; fi
    [ -n "${SHOT_DIR:-}" ] && cp "$png" "$SHOT_DIR/"
done
finish
