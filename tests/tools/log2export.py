#!/usr/bin/env python3
"""Turn an RFC 3339 syslog file ("2026-11-22T21:12:09.855763+00:00 host prog[pid]: msg")
into systemd's journal export format, for systemd-journal-remote to build real journal files
in tests. Usage: log2export.py LOG > out.export   (LOG may be .gz)"""
import datetime, gzip, re, struct, sys

LINE = re.compile(rb'^(\S+) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$')

def field(out, name, value):
    # binary-safe form for every field: NAME\n<le64 length><data>\n
    out.write(name + b'\n' + struct.pack('<Q', len(value)) + value + b'\n')

def main():
    path = sys.argv[1]
    f = gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')
    out = sys.stdout.buffer
    for n, raw in enumerate(f, 1):
        m = LINE.match(raw.rstrip(b'\n'))
        if not m:
            continue
        stamp, host, prog, pid, msg = m.groups()
        t = datetime.datetime.fromisoformat(stamp.decode())
        usec = int(t.timestamp()) * 1000000 + t.microsecond
        out.write(b'__REALTIME_TIMESTAMP=%d\n' % usec)
        out.write(b'__MONOTONIC_TIMESTAMP=%d\n' % n)
        out.write(b'_BOOT_ID=0123456789abcdef0123456789abcdef\n')
        field(out, b'_HOSTNAME', host)
        field(out, b'SYSLOG_IDENTIFIER', prog)
        if pid:
            field(out, b'_PID', pid)
        unit = b'dovecot.service' if prog.startswith(b'dovecot') else b'postfix@-.service'
        field(out, b'_SYSTEMD_UNIT', unit)
        field(out, b'MESSAGE', msg)
        out.write(b'\n')

main()
