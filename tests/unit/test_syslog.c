/* test_syslog - the syslog envelope: every accepted stamp format, real lines from the corpus
 * in both rsyslog formats, the year rule, and hostile or truncated lines. */
#include "check.h"
#include "parse/syslog.h"
#include <time.h>

#define T_NOW 1795383000        /* 2026-11-22T21:30:00Z */

static void tz(const char *z)
{
    setenv("TZ", z, 1);
    tzset();
}

static struct syslog_ctx ctx_at(int64_t ref)
{
    struct syslog_ctx c;
    memset(&c, 0, sizeof c);
    c.ref = ref;
    return c;
}

/* Parse a copy of exactly the line's bytes, so that ASan sees any read past the end. */
static int parse(struct syslog_ctx *c, const char *p, size_t n, struct syslog_hdr *h, char **keep)
{
    char *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    memset(h, 0x5a, sizeof *h);
    int r = syslog_parse(c, str_make(copy, n), h);
    if (r == 0) {
        CHECK(h->host.p >= copy && h->host.p + h->host.len <= copy + n);
        CHECK(h->prog.p >= copy && h->prog.p + h->prog.len <= copy + n);
        CHECK(h->msg.p >= copy && h->msg.p + h->msg.len <= copy + n);
    }
    if (keep) *keep = copy;
    else free(copy);
    return r;
}

#define PARSE_OK(line) do { free(buf); buf = NULL; \
        CHECK_INT(parse(&c, line, strlen(line), &h, &buf), 0); } while (0)

/* pids of every length (the SWAR digit path and its tail), short lines, bad pids */
static void t_pids(void)
{
    struct syslog_ctx c = ctx_at(T_NOW);
    struct syslog_hdr h;
    char *buf = NULL, line[128];
    tz("UTC");
    long v = 0;
    for (int nd = 1; nd <= 9; nd++) {
        v = v * 10 + (nd % 10 ? nd % 10 : 7);          /* 1, 12, ..., 123456787 */
        for (int tail = 0; tail < 2; tail++) {
            snprintf(line, sizeof line, "Nov 22 21:12:07 mail p[%ld]:%s", v, tail ? " message text" : "");
            PARSE_OK(line);
            CHECK_INT(h.pid, v);
            snprintf(line, sizeof line, "Nov 22 21:12:07 mail p[%0*ld]: m", nd, 0L);
            PARSE_OK(line);
            CHECK_INT(h.pid, 0);
        }
    }
    PARSE_OK("Nov 22 21:12:07 mail p[00000042]: m");
    CHECK_INT(h.pid, 42);
    PARSE_OK("Nov 22 21:12:07 mail p[90817263]: m");
    CHECK_INT(h.pid, 90817263);
    const char *bad[] = { "Nov 22 21:12:07 mail p[1234567890]: m", "Nov 22 21:12:07 mail p[]: m",
                          "Nov 22 21:12:07 mail p[12a]: m", "Nov 22 21:12:07 mail p[12]x m",
                          "Nov 22 21:12:07 mail p[12", "Nov 22 21:12:07 mail p[:]: m",
                          "Nov 22 21:12:07 mail p[/9]: m", "Nov 22 21:12:07 mail p[9\x3a]: m" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(buf);
        buf = NULL;
        CHECK_INT(parse(&c, bad[i], strlen(bad[i]), &h, &buf), -1);
    }
    free(buf);
}

