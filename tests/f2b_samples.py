#!/usr/bin/env python3
"""Conformance of `mailwarden regex` with fail2ban's own sample corpus.

For each sample log in fail2ban's tests/files/logs/ that has a filter of the same name,
replay the annotations the way fail2ban's tests/samplestestcase.py does:

  # failJSON: {...}       expectation for the next line (match, host, time, user, ...)
  # filterOptions: {...}  switch to filter instance(s) with these options
  # fileOptions: {...}    options merged into every later filterOptions
  # addFILE: "name"       also process that sample file afterwards

Every filter instance (name + options) keeps its state across all lines it is fed, so the
lines each instance sees are written to one log, `mailwarden regex --json` runs once per
instance, and the JSON objects are matched back to the lines by line number. Times are
compared in the test zone CET-01CEST-02 with "now" = 1124013600, as in fail2ban's tests.

Prints one PASS/FAIL line per filter (SKIP, marked informational, for failing filters not in
--required), then the pass rates. Exit status 1 if a required filter failed.
"""
import argparse
import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time

TEST_NOW = 1124013600
TEST_TZ = "CET-01CEST-02,M3.5.0,M10.5.0"
TEST_NOW_STR = datetime.datetime.utcfromtimestamp(TEST_NOW).isoformat()
ANNOT = re.compile(r"^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$")


def read_lines(path):
    """FileContainer with encoding UTF-8: undecodable lines are decoded with 'replace'."""
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode("utf-8", "replace")


def filter_options(opts):
    return dict((k, v) for k, v in opts.items() if not k.startswith("test."))


class Instance:
    """One filter instance of samplestestcase (_readFilter result): name + options."""

    def __init__(self, flt_name, opts):
        self.flt_name = flt_name
        self.opts = opts
        self.lines = []          # (text, faildata, file, lnnum)


def collect(name, logs_dir):
    """Port of testSampleRegexsFactory's loop: the lines each filter instance is fed."""
    instances = {}
    order = []

    def get_instance(flt_name, opts):
        if flt_name not in instances:
            instances[flt_name] = Instance(flt_name, opts)
            order.append(flt_name)
        return instances[flt_name]

    filenames = [name]
    common_opts = {}
    faildata = {}
    filter_tests = None
    i = 0
    while i < len(filenames):
        filename = filenames[i]
        i += 1
        ignore_block = False
        lines = read_lines(os.path.join(logs_dir, filename))
        lnnum = 0
        for line in lines:
            lnnum += 1
            m = ANNOT.match(line)
            if m:
                faildata = json.loads(m.group(2))
                if m.group(1) == "fileOptions":
                    common_opts = faildata
                    continue
                if m.group(1) == "filterOptions":
                    filter_tests = []
                    ignore_block = False
                    for fd in (faildata if isinstance(faildata, list) else [faildata]):
                        if common_opts:
                            opts = common_opts.copy()
                            opts.update(fd)
                        else:
                            opts = fd
                        if opts.get("test.condition"):
                            ignore_block = not eval(opts.get("test.condition"), {}, {"name": name})
                        if not ignore_block:
                            flt_opts = filter_options(opts)
                            flt_name = opts.get("test.filter-name")
                            if not flt_name:
                                flt_name = str(flt_opts) if flt_opts else ""
                            flt_name = name + flt_name
                            inst = get_instance(flt_name, flt_opts)
                            filter_tests.append((flt_name, inst, opts))
                    continue
                if m.group(1) == "addFILE":
                    filenames.append(faildata)
                    continue
                try:
                    line = next(lines)
                    lnnum += 1
                except StopIteration:
                    break
            elif ignore_block or line.startswith("#") or not line.strip():
                continue
            else:
                faildata = {}
            if ignore_block:
                continue
            if not filter_tests:
                filter_tests = [(name, get_instance(name, {}), {})]
            line = line.rstrip("\r\n")
            for flt_name, inst, opts in filter_tests:
                if faildata.get("constraint") and not eval(faildata["constraint"], {}, {"name": name, "opts": opts}):
                    continue
                text = line
                if opts.get("logtype") == "journal" and opts.get("test.prefix-line"):
                    text = opts.get("test.prefix-line") + line
                inst.lines.append((text, faildata, filename, lnnum))
                inst.journal = opts.get("logtype") == "journal"
    return [instances[n] for n in order]


def local_epoch(t):
    try:
        dt = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        dt = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f")
    return time.mktime(dt.timetuple()) + dt.microsecond / 1000000.0


def run_instance(mw, name, inst, filter_dirs, tmpdir):
    """Run mailwarden for one instance; returns ({line: [objects]}, error-or-None)."""
    log = os.path.join(tmpdir, "log")
    with open(log, "w", encoding="utf-8", errors="surrogateescape") as fh:
        for text, _, _, _ in inst.lines:
            fh.write(text + "\n")
    cmd = [mw, "regex", "--json", "--now", str(TEST_NOW)]
    for d in filter_dirs:
        cmd += ["--filter-dir", d]
    for k, v in inst.opts.items():
        cmd += ["--filter-option", "%s=%s" % (k, v)]
    if getattr(inst, "journal", False):
        cmd.append("--journal")
    cmd += [log, name]
    env = dict(os.environ, TZ=TEST_TZ, LC_ALL="C")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace").strip()[-300:])
    res = {}
    for ln in p.stdout.decode("utf-8", "replace").splitlines():
        try:
            o = json.loads(ln)
        except ValueError:
            return None, "not JSON on stdout: %r" % ln[:100]
        res.setdefault(o["line"], []).append(o)
    return res, None


