/* Unit tests for the fail2ban filter engine: regex translation, tags, prefilters, limits,
 * date detection, failure extraction (single-line, connection ids, multi-line). */
#include "check.h"
#include "guard/datedetect.h"
#include "guard/f2b_filter.h"
#include "guard/f2b_regex.h"
#include "util/buf.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];

static const char *py2pcre(const char *py)
{
    static char out[1024];
    struct buf b = BUF_INIT(4096);
    char err[256];
    if (f2b_py2pcre(py, &b, err, sizeof err) < 0) snprintf(out, sizeof out, "ERR %s", err);
    else snprintf(out, sizeof out, "%s", buf_cstr(&b));
    buf_free(&b);
    return out;
}

static void t_py2pcre(void)
{
    CHECK_STR(py2pcre("a\\Zb"), "a\\zb");
    CHECK_STR(py2pcre("x{,3}"), "x{0,3}");
    CHECK_STR(py2pcre("(?iu)abc"), "(?i)abc");
    CHECK_STR(py2pcre("(?u)abc"), "abc");
    CHECK_STR(py2pcre("(?u:abc)"), "(?:abc)");
    CHECK_STR(py2pcre("\\u00e4+"), "(?:\\xc3\\xa4)+");
    CHECK_STR(py2pcre("[[:a]"), "[\\[:a]");
    CHECK_STR(py2pcre("[]x]"), "[\\]x]");
    CHECK_STR(py2pcre("(?P<n>a)(?P=n)"), "(?P<n>a)(?P=n)");
    CHECK_STR(py2pcre("\\v"), "\\x0b");
    CHECK(strncmp(py2pcre("[abc"), "ERR", 3) == 0);
    CHECK(strncmp(py2pcre("\\N{DASH}"), "ERR", 3) == 0);
}

static const char *tags(const char *re, unsigned fl)
{
    static char out[4096];
    struct buf b = BUF_INIT(8192);
    f2b_tags_resolve(re, fl, &b);
    snprintf(out, sizeof out, "%s", buf_cstr(&b));
    buf_free(&b);
    return out;
}

static void t_tags(void)
{
    CHECK(strstr(tags("from <HOST>$", 0), "(?P<ip4>") != NULL);
    CHECK(strstr(tags("from <HOST>$", 0), "(?P<dns>") != NULL);
    CHECK(strstr(tags("from <HOST>$", F2B_RE_USEDNS_NO), "(?P<dns>") == NULL);
    CHECK_STR(tags("<F-USER>\\S+</F-USER> x", 0), "(?P<user>\\S+) x");
    CHECK_STR(tags("<F-ID>\\d+</F-ID>", 0), "(?P<fid>\\d+)");
    CHECK_STR(tags("<F-ID/>", 0), "(?P<fid>\\S+)");
    CHECK_STR(tags("</F-USER> <foo> <F-lower>", 0), "</F-USER> <foo> <F-lower>");
    CHECK_STR(tags("<SKIPLINES><SKIPLINES>", 0),
              "\\n(?P<skiplines0>(?:(?:.*\\n)*?))\\n(?P<skiplines1>(?:(?:.*\\n)*?))");
}

static struct f2b_re *compile(const char *re, unsigned fl)
{
    char err[512];
    struct f2b_re *r = f2b_re_compile(re, fl, err, sizeof err);
    if (!r) fprintf(stderr, "  compile %s: %s\n", re, err);
    return r;
}

static int search(const struct f2b_re *re, const char *s)
{
    struct f2b_mctx mx;
    f2b_mctx_init(&mx);
    int r = f2b_re_search(re, &mx, s, strlen(s), 0);
    f2b_mctx_free(&mx);
    return r;
}

