#!/usr/bin/env python3
"""Turn an RFC 3339 syslog file ("2026-11-22T21:12:09.855763+00:00 host prog[pid]: msg")
into systemd's journal export format, for systemd-journal-remote to build real journal files
in tests. Usage: log2export.py [--boot HEX32] LOG > out.export   (LOG may be .gz)
--boot: the _BOOT_ID (default a fixed one). sd-journal orders entries of different files by
monotonic time within one boot (here derived from the realtime) and by realtime across boots."""
import datetime, gzip, re, struct, sys

LINE = re.compile(rb'^(\S+) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$')

def field(out, name, value):
    # binary-safe form for every field: NAME\n<le64 length><data>\n
    out.write(name + b'\n' + struct.pack('<Q', len(value)) + value + b'\n')

def main():
    args = sys.argv[1:]
    boot = b'0123456789abcdef0123456789abcdef'
    if len(args) == 3 and args[0] == '--boot':
        boot = args[1].encode()
        args = args[2:]
    path = args[0]
    f = gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')
    out = sys.stdout.buffer
    mono = 0
    for n, raw in enumerate(f, 1):
        m = LINE.match(raw.rstrip(b'\n'))
        if not m:
            continue
        stamp, host, prog, pid, msg = m.groups()
        t = datetime.datetime.fromisoformat(stamp.decode())
        usec = int(t.timestamp()) * 1000000 + t.microsecond
        out.write(b'__REALTIME_TIMESTAMP=%d\n' % usec)
        # monotonic time grows with the realtime, as within one real boot, so that files
        # written later (a rotated journal) sort after earlier ones of the same boot
        mono = max(mono + 1, usec - 10**15)
        out.write(b'__MONOTONIC_TIMESTAMP=%d\n' % mono)
        out.write(b'_BOOT_ID=' + boot + b'\n')
        field(out, b'_HOSTNAME', host)
        field(out, b'SYSLOG_IDENTIFIER', prog)
        if pid:
            field(out, b'_PID', pid)
        unit = b'dovecot.service' if prog.startswith(b'dovecot') else \
            b'ssh.service' if prog.startswith(b'sshd') else b'postfix@-.service'
        field(out, b'_SYSTEMD_UNIT', unit)
        field(out, b'MESSAGE', msg)
        out.write(b'\n')

main()
