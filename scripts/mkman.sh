#!/bin/bash
# mkman.sh BIN > mailwarden.1 - the manual page, generated from the binary's own help texts
# (`BIN help` and `BIN help CMD`), so that it cannot drift from the program. The help texts
# are preformatted: each goes into a no-fill block with roff's special characters escaped.
set -eu
BIN=${1:?usage: mkman.sh BIN}
ver=$("$BIN" --version | head -n 1)

esc() {     # roff-escape stdin: backslashes, and leading dots/quotes that roff would eat
    sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}
cmds=$("$BIN" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')

cat <<HDR
.TH MAILWARDEN 1 "" "$ver" "User Commands"
.SH NAME
mailwarden \\- log reports, message tracing and brute-force banning for Postfix and Dovecot
.SH SYNOPSIS
.B mailwarden
.I COMMAND
[\\fIOPTIONS\\fR] [\\fILOG\\fR...]
.br
.B mailwarden help
[\\fICOMMAND\\fR]
.br
.B mailwarden \\-\\-version
.SH DESCRIPTION
HDR
"$BIN" help | awk '/^One tool/ { on = 1 } on && /^$/ { exit } on' | esc
echo ".PP"
echo "Commands:"
echo ".nf"
"$BIN" help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on' | esc
echo ".fi"
echo ".PP"
echo ".nf"
"$BIN" help | awk '/^Common options:/ { on = 1 } on' | esc
echo ".fi"
echo ".SH COMMANDS"
for c in $cmds; do
    echo ".SS $c"
    echo ".nf"
    "$BIN" help "$c" | esc
    echo ".fi"
done
cat <<'TAIL'
.SH FILES
.TP
.I /etc/mailwarden/jail.conf, jail.local, jail.d/
jails in fail2ban's syntax
.TP
.I /etc/mailwarden/mailwarden.conf
daemon settings (database, socket, log target)
.TP
.I /var/lib/mailwarden/mailwarden.db
bans, ban history, log positions, permanent blocks, last logins (SQLite)
.TP
.I /run/mailwarden/mailwarden.sock
the guard's control socket
.TP
.I /var/log/mail.log, /var/log/maillog
the default log
.SH SEE ALSO
.BR fail2ban-client (1),
.BR pflogsumm (1),
.BR postqueue (1),
.BR nft (8)
TAIL