static void t_match_bytes(void)
{
    /* invalid UTF-8 must not stop '.', [^ ], \S */
    struct f2b_re *re = compile("^user .* from <HOST>$", 0);
    CHECK(re && search(re, "user \xff\xfe\xc3 from 192.0.2.1") == 1);
    f2b_re_free(re);
    /* bytes >= 0x80 are word characters (Python's \w is Unicode) */
    re = compile("^\\w+$", 0);
    CHECK(re && search(re, "m\xc3\xbcller") == 1);
    f2b_re_free(re);
    /* ((?i)...) becomes (?i:...) */
    re = compile("SASL ((?i)login|plain) failed", 0);
    CHECK(re && search(re, "SASL LOGIN failed") == 1);
    CHECK(re && search(re, "sasl LOGIN failed") == 0);
    f2b_re_free(re);
    /* an empty regex is refused */
    char err[256];
    CHECK(f2b_re_compile("   ", 0, err, sizeof err) == NULL);
}

static void t_limits(void)
{
    struct f2b_re *re = compile("^(\\w+\\s?)+$", 0);
    char line[4096];
    memset(line, 'a', sizeof line);
    for (int i = 0; i < 4000; i += 5) line[i] = ' ';
    line[4000] = '!';
    line[4001] = 0;
    struct f2b_mctx mx;
    f2b_mctx_init(&mx);
    time_t t0 = time(NULL);
    int r = f2b_re_search(re, &mx, line, strlen(line), 0);
    CHECK(r != 1);
    CHECK(time(NULL) - t0 < 10);
    CHECK_INT(mx.limit_hits, r < 0 ? 1 : 0);
    f2b_mctx_free(&mx);
    f2b_re_free(re);
}

static void t_prefilter(void)
{
    struct f2b_re *re = compile("^foo (?:bar|baz) .* qux$", F2B_RE_NOTAGS);
    CHECK(re != NULL);
    if (!re) return;
    CHECK_INT(re->npf, 2);
    CHECK(f2b_re_may_match(re, "x foo baz y", 11));
    CHECK(!f2b_re_may_match(re, "foo bax qux", 11));
    f2b_re_free(re);
    re = compile("(?i)failed for .* from x", F2B_RE_NOTAGS);
    CHECK(re && re->npf == 0);
    f2b_re_free(re);
    re = compile("abc|\\w+", F2B_RE_NOTAGS);
    CHECK(re && re->npf == 0);
    f2b_re_free(re);
    /* postfix-like: one of several literals */
    re = compile("(?:\\w+: (?:milter-)?reject:|(?:improper command pipelining|too many errors) after \\S+)",
                 F2B_RE_NOTAGS);
    CHECK(re && re->npf == 4);
    f2b_re_free(re);
}

/* Property: whenever PCRE2 matches, the prefilter (memmem and pair scanner) lets it through. */
static unsigned rnd_state = 12345;
static unsigned rnd(void) { rnd_state = rnd_state * 1103515245u + 12345u; return rnd_state >> 16; }

static void gen_re(struct buf *b, int depth)
{
    static const char *const atoms[] = { "a", "b", "ab", "ba", "c", ".", "\\w", "[ab]", "[^a]", "\\d", " ", ":",
                                         "x y", "\\.", "(?i)a", "$", "^", "\\b" };
    int n = 1 + (int)(rnd() % 4);
    for (int i = 0; i < n; i++) {
        unsigned k = rnd() % 10;
        if (k < 6 || depth > 2) {
            buf_puts(b, atoms[rnd() % (sizeof atoms / sizeof *atoms)]);
        } else if (k < 8) {
            buf_puts(b, "(?:");
            gen_re(b, depth + 1);
            buf_putc(b, '|');
            gen_re(b, depth + 1);
            buf_putc(b, ')');
        } else {
            buf_putc(b, '(');
            gen_re(b, depth + 1);
            buf_putc(b, ')');
        }
        static const char *const q[] = { "", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,2}", "+?" };
        buf_puts(b, q[rnd() % 10]);
    }
}

