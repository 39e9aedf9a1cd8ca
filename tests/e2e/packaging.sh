#!/bin/bash
# packaging: `make install` into a DESTDIR, the generated manual page, the bash completion.
. "$(dirname "$0")/../lib.sh"
SUITE=packaging
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# the manual page: generated from this binary's help, valid roff, one section per command
bash "$ROOT/scripts/mkman.sh" "$MW" > "$TMP/mailwarden.1" 2> "$TMP/mkman.err"
check_eq man-generated 0 $?
warn=$(groff -man -ww -z "$TMP/mailwarden.1" 2>&1)
check_eq man-no-groff-warnings "" "$warn"
cmds=$("$MW" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
missing=
for c in $cmds; do grep -qx ".SS $c" "$TMP/mailwarden.1" || missing="$missing $c"; done
check_eq man-every-command "" "$missing"
MANWIDTH=80 man -l "$TMP/mailwarden.1" > "$TMP/man.txt" 2>/dev/null
check_grep man-renders-options '--min N' "$TMP/man.txt"
check_grep man-renders-exit 'Exit status: 0 success' "$TMP/man.txt"

# bash completion, driven the way bash drives it
comp() {    # comp WORD... : COMPREPLY for the last word
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mailwarden; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$ROOT/config/completion/mailwarden.bash" "$MW" "$@"
}
check_eq completion-command offenders "$(comp off)"
check_eq completion-help-arg "$(printf 'simulate\nstatus\nstop\nsummary')" "$(comp help s | sort)"
check_eq completion-option "$(printf -- '--top-hosts\n--top-users')" "$(comp summary --to | sort)"
got=$(comp offenders --j | sort | tr '\n' ' ')
check_eq completion-journal-options "--journal --journal-file --journal-match --json " "$got"

# make install into a DESTDIR puts everything in place
if make -s -C "$ROOT" install DESTDIR="$TMP/root" PREFIX=/usr > "$TMP/install.log" 2>&1; then
    pass install-runs
else
    fail install-runs "$(tail -n 5 "$TMP/install.log")"
fi
for f in usr/bin/mailwarden usr/share/man/man1/mailwarden.1 \
         usr/share/bash-completion/completions/mailwarden etc/mailwarden/jail.conf \
         etc/mailwarden/mailwarden.conf; do
    n=installed-${f//\//_}; if [ -s "$TMP/root/$f" ]; then pass "$n"; else fail "$n" "missing $f"; fi
done
check_eq installed-binary-runs 0 "$("$TMP/root/usr/bin/mailwarden" --version >/dev/null 2>&1; echo $?)"
finish
