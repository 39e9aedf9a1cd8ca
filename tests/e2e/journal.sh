#!/bin/bash
# End-to-end: the systemd journal as input. Real journal files are built from the corpus with
# Debian's systemd-journal-remote (export format in, journal files out) and read through
# sd-journal; on the same messages the results equal those from the text log.
source "$(dirname "$0")/../lib.sh"
JR=/lib/systemd/systemd-journal-remote
if [ ! -x "$JR" ]; then
    skip journal "systemd-journal-remote is not installed (scripts/deps.sh installs it)"
    finish
fi
NOW=2026-11-22T21:30:00
python3 "$TOP/tests/tools/log2export.py" "$DATA/mail-rfc3339.log.gz" > "$TMP/corpus.export"
mkdir -p "$TMP/jdir"
"$JR" -o "$TMP/jdir/corpus.journal" - < "$TMP/corpus.export" > /dev/null 2>&1
check_cmd journal-file-built test -s "$TMP/jdir/corpus.journal"

"$MW" offenders --now $NOW "$DATA/mail-traditional.log.gz" > "$TMP/text.txt"
"$MW" offenders --journal-file "$TMP/jdir/corpus.journal" > "$TMP/journal.txt" 2> "$TMP/journal.err"
check_eq offenders-journal-exit 0 $?
check_cmd offenders-journal-equals-text cmp "$TMP/text.txt" "$TMP/journal.txt"
"$MW" offenders --journal-file "$TMP/jdir" > "$TMP/jdir.txt"
check_cmd offenders-journal-directory cmp "$TMP/text.txt" "$TMP/jdir.txt"
"$MW" offenders --json --journal-file "$TMP/jdir/corpus.journal" > "$TMP/j.json"
"$MW" offenders --json --now $NOW "$DATA/mail-traditional.log.gz" > "$TMP/t.json"
check_cmd offenders-journal-json-equals-text cmp "$TMP/t.json" "$TMP/j.json"

# matches: only the Dovecot unit -> only Dovecot categories
"$MW" offenders --journal-file "$TMP/jdir/corpus.journal" --journal-match _SYSTEMD_UNIT=dovecot.service > "$TMP/dv.txt"
check_nogrep journal-match-filters 'reject=|postscreen=' "$TMP/dv.txt"
check_grep journal-match-keeps '127\.0\.0\.60 +imap=36' "$TMP/dv.txt"
# OR of two matches = everything again
"$MW" offenders --journal-file "$TMP/jdir/corpus.journal" --journal-match _SYSTEMD_UNIT=dovecot.service \
    --journal-match + --journal-match _SYSTEMD_UNIT=postfix@-.service > "$TMP/or.txt"
check_cmd journal-match-or cmp "$TMP/text.txt" "$TMP/or.txt"
# --since seeks in the journal
"$MW" offenders --journal-file "$TMP/jdir/corpus.journal" --since 2026-11-22T21:14:56 > "$TMP/since-j.txt"
"$MW" offenders --now $NOW --since 2026-11-22T21:14:56 "$DATA/mail-traditional.log.gz" > "$TMP/since-t.txt"
check_cmd journal-since cmp "$TMP/since-t.txt" "$TMP/since-j.txt"
# errors: a missing journal file, files and --journal together
"$MW" offenders --journal-file "$TMP/nope.journal" > /dev/null 2> "$TMP/missing.err"
check_eq journal-missing-exit 1 $?
check_grep journal-missing-named 'nope\.journal' "$TMP/missing.err"
"$MW" offenders --journal "$DATA/mail-traditional.log.gz" > /dev/null 2>&1
check_eq journal-and-files-usage 2 $?
finish