static void t_prefilter_sound(void)
{
    struct f2b_mctx mx;
    f2b_mctx_init(&mx);
    int bad = 0, used = 0;
    for (int t = 0; t < 3000 && bad < 5; t++) {
        struct buf b = BUF_INIT(4096);
        gen_re(&b, 0);
        char err[256];
        struct f2b_re *re = f2b_re_compile(buf_cstr(&b), F2B_RE_NOTAGS, err, sizeof err);
        if (!re) { buf_free(&b); continue; }
        struct f2b_re *one[1] = { re };
        struct f2b_ac *ac = f2b_ac_build(one, 1);
        uint64_t found[32];
        if (re->npf) used++;
        for (int s = 0; s < 40; s++) {
            char subj[32];
            int n = (int)(rnd() % 24);
            static const char alpha[] = "abcxyAB :.1\n";
            for (int i = 0; i < n; i++) subj[i] = alpha[rnd() % (sizeof alpha - 1)];
            subj[n] = 0;
            if (f2b_re_search(re, &mx, subj, (size_t)n, 0) == 1) {
                bool ok = f2b_re_may_match(re, subj, (size_t)n);
                if (ac) {
                    f2b_ac_scan(ac, subj, (size_t)n, found);
                    ok = ok && f2b_ac_may_match(re, found);
                }
                if (!ok) {
                    fprintf(stderr, "  prefilter rejects a match: /%s/ on \"%s\"\n", buf_cstr(&b), subj);
                    bad++;
                }
            }
        }
        f2b_ac_free(ac);
        f2b_re_free(re);
        buf_free(&b);
    }
    f2b_mctx_free(&mx);
    CHECK_INT(bad, 0);
    CHECK(used > 100);
}

/* ---- date detection ---- */

static double date_of(const char *pattern, const char *line, int64_t now, bool *has, size_t *s, size_t *e)
{
    char err[512];
    struct dd_set *set = dd_set_new(pattern, NULL, err, sizeof err);
    if (!set) {
        fprintf(stderr, "  dd_set_new: %s\n", err);
        *has = false;
        return -1;
    }
    struct datedetect dd;
    dd_init(&dd, set);
    struct dd_now nw;
    dd_now_set(&nw, now);
    struct f2b_mctx mx;
    f2b_mctx_init(&mx);
    double d = -1;
    size_t tpl;
    *has = false;
    if (dd_match(&dd, &mx, &nw, line, strlen(line), s, e, &d, has, &tpl) != 1) d = -2;
    f2b_mctx_free(&mx);
    dd_free(&dd);
    dd_set_free(set);
    return d;
}