def ip_key(s):
    """fail2ban compares failure ids as IPAddr: by address and prefix, not by spelling."""
    try:
        n = ipaddress.ip_network(s, strict=False)
    except (ValueError, TypeError):
        return None
    if n.version == 6 and n.prefixlen == 128 and n.network_address.ipv4_mapped:
        n = ipaddress.ip_network(n.network_address.ipv4_mapped)
    return n


def same(k, fv, v):
    if k == "host" and isinstance(fv, str) and isinstance(v, str) and ip_key(fv) is not None:
        return ip_key(fv) == ip_key(v)
    return fv == v


def check_line(faildata, found):
    """The assertions of samplestestcase for one line; returns an error string or None."""
    if not found:
        if faildata.get("match", False):
            return "line not matched when should have"
        return None
    if not faildata.get("match", False):
        return "line matched when shouldn't have: %s" % json.dumps(found[0])[:200]
    if len(found) != 1:
        return "multiple regexs matched (%d failures)" % len(found)
    o = found[0]
    fields = o.get("fields", {})
    for k, v in faildata.items():
        if k in ("time", "match", "desc", "constraint"):
            continue
        if k in ("host", "user", "users", "attempts"):
            fv = o.get(k)
        else:
            fv = None
        if fv is None:
            fv = fields.get(k)
        if fv is None:
            if k == "host":
                fv = o.get("host")
            if k == "attempts":
                fv = o.get("attempts", 1)
        if isinstance(v, list) or isinstance(fv, list):
            if sorted(fv or []) != sorted(v or []):
                return "%s: %r != %r" % (k, fv, v)
            continue
        if not same(k, fv, v):
            return "%s: %r != %r" % (k, fv, v)
    t = faildata.get("time")
    if t is not None:
        want = local_epoch(t)
        got = o.get("time")
        if got is None or abs(float(got) - want) > 1e-6:
            return "time: %r != %r (%s)" % (got, want, t)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mw", help="mailwarden binary")
    ap.add_argument("--f2b", default="/usr/lib/python3/dist-packages/fail2ban")
    ap.add_argument("--filter-dir", default="/etc/fail2ban/filter.d")
    ap.add_argument("--required", default="", help="comma-separated filters that must pass")
    ap.add_argument("--only", default="", help="comma-separated filters to test")
    ap.add_argument("--label", default="f2b_samples", help="prefix of PASS/FAIL names")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    os.environ["TZ"] = TEST_TZ
    time.tzset()
    logs = os.path.join(a.f2b, "tests", "files", "logs")
    test_filters = os.path.join(a.f2b, "tests", "config", "filter.d")
    required = set(x for x in a.required.split(",") if x)
    only = set(x for x in a.only.split(",") if x)
    names = []
    for n in sorted(os.listdir(logs)):
        if not os.path.isfile(os.path.join(logs, n)) or (only and n not in only):
            continue
        if os.path.isfile(os.path.join(a.filter_dir, n + ".conf")):
            names.append((n, [a.filter_dir]))
        elif n.startswith("zzz-") and os.path.isfile(os.path.join(test_filters, n + ".conf")):
            names.append((n, None))
    missing = required - set(n for n, _ in names)
    results = {}
    total_checks = total_failed = 0
    with tempfile.TemporaryDirectory(prefix="mw-f2b.") as tmp:
        # fail2ban's test filters include common.conf by a path into its source tree: give
        # them a filter.d of their own next to the installed common.conf
        zdir = os.path.join(tmp, "filter.d")
        os.mkdir(zdir)
        os.symlink(os.path.join(a.filter_dir, "common.conf"), os.path.join(zdir, "common.conf"))
        for n, d in names:
            if d is None:
                with open(os.path.join(test_filters, n + ".conf"), encoding="utf-8") as fh:
                    text = re.sub(r"(?m)^before = .*common\.conf$", "before = common.conf", fh.read())
                with open(os.path.join(zdir, n + ".conf"), "w", encoding="utf-8") as fh:
                    fh.write(text)
        names = [(n, d if d is not None else [zdir]) for n, d in names]
        for name, dirs in names:
            errors = []
            checks = 0
            for inst in collect(name, logs):
                res, err = run_instance(a.mw, name, inst, dirs, tmp)
                if err:
                    errors.append("%s: %s" % (inst.flt_name, err))
                    checks += len(inst.lines)
                    continue
                for i, (text, faildata, fname, lnnum) in enumerate(inst.lines, 1):
                    checks += 1
                    e = check_line(faildata, res.get(i, []))
                    if e:
                        errors.append("%s:%d [%s] %s | %s" % (fname, lnnum, inst.flt_name[len(name):] or "default",
                                                              e, text[:120]))
            total_checks += checks
            total_failed += len(errors)
            results[name] = not errors
            tag = "%s/%s" % (a.label, name)
            if not errors:
                print("PASS %s (%d lines checked)" % (tag, checks))
            elif name in required:
                print("FAIL %s: %d of %d line checks failed; first: %s" % (tag, len(errors), checks, errors[0]))
            else:
                print("SKIP %s: informational, not yet conformant: %d of %d line checks failed; first: %s"
                      % (tag, len(errors), checks, errors[0]))
            if errors and a.verbose:
                for e in errors[1:30]:
                    print("    " + e)
            sys.stdout.flush()
    for n in sorted(missing):
        print("FAIL %s/%s: no sample log or filter found" % (a.label, n))
    req_ok = sum(1 for n in required if results.get(n))
    all_ok = sum(1 for v in results.values() if v)
    print("# required filters: %d/%d pass; all filters: %d/%d pass (%.1f%%); line checks: %d/%d pass"
          % (req_ok, len(required), all_ok, len(results), 100.0 * all_ok / max(1, len(results)),
             total_checks - total_failed, total_checks))
    return 0 if req_ok == len(required) and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
