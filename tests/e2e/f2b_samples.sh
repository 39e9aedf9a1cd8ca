#!/bin/bash
# Conformance with fail2ban's sample corpus: `mailwarden regex --json` on every sample log
# that has a filter of the same name, every failJSON expectation checked (tests/f2b_samples.py).
# The 24 mail-stack filters below must pass completely; the others are reported, and a
# failing one is shown as SKIP "informational" (see the pass rate printed at the end).
. "$(dirname "$0")/../lib.sh"
F2B=/usr/lib/python3/dist-packages/fail2ban
REQUIRED=postfix,dovecot,sieve,sshd,pam-generic,recidive,courier-auth,courier-smtp,cyrus-imap,exim,exim-spam,sendmail-auth,sendmail-reject,roundcube-auth,sogo-auth,solid-pop3d,uwimap-auth,perdition,qmail,kerio,domino-smtp,squirrelmail,horde,oracleims

if [ ! -d "$F2B/tests/files/logs" ] || [ ! -d /etc/fail2ban/filter.d ]; then
    skip corpus "fail2ban is not installed (Debian package fail2ban, see scripts/deps.sh)"
    finish
fi
if ! command -v python3 >/dev/null; then
    skip corpus "python3 is not installed"
    finish
fi
if ! python3 "$TOP/tests/f2b_samples.py" "$MW" --f2b "$F2B" --filter-dir /etc/fail2ban/filter.d \
        --required "$REQUIRED" --label "$MW_TEST_LABEL/e2e/$SUITE"; then
    T_FAILED=1
fi
finish