static void t_rfc3164(void)
{
    struct syslog_ctx c = ctx_at(T_NOW);
    struct syslog_hdr h;
    char *buf = NULL;
    tz("UTC");
    PARSE_OK("Nov  2 20:51:08 host prog[123]: msg text");
    CHECK_INT(h.t, 1793652668);
    CHECK_INT(h.usec, -1);
    CHECK_INT(h.fmt, SYSLOG_RFC3164);
    CHECK_SLICE(h.host, "host");
    CHECK_SLICE(h.prog, "prog");
    CHECK_INT(h.pid, 123);
    CHECK_SLICE(h.msg, "msg text");
    PARSE_OK("Nov 2 20:51:08 host prog: x");
    CHECK_INT(h.t, 1793652668);
    CHECK_INT(h.pid, -1);
    CHECK_SLICE(h.msg, "x");
    PARSE_OK("nov 02 20:51:08 host prog: x");
    CHECK_INT(h.t, 1793652668);
    PARSE_OK("Nov 22 21:12:12 mail dovecot: auth: passwd-file(x,127.0.0.60,<zQ>): unknown user");
    CHECK_SLICE(h.prog, "dovecot");
    CHECK_INT(h.pid, -1);
    CHECK_SLICE(h.msg, "auth: passwd-file(x,127.0.0.60,<zQ>): unknown user");
    PARSE_OK("Nov 22 21:12:15 mail postfix/submission/smtpd[28971]: warning: unknown[127.0.0.50]: x");
    CHECK_SLICE(h.prog, "postfix/submission/smtpd");
    CHECK_INT(h.pid, 28971);
    CHECK_SLICE(h.msg, "warning: unknown[127.0.0.50]: x");
    CHECK_INT(h.t, 1795381935);
    PARSE_OK("Nov 22 21:12:07 mail kernel: [12.3] eth0: link up");
    CHECK_SLICE(h.prog, "kernel");
    CHECK_SLICE(h.msg, "[12.3] eth0: link up");
    PARSE_OK("Nov 22 21:12:07 mx1.example.org systemd-logind[412]: New session");
    CHECK_SLICE(h.host, "mx1.example.org");
    CHECK_SLICE(h.prog, "systemd-logind");
    CHECK_INT(h.pid, 412);
    PARSE_OK("Nov 22 21:12:07 mail org.freedesktop.Foo[1]: y");
    CHECK_SLICE(h.prog, "org.freedesktop.Foo");
    CHECK_INT(h.pid, 1);
    PARSE_OK("Nov 22 21:12:07 mail prog:");
    CHECK_SLICE(h.msg, "");
    PARSE_OK("Nov 22 21:12:07 mail prog[7]: ");
    CHECK_SLICE(h.msg, "");
    CHECK_INT(h.pid, 7);
    PARSE_OK("Nov 22 21:12:07 mail prog:no-space");
    CHECK_SLICE(h.msg, "no-space");
    PARSE_OK("Nov 22 21:12:07 mail prog:  two spaces");
    CHECK_SLICE(h.msg, " two spaces");
    PARSE_OK("Nov 22 21:12:07 mail prog[999999999]: m");
    CHECK_INT(h.pid, 999999999);
    PARSE_OK("Feb 29 12:00:00 h p: leap day");          /* 2026 is not leap: normalised */
    CHECK_INT(h.t, 1772366400);                          /* 2026-03-01T12:00:00Z */
    PARSE_OK("Nov 22 23:59:60 h p: leap second");
    CHECK_INT(h.t, 1795305600 + 86400);
    /* short-precise */
    PARSE_OK("Nov 22 21:12:09.855763 mail postfix/smtpd[1]: m");
    CHECK_INT(h.fmt, SYSLOG_PRECISE);
    CHECK_INT(h.usec, 855763);
    CHECK_INT(h.t, 1795381929);
    PARSE_OK("Nov 22 21:12:09.5 mail p: m");
    CHECK_INT(h.usec, 500000);
    PARSE_OK("Nov 22 21:12:09.123456789 mail p: m");
    CHECK_INT(h.usec, 123456);
    free(buf);
}

