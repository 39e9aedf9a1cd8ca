#!/bin/bash
# systemd_unit: config/mailwarden.service passes `systemd-analyze verify` without a single
# warning (a broken copy must produce one, so the check can fail), carries the hardening the
# privilege split allows, and `make install-unit` installs it with ExecStart at $PREFIX/bin.
SUITE=systemd_unit
. "$(dirname "$0")/../lib.sh"

UNIT=$TOP/config/mailwarden.service
if ! command -v systemd-analyze >/dev/null; then skip all "systemd-analyze not installed"; finish; fi
mkdir -p "$TMP/u"
# verify needs ExecStart to exist: point it at the binary under test
sed "s|/usr/bin/mailwarden|$MW|" "$UNIT" > "$TMP/u/mailwarden.service"
if ! systemd-analyze verify "$TMP/u/mailwarden.service" > "$TMP/verify.out" 2>&1; then
    if grep -qiE 'not booted|Failed to (connect|initialize)|System has not been booted' "$TMP/verify.out"; then
        skip all "systemd-analyze cannot run here: $(head -1 "$TMP/verify.out")"; finish
    fi
    fail verify "$(head -3 "$TMP/verify.out")"
elif [ -s "$TMP/verify.out" ]; then
    fail verify "warnings: $(head -3 "$TMP/verify.out")"
else
    pass verify
fi
sed 's/^Type=notify/Type=bogus/' "$TMP/u/mailwarden.service" > "$TMP/u/bad.service"
systemd-analyze verify "$TMP/u/bad.service" > "$TMP/bad.out" 2>&1
check_grep verify-detects-errors 'Failed to parse service type' "$TMP/bad.out"

check_grep type-notify '^Type=notify$' "$UNIT"
check_grep exec-start '^ExecStart=/usr/bin/mailwarden guard --foreground$' "$UNIT"
check_grep exec-reload '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT"
check_grep no-new-privs '^NoNewPrivileges=yes$' "$UNIT"
check_grep protect-system '^ProtectSystem=strict$' "$UNIT"
check_grep rw-paths '^ReadWritePaths=/var/lib/mailwarden /run/mailwarden$' "$UNIT"
check_grep cap-net-admin '^CapabilityBoundingSet=.*CAP_NET_ADMIN' "$UNIT"
check_nogrep cap-no-sys-admin '^CapabilityBoundingSet=.*CAP_SYS_ADMIN' "$UNIT"
check_nogrep no-user '^User=' "$UNIT"

make -s -C "$TOP" install-unit DESTDIR="$TMP/inst" PREFIX=/opt/mw > "$TMP/make.out" 2>&1
if [ -f "$TMP/inst/opt/mw/lib/systemd/system/mailwarden.service" ]; then pass install-unit
else fail install-unit "not installed: $(head -3 "$TMP/make.out")"; fi
check_grep install-execstart '^ExecStart=/opt/mw/bin/mailwarden guard --foreground$' "$TMP/inst/opt/mw/lib/systemd/system/mailwarden.service"
finish
