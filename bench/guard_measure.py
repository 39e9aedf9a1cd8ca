#!/usr/bin/env python3
"""Helpers for bench/guard.sh: process figures from /proc and the write->action latency.

  guard_measure.py mem PID                 -> "VmRSS_kB RssAnon_kB"
  guard_measure.py cpu PID                 -> utime+stime in seconds
  guard_measure.py settle PID [SECS]       -> wait until PID's CPU time stops growing for SECS
  guard_measure.py latency LOG OUT N MAXRETRY PREFIX [observe]
        append MAXRETRY-1 failures of a fresh IP, then the deciding line; the time of that
        write() is taken just before it; wait for "<ts> ban IP" in OUT; print median and p99
        observe: OUT is the daemon's own log; the time is when "Ban IP " shows up there
        (polled every 0.2 ms: the decision latency without any action process)
"""
import os
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")


def mem(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("RssAnon", 0)


def cpu1(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def helpers(pid):
    """mailwarden's privileged firewall helper (privsep), a child named mailwarden-fw"""
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    try:
                        with open(f"/proc/{c}/comm") as g:
                            if g.read().strip() == "mailwarden-fw":
                                out.append(int(c))
                    except OSError:
                        pass
    except OSError:
        pass
    return out


def cpu(pid):
    """the daemon's CPU time, its privsep helper's included"""
    return cpu1(pid) + sum(cpu1(h) for h in helpers(pid))


def settle(pid, secs):
    last = cpu(pid)
    stable_since = time.time()
    while True:
        time.sleep(0.25)
        c = cpu(pid)
        if c != last:
            last = c
            stable_since = time.time()
        elif time.time() - stable_since >= secs:
            return c


def stamp():
    return time.strftime("%b %e %H:%M:%S", time.localtime())


def latency(log, out, n, maxretry, prefix, observe=False):
    lat = []
    done = 0
    with open(log, "a", buffering=1) as f:
        for i in range(n):
            ip = f"{prefix}.{i // 250}.{i % 250 + 1}"
            line = f"{stamp()} bench sshd[{4000 + i}]: Failed password for root from {ip} port {40000 + i} ssh2\n"
            for _ in range(maxretry - 1):
                f.write(line)
            f.flush()
            time.sleep(0.05)
            t0 = time.time()
            os.write(f.fileno(), line.encode())
            needle = f" ban {ip}\n"
            deadline = t0 + 10
            got = None
            while time.time() < deadline:
                try:
                    with open(out) as o:
                        data = o.read()
                    if observe:
                        if f"Ban {ip} " in data:
                            got = time.time()
                    else:
                        for l in data.splitlines(True):
                            if l.endswith(needle):
                                got = float(l.split()[0])
                                break
                except FileNotFoundError:
                    pass
                if got is not None:
                    break
                time.sleep(0.0002 if observe else 0.001)
            if got is None:
                print(f"latency: no action for {ip}", file=sys.stderr)
                continue
            lat.append(got - t0)
            done += 1
    lat.sort()
    if not lat:
        print("nan nan 0")
        return
    med = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    print(f"{med * 1000:.2f} {p99 * 1000:.2f} {done}")


def main():
    cmd = sys.argv[1]
    if cmd == "helper":
        h = helpers(int(sys.argv[2]))
        print(h[0] if h else "")
        return
    if cmd == "mem":
        print(*mem(int(sys.argv[2])))
    elif cmd == "cpu":
        print(f"{cpu(int(sys.argv[2])):.2f}")
    elif cmd == "settle":
        print(f"{settle(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 2.0):.2f}")
    elif cmd == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
                len(sys.argv) > 7 and sys.argv[7] == "observe")
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