static void t_iso(void)
{
    struct syslog_ctx c = ctx_at(T_NOW);
    struct syslog_hdr h;
    char *buf = NULL;
    tz("UTC");
    PARSE_OK("2026-11-22T21:12:09.855763+00:00 mail postfix/smtpd[29001]: msg");
    CHECK_INT(h.fmt, SYSLOG_RFC3339);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.usec, 855763);
    CHECK_SLICE(h.host, "mail");
    CHECK_SLICE(h.prog, "postfix/smtpd");
    CHECK_INT(h.pid, 29001);
    CHECK_SLICE(h.msg, "msg");
    PARSE_OK("2026-11-22T21:12:09Z mail p: m");
    CHECK_INT(h.fmt, SYSLOG_RFC3339);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.usec, -1);
    PARSE_OK("2026-11-22T22:12:09.855+01:00 mail p: m");
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.usec, 855000);
    PARSE_OK("2026-11-22T16:42:09-04:30 mail p: m");
    CHECK_INT(h.t, 1795381929);
    PARSE_OK("2026-11-22T21:12:09+0000 host sshd[77]: Accepted");    /* short-iso */
    CHECK_INT(h.fmt, SYSLOG_ISO);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.usec, -1);
    CHECK_SLICE(h.prog, "sshd");
    PARSE_OK("2026-11-22T22:12:09.000001+0100 host p: m");           /* short-iso-precise */
    CHECK_INT(h.fmt, SYSLOG_ISO);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.usec, 1);
    PARSE_OK("2024-02-29T00:00:00Z h p: m");
    CHECK_INT(h.t, 1709164800);
    /* no zone: local time */
    tz("CET-01CEST-02,M3.5.0,M10.5.0/3");
    struct syslog_ctx c2 = ctx_at(T_NOW);
    free(buf);
    buf = NULL;
    CHECK_INT(parse(&c2, "2026-11-22T22:12:09 h p: m", 26, &h, NULL), 0);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(h.fmt, SYSLOG_ISO);
    CHECK_INT(parse(&c2, "Nov 22 22:12:09 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1795381929);
    CHECK_INT(parse(&c2, "Jul  1 12:00:00 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1782900000);                         /* 2026-07-01T10:00:00Z */
    tz("UTC");
    free(buf);
}

static void t_year_rule(void)
{
    struct syslog_hdr h;
    tz("UTC");
    struct syslog_ctx c = ctx_at(1798761630);            /* 2027-01-01T00:00:30Z */
    CHECK_INT(parse(&c, "Dec 31 23:59:59 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1798761599);                         /* 2026-12-31T23:59:59Z */
    CHECK_INT(parse(&c, "Jan  1 00:00:10 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1798761610);
    c = ctx_at(T_NOW);
    CHECK_INT(parse(&c, "Nov 22 21:12:00 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1795381920);                         /* 2026 */
    CHECK_INT(parse(&c, "Dec 24 10:00:00 h p: m", 22, &h, NULL), 0);
    CHECK_INT(h.t, 1766570400);                         /* 2025-12-24T10:00:00Z */
}

/* Line i of mail-traditional.log and mail-rfc3339.log is the same message. */
static const char *pairs[][2] = {
#include "corpus_pairs.inc"
};

static void t_corpus_pairs(void)
{
    tz("UTC");
    struct syslog_ctx c = ctx_at(T_NOW);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        struct syslog_hdr a, b;
        char *ba, *bb;
        CHECK_INT(parse(&c, pairs[i][0], strlen(pairs[i][0]), &a, &ba), 0);
        CHECK_INT(parse(&c, pairs[i][1], strlen(pairs[i][1]), &b, &bb), 0);
        CHECK_INT(a.fmt, SYSLOG_RFC3164);
        CHECK_INT(b.fmt, SYSLOG_RFC3339);
        CHECK_INT(a.t, b.t);
        CHECK(a.t >= 1795381927 && a.t <= 1795382437);  /* 21:12:07 .. 21:20:37 */
        CHECK_INT(a.usec, -1);
        CHECK(b.usec >= 0 && b.usec <= 999999);
        CHECK(str_eq(a.host, b.host) && str_eqc(a.host, "mail"));
        CHECK(str_eq(a.prog, b.prog));
        CHECK_INT(a.pid, b.pid);
        CHECK(str_eq(a.msg, b.msg));
        CHECK(a.msg.len > 10);
        free(ba);
        free(bb);
    }
    struct syslog_hdr h;
    char *buf;
    CHECK_INT(parse(&c, pairs[0][1], strlen(pairs[0][1]), &h, &buf), 0);
    CHECK_INT(h.usec, 590616);
    CHECK_SLICE(h.prog, "dovecot");
    CHECK_INT(h.pid, -1);
    CHECK_SLICE(h.msg, "master: Dovecot v2.3.19.1 (9b53102964) starting up for imap, pop3, lmtp (core dumps disabled)");
    free(buf);
}

static void t_hostile(void)
{
    tz("UTC");
    struct syslog_ctx c = ctx_at(T_NOW);
    struct syslog_hdr h;
    static const char *bad[] = {
        "", "N", "Nov", "Nov 22 21:12:07", "Nov 22 21:12:07 ", "Nov 22 21:12:07 host",
        "Nov 22 21:12:07 host ", "Nov 22 21:12:07 host prog", "Nov 22 21:12:07 host prog msg",
        "Nov 22 21:12:07  host p: m", "Nov 22 21:12:07 host  p: m", "Nov 22 21:12:07 host :m",
        "Nov 22 21:12:07 host [1]: m",
        "Foo 22 21:12:07 host prog: m", "Nov 99 21:12:07 host prog: m", "Nov 00 21:12:07 h p: m",
        "Nov  0 21:12:07 h p: m", "Nov 31 21:12:07 h p: m", "Feb 30 21:12:07 h p: m",
        "Nov 22 24:00:00 h p: m", "Nov 22 21:60:00 h p: m", "Nov 22 21:12:61 h p: m",
        "Nov 22 2:12:07 host p: m", "Nov 22 21:12:7 host p: m", "Nov 22 21-12-07 host p: m",
        "Nov 2221:12:07 host p: m", "Nov-22 21:12:07 host p: m", "Nov 2x 21:12:07 h p: m",
        "Nov 22 21:12:07. host p: m", "Nov 22 21:12:07.1234567890 host p: m",
        "Nov 22 21:12:07.12a host p: m", "Nov 22 21:12:07.123", "Nov 22 21:12:07.123 ",
        "2026-13-45T21:12:09+00:00 h p: m", "2026-02-29T21:12:09+00:00 h p: m",
        "2026-11-31T21:12:09Z h p: m", "0000-01-01T00:00:00Z h p: m",
        "2026-11-22 21:12:09+00:00 h p: m", "2026-11-22T21:12:09+25:00 h p: m",
        "2026-11-22T21:12:09+01:60 h p: m", "2026-11-22T21:12:09+01:0 h p: m",
        "2026-11-22T21:12:09+010 h p: m", "2026-11-22T21:12:09X h p: m",
        "2026-11-22T21:12:09+00:00", "2026-11-22T21:12:09+00:00h p: m",
        "2026-11-22T21:12:09Zh p: m", "2026-11-22T21:12:09.+00:00 h p: m",
        "99999-11-22T21:12:09Z h p: m", "2026-1-22T21:12:09Z h p: m", "2026-11-22T21:12 h p: m",
        "Nov 22 21:12:07 mail prog[]: m", "Nov 22 21:12:07 mail prog[12a]: m",
        "Nov 22 21:12:07 mail prog[1234567890]: m", "Nov 22 21:12:07 mail prog[123",
        "Nov 22 21:12:07 mail prog[123]", "Nov 22 21:12:07 mail prog[123] x",
        "Nov 22 21:12:07 mail prog[-1]: m", "Nov 22 21:12:07 mail prog[ 1]: m",
        "Nov 22 21:12:07 mail prog [1]: m",
        "Nov 22 21:12:07 last message repeated 3 times",
        "-- MARK --", "                                  ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(&c, bad[i], strlen(bad[i]), &h, NULL);
        if (r != -1) fprintf(stderr, "  accepted: '%s'\n", bad[i]);
        CHECK_INT(r, -1);
    }
    /* NUL bytes: in the stamp -> rejected; in the message -> kept (slices have lengths) */
    static const char nul_date[] = "Nov 22 21:1\0:07 h p: m";
    CHECK_INT(parse(&c, nul_date, sizeof nul_date - 1, &h, NULL), -1);
    static const char nul_mon[] = "N\0v 22 21:12:07 h p: m";
    CHECK_INT(parse(&c, nul_mon, sizeof nul_mon - 1, &h, NULL), -1);
    static const char nul_msg[] = "Nov 22 21:12:07 h p: a\0b";
    CHECK_INT(parse(&c, nul_msg, sizeof nul_msg - 1, &h, NULL), 0);
    CHECK_INT(h.msg.len, 3);
    /* field length caps */
    char line[1200];
    memcpy(line, "Nov 22 21:12:07 ", 16);
    memset(line + 16, 'h', 255);
    memcpy(line + 16 + 255, " p: m", 5);
    CHECK_INT(parse(&c, line, 16 + 255 + 5, &h, NULL), 0);
    CHECK_INT(h.host.len, 255);
    memset(line + 16, 'h', 256);
    memcpy(line + 16 + 256, " p: m", 5);
    CHECK_INT(parse(&c, line, 16 + 256 + 5, &h, NULL), -1);
    memcpy(line + 16, "h ", 2);
    memset(line + 18, 'p', 256);
    memcpy(line + 18 + 256, ": m", 3);
    CHECK_INT(parse(&c, line, 18 + 256 + 3, &h, NULL), -1);
    CHECK_INT(parse(&c, line, 18 + 255, &h, NULL), -1);
    memcpy(line + 18 + 255, ": m", 3);
    CHECK_INT(parse(&c, line, 18 + 255 + 3, &h, NULL), 0);
    CHECK_INT(h.prog.len, 255);
    /* NULL pointer slice */
    CHECK_INT(syslog_parse(&c, STR_NULL, &h), -1);
}

/* Every prefix of a good line parses or fails without reading past its end (ASan). */
static void t_truncated(void)
{
    static const char *lines[] = {
        "Nov 22 21:12:15 mail postfix/submission/smtpd[28971]: warning: x",
        "Nov  2 20:51:08.123456 mail p[1]: y",
        "2026-11-22T21:12:09.855763+00:00 mail postfix/smtpd[29001]: msg",
        "2026-11-22T21:12:09+0100 mail dovecot: auth: z",
        "2026-11-22T21:12:09Z mail dovecot: z",
    };
    tz("UTC");
    struct syslog_ctx c = ctx_at(T_NOW);
    struct syslog_hdr h;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t n = strlen(lines[i]);
        size_t colon = (size_t)(strstr(lines[i], ": ") - lines[i]);
        for (size_t k = 0; k <= n; k++) {
            int r = parse(&c, lines[i], k, &h, NULL);
            CHECK_INT(r, k > colon ? 0 : -1);
        }
    }
}

/* The minute cache: a stamp of the cached minute must give what a fresh context gives (also
 * in lazy mode, after a ref change, in a minute the year rule cuts in two, and for hostile
 * seconds after a valid cached minute). */
static void t_minute_cache(void)
{
    tz("UTC");
    static const char *const lines[] = {
        "Nov 22 21:12:07 mail postfix/smtpd[1]: connect",
        "Nov 22 21:12:59 mail postfix/smtpd[1]: x",
        "Nov 22 21:12:60 mail postfix/smtpd[1]: leap second",
        "Nov 22 21:12:61 mail postfix/smtpd[1]: bad second",
        "Nov 22 21:12:7x mail postfix/smtpd[1]: bad second",
        "Nov 22 21:12-07 mail postfix/smtpd[1]: bad separator",
        "Nov 22 21:12:07.123456 mail postfix/smtpd[1]: fraction",
        "Nov 22 21:12:07.1234567890 mail postfix/smtpd[1]: long fraction",
        "Nov 22 21:12:07mail postfix/smtpd[1]: no space",
        "Nov  2 20:51:08 mail postfix/qmgr[2]: padded day",
        "Nov  2 20:51:09 mail postfix/qmgr[2]: padded day",
        "Nov 2 20:51:09 mail postfix/qmgr[2]: unpadded day",
        "Nov 23 21:29:59 mail x: a day after ref, minus a second",
        "Nov 23 21:30:00 mail x: exactly the limit",
        "Nov 23 21:30:01 mail x: past the limit: last year",
        "Nov 23 21:30:30 mail x: past the limit: last year",
    };
    const int64_t refs[] = { T_NOW, T_NOW + 30, T_NOW + 400 * 86400 };
    for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++)
        for (int lazy = 0; lazy < 2; lazy++) {
            struct syslog_ctx cached = ctx_at(refs[0]);
            for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
                    struct syslog_ctx fresh = ctx_at(refs[r]);
                    cached.ref = refs[r];
                    struct syslog_hdr a, b;
                    struct str l = str_make(lines[i], strlen(lines[i]));
                    int ra = lazy ? syslog_parse_lazy(&cached, l, &a) : syslog_parse(&cached, l, &a);
                    int rb = syslog_parse(&fresh, l, &b);
                    CHECK_INT(ra, rb);
                    if (ra == 0 && rb == 0) {
                        syslog_time(&cached, &a);
                        CHECK_INT(a.t, b.t);
                        CHECK_INT(a.usec, b.usec);
                        CHECK_INT(a.fmt, b.fmt);
                        CHECK(str_eq(a.msg, b.msg));
                    }
                }
        }
    tz("UTC");
}

int main(void)
{
    RUN(t_rfc3164);
    RUN(t_pids);
    RUN(t_iso);
    RUN(t_year_rule);
    RUN(t_corpus_pairs);
    RUN(t_hostile);
    RUN(t_truncated);
    RUN(t_minute_cache);
    return check_done();
}