static int64_t local(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

static void t_dates(void)
{
    setenv("TZ", "CET-01CEST-02,M3.5.0,M10.5.0", 1);
    tzset();
    int64_t now = 1124013600;     /* 2005-08-14 12:00:00 CEST */
    bool has;
    size_t s, e;
    double d = date_of(NULL, "Nov  2 20:51:08 host sshd[1]: x", now, &has, &s, &e);
    CHECK(has);
    CHECK_INT((int64_t)d, local(2004, 11, 2, 20, 51, 8));      /* year rule: not in the future */
    CHECK_INT(s, 0);
    CHECK_INT(e, 15);
    d = date_of("{^LN-BEG}", "Aug 14 11:59:59 host x", now, &has, &s, &e);
    CHECK(has && (int64_t)d == local(2005, 8, 14, 11, 59, 59));
    d = date_of(NULL, "2005-01-23T21:59:59+02:00 x", now, &has, &s, &e);
    CHECK(has && (int64_t)d == 1106510399);
    d = date_of(NULL, "[1123999200.123] nsd", now, &has, &s, &e);
    CHECK(has && d > 1123999200.1 && d < 1123999200.2);
    d = date_of("{^LN-BEG}TAI64N", "@4000000042fef6f81c8a3c5c x", now, &has, &s, &e);
    CHECK(has && (int64_t)d == 0x42fef6f8);
    /* time only: today, or yesterday when in the future */
    d = date_of(NULL, "13:00:00 x", now, &has, &s, &e);
    CHECK(has && (int64_t)d == local(2005, 8, 13, 13, 0, 0));
    /* a template can match text that is no date: Feb 30 */
    d = date_of(NULL, "Feb 30 10:00:00 x", now, &has, &s, &e);
    CHECK(!has && e > s);
    d = date_of("^%%Y-%%m-%%d", "2005-08-01 x", now, &has, &s, &e);
    CHECK(d == -2);   /* "%%" is a literal '%' (configuration files write %%Y for %Y) */
    d = date_of("^%Q", "x", now, &has, &s, &e);
    CHECK(d == -1);   /* unknown directive: the pattern is refused */
    d = date_of("^%Y-%m-%d %H:%M:%S", "2005-08-01 10:00:00 x", now, &has, &s, &e);
    CHECK(has && (int64_t)d == local(2005, 8, 1, 10, 0, 0));
    d = date_of("^%Y-%m-%d %H:%M:%S", "x 2005-08-01 10:00:00", now, &has, &s, &e);
    CHECK(d == -2);
}

/* ---- the engine ---- */

struct got {
    char host[64][64];
    char user[64][64];
    uint64_t line[64];
    unsigned attempts[64];
    double time[64];
    int n;
    int verdict[64];
    int nv;
};

static void on_fail(void *ud, const struct failure *f)
{
    struct got *g = ud;
    if (g->n >= 64) return;
    snprintf(g->host[g->n], 64, "%.*s", STR_FMT(f->host));
    if (f->has_user) snprintf(g->user[g->n], 64, "%.*s", STR_FMT(f->user));
    else g->user[g->n][0] = 0;
    g->line[g->n] = f->line;
    g->attempts[g->n] = f->attempts;
    g->time[g->n] = f->has_time ? f->time : -1;
    g->n++;
}

static void on_line(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    struct got *g = ud;
    if (g->nv < 64) g->verdict[g->nv++] = (int)v;
}

static int run_lines(const char *spec, const char *args, const char *const *lines, size_t n, struct got *g,
                     int threads)
{
    const char *dirs[1] = { tmpdir };
    struct ini_vars a = { 0 };
    if (args) {
        char *name = NULL, err[256];
        char *full = malloc(strlen(args) + 4);
        snprintf(full, strlen(args) + 4, "x[%s]", args);
        ini_split_option(full, &name, &a, err, sizeof err);
        free(name);
        free(full);
    }
    struct f2b_load lo = { dirs, 1, &a, NULL, 0, NULL, "file", NULL, false, false };
    struct f2b_def *d;
    char err[512];
    memset(g, 0, sizeof *g);
    if (f2b_def_load(&d, spec, NULL, &lo, err, sizeof err) < 0) {
        fprintf(stderr, "  load %s: %s\n", spec, err);
        ini_vars_free(&a);
        return -1;
    }
    struct f2b_opts o = { true, false, 1124013600, threads };
    struct f2b_engine *e = f2b_engine_new(d, &o);
    struct filter_line *fl = calloc(n, sizeof *fl);
    for (size_t i = 0; i < n; i++) fl[i] = (struct filter_line){ str_c(lines[i]), i + 1, false, 0 };
    struct f2b_cbs cbs = { on_fail, on_line, NULL };
    f2b_engine_feed(e, fl, n, &cbs, g);
    free(fl);
    f2b_engine_free(e);
    f2b_def_free(d);
    ini_vars_free(&a);
    return 0;
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void t_engine_regex(void)
{
    static const char *const lines[] = {
        "Aug 14 11:00:00 h sshd[1]: Failed password for root from 192.0.2.1 port 22",
        "Aug 14 11:00:01 h sshd[1]: Failed password for bob from ::ffff:192.0.2.2 port 22",
        "Aug 14 11:00:02 h sshd[1]: Failed password for eve from 2001:DB8::1 port 22",
        "Aug 14 11:00:03 h sshd[1]: Failed password for x from host.example.org port 22",
        "Aug 14 11:00:04 h sshd[1]: Accepted password for root from 192.0.2.1 port 22",
    };
    struct got g;
    CHECK_INT(run_lines("Failed password for <F-USER>\\S+</F-USER> from <HOST>", NULL, lines, 5, &g, 1), 0);
    CHECK_INT(g.n, 4);
    CHECK_STR(g.host[0], "192.0.2.1");
    CHECK_STR(g.user[0], "root");
    CHECK_STR(g.host[1], "192.0.2.2");        /* v4-mapped shown as IPv4 */
    CHECK_STR(g.host[2], "2001:db8::1");      /* canonical */
    CHECK_STR(g.host[3], "host.example.org"); /* as captured, not resolved */
    CHECK_INT(g.line[3], 4);
    CHECK_INT(g.nv, 5);
    CHECK_INT(g.verdict[4], FV_MISSED);
}

static void t_engine_mlfid(void)
{
    put("mlf.conf",
        "[Definition]\n"
        "prefregex = ^\\s*\\S+ <F-MLFID>conn\\[\\d+\\]</F-MLFID>: <F-CONTENT>.+</F-CONTENT>$\n"
        "failregex = ^<F-NOFAIL>connect from</F-NOFAIL> <HOST>$\n"
        "            ^auth failed user=<F-USER>\\S+</F-USER>$\n"
        "            ^<F-NOFAIL><F-MLFFORGET>disconnect</F-MLFFORGET></F-NOFAIL>$\n"
        "datepattern = {^LN-BEG}\n");
    static const char *const lines[] = {
        "Aug 14 11:00:00 h conn[7]: connect from 192.0.2.9",
        "Aug 14 11:00:01 h conn[8]: auth failed user=nobody",        /* no host yet: pending */
        "Aug 14 11:00:02 h conn[7]: auth failed user=alice",
        "Aug 14 11:00:03 h conn[7]: auth failed user=bob",
        "Aug 14 11:00:04 h conn[7]: disconnect",
        "Aug 14 11:00:05 h conn[7]: auth failed user=carol",         /* forgotten: pending again */
    };
    struct got g;
    /* as fail2ban (checked against its Filter): the connect line gives the host to the
     * failure of the same connection two lines later; a second user makes the NOFAIL
     * disconnect a failure too; after the disconnect the connection is forgotten */
    CHECK_INT(run_lines("mlf", NULL, lines, 6, &g, 1), 0);
    CHECK_INT(g.n, 3);
    CHECK_STR(g.host[0], "192.0.2.9");
    CHECK_INT(g.line[0], 3);
    CHECK_STR(g.user[0], "alice");
    CHECK_INT(g.attempts[0], 2);
    CHECK_INT(g.line[1], 4);
    CHECK_INT(g.attempts[1], 1);
    CHECK_INT(g.line[2], 5);
    CHECK_INT(g.verdict[0], FV_IGNORED);      /* F-NOFAIL */
    CHECK_INT(g.verdict[5], FV_MATCHED);      /* pending: matched, not reported */
}

static void t_engine_multiline(void)
{
    put("ml.conf",
        "[Definition]\n"
        "failregex = ^.*conn (?P<c>\\d+) login <F-USER>\\S+</F-USER><SKIPLINES>^.*conn (?P=c) failed from <HOST>$\n"
        "maxlines = 4\n");
    static const char *const lines[] = {
        "2005-08-14 11:00:00 conn 1 login joe",
        "2005-08-14 11:00:01 other line",
        "2005-08-14 11:00:02 conn 1 failed from 192.0.2.77",
        "2005-08-14 11:00:03 unrelated",
    };
    struct got g;
    CHECK_INT(run_lines("ml", NULL, lines, 4, &g, 1), 0);
    CHECK_INT(g.n, 1);
    CHECK_STR(g.host[0], "192.0.2.77");
    CHECK_STR(g.user[0], "joe");
    CHECK_INT(g.line[0], 3);
    CHECK_INT(g.attempts[0], 2);             /* the two matched lines, not the skipped one */
}

static void t_engine_args_and_threads(void)
{
    put("modes.conf",
        "[Definition]\n"
        "mdre-normal = ^N from <HOST>$\n"
        "mdre-aggressive = %(mdre-normal)s\n"
        "                  ^A from <HOST>$\n"
        "failregex = <mdre-<mode>>\n"
        "mode = normal\n");
    static const char *const lines[] = { "N from 192.0.2.1", "A from 192.0.2.2" };
    struct got g;
    CHECK_INT(run_lines("modes", NULL, lines, 2, &g, 1), 0);
    CHECK_INT(g.n, 1);
    CHECK_INT(run_lines("modes", "mode=aggressive", lines, 2, &g, 1), 0);
    CHECK_INT(g.n, 2);
    /* many lines through two threads give the same failures in the same order */
    enum { N = 30000 };
    char **big = calloc(N, sizeof *big);
    for (int i = 0; i < N; i++) {
        big[i] = malloc(64);
        snprintf(big[i], 64, "%s from 192.0.2.%d", i % 3 ? "N" : "X", i % 200);
    }
    struct got g1, g2;
    run_lines("modes", NULL, (const char *const *)big, N, &g1, 1);
    run_lines("modes", NULL, (const char *const *)big, N, &g2, 2);
    CHECK_INT(g1.n, g2.n);
    CHECK(memcmp(g1.host, g2.host, sizeof g1.host) == 0 && memcmp(g1.line, g2.line, sizeof g1.line) == 0);
    for (int i = 0; i < N; i++) free(big[i]);
    free(big);
}

static void t_engine_hostile(void)
{
    /* NUL bytes, invalid UTF-8, huge lines, lines full of regex-like text: no crash, no hang */
    static char longline[70000];
    memset(longline, 'a', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    static const char *const lines[] = { "", "\xff\xfe\xfd", "((((((((((((((((((", longline,
                                         "Failed password for \xff from 192.0.2.5" };
    struct got g;
    CHECK_INT(run_lines("Failed password for .* from <HOST>", NULL, lines, 5, &g, 1), 0);
    CHECK_INT(g.n, 1);
    CHECK_STR(g.host[0], "192.0.2.5");
    /* a filter without a failure id is refused */
    struct f2b_load lo = { NULL, 0, NULL, NULL, 0, NULL, "file", NULL, false, false };
    struct f2b_def *d;
    char err[512];
    CHECK_INT(f2b_def_load(&d, "no id group (\\d+)", NULL, &lo, err, sizeof err), -1);
    CHECK(strstr(err, "No failure-id group") != NULL);
}

static void t_real_filters(void)
{
    /* the stock filters load and the failure tags resolve (fail2ban installed) */
    static const char *const names[] = { "postfix", "dovecot", "sshd", "sshd[mode=aggressive]", "exim",
                                         "postfix[mode=errors]" };
    const char *dirs[1] = { "/etc/fail2ban/filter.d" };
    struct f2b_load lo = { dirs, 1, NULL, NULL, 0, NULL, "file", NULL, false, false };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct f2b_def *d;
        char err[512];
        int r = f2b_def_load(&d, names[i], NULL, &lo, err, sizeof err);
        if (r < 0) fprintf(stderr, "  %s: %s\n", names[i], err);
        CHECK_INT(r, 0);
        if (r == 0) {
            CHECK(d->nfail > 0);
            f2b_def_free(d);
        }
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mw-f2b.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(t_py2pcre);
    RUN(t_tags);
    RUN(t_match_bytes);
    RUN(t_limits);
    RUN(t_prefilter);
    RUN(t_prefilter_sound);
    RUN(t_dates);
    RUN(t_engine_regex);
    RUN(t_engine_mlfid);
    RUN(t_engine_multiline);
    RUN(t_engine_args_and_threads);
    RUN(t_engine_hostile);
    if (access("/etc/fail2ban/filter.d/sshd.conf", R_OK) == 0) RUN(t_real_filters);
    else SKIP(t_real_filters, "fail2ban not installed");
    static const char *const files[] = { "mlf.conf", "ml.conf", "modes.conf" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return check_done();
}
