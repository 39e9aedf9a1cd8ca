/*
 * datedetect - see datedetect.h. Each function names the fail2ban code it mirrors; the
 * template regexes are built exactly as fail2ban builds them (the same Python regex
 * transformations, run through PCRE2), so names and regexes match fail2ban-regex's output.
 */
#include "guard/datedetect.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_BEGIN 8
#define LINE_END 4
#define WORD_BEGIN 2
#define WORD_END 1

enum dd_kind { DK_PATTERN, DK_EPOCH, DK_TAI64N };

int f2b_zone_offset(const char *z, int *minutes);

struct dd_template {
    enum dd_kind kind;
    char *name;
    char *pattern;          /* DatePatternRegex.pattern (NULL for epoch/TAI64N) */
    char *regex;
    struct f2b_re *re;
    unsigned flags;
    double weight;
    bool longfrm;
    int grp;                /* epoch: group holding the number */
};

/* ---- Python regex helpers (configuration time only) ------------------------------------ */

struct rxm {
    size_t so[10], eo[10];
    bool set[10];
};

static bool rx_search(const char *pyre, unsigned fl, const char *s, size_t from, struct rxm *m)
{
    char err[256];
    struct f2b_re *re = f2b_re_compile(pyre, F2B_RE_NOTAGS | fl, err, sizeof err);
    if (!re) abort();               /* our own constant regexes */
    struct f2b_mctx mx;
    f2b_mctx_init(&mx);
    bool ok = f2b_re_search(re, &mx, s, strlen(s), from) == 1;
    if (ok && m)
        for (uint32_t g = 0; g < 10; g++) m->set[g] = f2b_group_span(&mx, g, &m->so[g], &m->eo[g]);
    f2b_mctx_free(&mx);
    f2b_re_free(re);
    return ok;
}

typedef void (*rx_repl_fn)(struct buf *out, const char *s, const struct rxm *m, const void *ud);

/* re.sub(pyre, repl, s, count) into a new string. */
static char *rx_sub(const char *pyre, unsigned fl, const char *s, rx_repl_fn fn, const void *ud, int count)
{
    struct buf out = BUF_INIT(1u << 20);
    size_t pos = 0, len = strlen(s);
    int n = 0;
    struct rxm m;
    while (pos <= len && (count == 0 || n < count) && rx_search(pyre, fl, s, pos, &m)) {
        buf_append(&out, s + pos, m.so[0] - pos);
        fn(&out, s, &m, ud);
        n++;
        if (m.eo[0] == m.so[0]) {
            if (m.eo[0] < len) buf_putc(&out, s[m.eo[0]]);
            pos = m.eo[0] + 1;
        } else {
            pos = m.eo[0];
        }
    }
    if (pos < len) buf_append(&out, s + pos, len - pos);
    char *r = out.p ? out.p : xstrdup("");
    return r;
}

static void repl_lit(struct buf *out, const char *s, const struct rxm *m, const void *ud)
{
    buf_puts(out, ud);
}

static void repl_group(struct buf *out, const char *s, const struct rxm *m, const void *ud)
{
    /* \1(\2)\3 */
    for (int g = 1; g <= 3; g++) {
        if (g == 2) buf_putc(out, '(');
        if (m->set[g]) buf_append(out, s + m->so[g], m->eo[g] - m->so[g]);
        if (g == 2) buf_putc(out, ')');
    }
}

static void repl_del_stars(struct buf *out, const char *s, const struct rxm *m, const void *ud)
{
    for (size_t i = m->so[0]; i < m->eo[0]; i++) {
        if (s[i] == '*' && i + 1 < m->eo[0] && s[i + 1] == '*') { i++; continue; }
        buf_putc(out, s[i]);
    }
}

#define RE_GROUPED "(?<!(?:\\(\\?))(?<!\\\\)\\((?!\\?)"
#define RE_GROUP "^((?:\\(\\?\\w+\\))?\\^?(?:\\(\\?\\w+\\))?)(.*?)(\\$?)$"
#define RE_GLOBALFLAGS "((?:^|(?!<\\\\))\\(\\?[a-z]+\\))"
#define RE_EXLINE_NO_BOUNDS "^\\{UNB\\}"
#define RE_EXLINE_BOUND_BEG "^\\{\\^LN-BEG\\}"
#define RE_EXSANC_BOUND_BEG "^\\((?:\\?:)?\\^\\|\\\\b\\|\\\\W\\)"
#define RE_EXEANC_BOUND_BEG "\\(\\?=\\\\b\\|\\\\W\\|\\$\\)$"
#define RE_NO_WRD_BOUND_BEG "^\\(*(?:\\(\\?\\w+\\))?(?:\\^|\\(*\\*\\*|\\((?:\\?:)?\\^)"
#define RE_NO_WRD_BOUND_END "(?<!\\\\)(?:\\$\\)?|\\\\b|\\\\s|\\*\\*\\)*)$"
#define RE_DEL_WRD_BOUNDS "^\\(*(?:\\(\\?\\w+\\))?\\(*\\*\\*|(?<!\\\\)\\*\\*\\)*$"
#define RE_LINE_BOUND_BEG "^(?:\\(\\?\\w+\\))?(?:\\^|\\((?:\\?:)?\\^(?!\\|))"
#define RE_LINE_BOUND_END "(?<![\\\\\\|])(?:\\$\\)?)$"
#define RE_ALPHA_PATTERN "(?<!\\%)\\%[aAbBpc]"
#define RE_EPOCH_PATTERN "(?<!\\\\)\\{L?EPOCH\\}"
#define RE_DATE_PREMATCH "(?<!\\\\)\\{DATE\\}"

/* DateTemplate.unboundPattern */
static char *unbound_pattern(const char *p)
{
    char *a = rx_sub(RE_EXLINE_NO_BOUNDS, 0, p, repl_lit, "", 0);
    char *b = rx_sub(RE_EXLINE_BOUND_BEG, 0, a, repl_lit, "", 0);
    char *c = rx_sub(RE_EXSANC_BOUND_BEG, 0, b, repl_lit, "", 0);
    char *d = rx_sub(RE_EXEANC_BOUND_BEG, 0, c, repl_lit, "", 0);
    free(a);
    free(b);
    free(c);
    return d;
}

/* ---- strptime tables (strptime.py timeRE, getTimePatternRE) ---------------------------- */

static char g_exy[64] = "";

/* _getYearCentRE: grp() of a sorted list of strings */
static void grp(struct buf *out, char **v, int n)
{
    if (n > 1) {
        /* common prefix of all but the last char, else common first char */
        size_t l0 = strlen(v[0]);
        bool same = l0 > 1;
        for (int i = 1; i < n && same; i++)
            if (strlen(v[i]) != l0 || strncmp(v[i], v[0], l0 - 1) != 0) same = false;
        size_t cl = 0;
        if (same) cl = l0 - 1;
        else {
            bool f = v[0][0] != 0;
            for (int i = 1; i < n && f; i++) if (v[i][0] != v[0][0]) f = false;
            if (f) cl = 1;
        }
        if (cl) {
            buf_append(out, v[0], cl);
            char *sub[16];
            for (int i = 0; i < n; i++) sub[i] = v[i] + cl;
            grp(out, sub, n);
            return;
        }
        if (strlen(v[0]) > 1) {
            buf_puts(out, "(?:");
            for (int i = 0; i < n; i++) { if (i) buf_putc(out, '|'); buf_puts(out, v[i]); }
            buf_putc(out, ')');
        } else {
            buf_putc(out, '[');
            for (int i = 0; i < n; i++) buf_puts(out, v[i]);
            buf_putc(out, ']');
        }
        return;
    }
    if (n == 1) buf_puts(out, v[0]);
}

static int cmp_s(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void exy_init(void)
{
    if (g_exy[0]) return;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    char set[16][16];
    int n = 0;
    int years[64], ny = 0;
    years[ny++] = year - 1;
    years[ny++] = year + 3;
    for (int y = 2001 - 1; y < year + 1 && ny < 60; y += 3) years[ny++] = y;
    for (int i = 0; i < ny; i++) {
        char c[16];
        snprintf(c, sizeof c, "%.3d", (years[i] / 10) % 1000);
        bool dup = false;
        for (int k = 0; k < n; k++) if (strcmp(set[k], c) == 0) dup = true;
        if (!dup && n < 16) snprintf(set[n++], sizeof set[0], "%s", c);
    }
    char *v[16];
    for (int i = 0; i < n; i++) v[i] = set[i];
    qsort(v, (size_t)n, sizeof *v, cmp_s);
    struct buf b = BUF_INIT(256);
    buf_puts(&b, "(?P<Y>");
    grp(&b, v, n);
    buf_puts(&b, "\\d)");
    snprintf(g_exy, sizeof g_exy, "%s", buf_cstr(&b));
    buf_free(&b);
}

struct tre { const char *key, *re, *name; };

static const struct tre time_re[] = {
    { "%", "%", "%" },
    { "ExZ", "(?P<Z>[A-Z](?:[A-Z]{2,4})?)", "ExZone name" },
    { "Exz", "(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\\d(?::?\\d{2})?|[A-Z](?:[A-Z]{2,4})?)", "ExZone offset" },
    { "Exd", "(?P<d>[1-2]\\d|0[1-9]|3[0-1])", "ExDay" },
    { "Exm", "(?P<m>0[1-9]|1[0-2])", "ExMonth" },
    { "ExH", "(?P<H>[0-1]\\d|2[0-3])", "Ex24hour" },
    { "Exk", " ?(?P<H>[0-1]?\\d|2[0-3])", "Ex%k" },
    { "Exl", " ?(?P<I>1[0-2]|\\d)", "Ex%l" },
    { "ExM", "(?P<M>[0-5]\\d)", "ExMinute" },
    { "ExS", "(?P<S>[0-5]\\d|6[0-1])", "ExSecond" },
    { "ExY", NULL, "ExYear" },
    { "Exy", "(?P<y>\\d{2})", "ExYear2" },
    { "d", "(?P<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])", "Day" },
    { "f", "(?P<f>[0-9]{1,6})", "Microseconds" },
    { "H", "(?P<H>[0-1]?\\d|2[0-3])", "24hour" },
    { "I", "(?P<I>1[0-2]|0[1-9]|[1-9])", "12hour" },
    { "G", "(?P<G>\\d\\d\\d\\d)", "%G" },
    { "j", "(?P<j>36[0-6]|3[0-5]\\d|[1-2]\\d\\d|0[1-9]\\d|00[1-9]|[1-9]\\d|0[1-9]|[1-9])", "Yearday" },
    { "m", "(?P<m>0?[1-9]|1[0-2])", "Month" },
    { "M", "(?P<M>[0-5]?\\d)", "Minute" },
    { "S", "(?P<S>[0-5]?\\d|6[0-1])", "Second" },
    { "U", "(?P<U>5[0-3]|[0-4]\\d|\\d)", "Yearweek" },
    { "w", "(?P<w>[0-6])", "Weekday" },
    { "u", "(?P<u>[1-7])", "%u" },
    { "V", "(?P<V>5[0-3]|0[1-9]|[1-4]\\d|\\d)", "%V" },
    { "y", "(?P<y>\\d\\d)", "Year2" },
    { "Y", "(?P<Y>\\d{4})", "Year" },
    { "z", "(?P<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)", "Zone offset" },
    { "A", "(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)", "DAYNAME" },
    { "a", "(?P<a>mon|tue|wed|thu|fri|sat|sun)", "DAY" },
    { "B", "(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)", "MONTH" },
    { "b", "(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", "MON" },
    { "p", "(?P<p>am|pm)", "AMPM" },
    { "Z", "(?P<Z>Z|[A-Z]{3,5})", "Zone name" },
    { "W", "(?P<W>5[0-3]|[0-4]\\d|\\d)", "Yearweek" },
    { "c", "(?P<a>mon|tue|wed|thu|fri|sat|sun)\\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\\s+"
           "(?P<d>3[0-1]|[1-2]\\d|0[1-9]|[1-9]| [1-9])\\s+(?P<H>2[0-3]|[0-1]\\d|\\d):(?P<M>[0-5]\\d|\\d):"
           "(?P<S>6[0-1]|[0-5]\\d|\\d)\\s+(?P<Y>\\d\\d\\d\\d)", "%c" },
    { "x", "(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\\d|0[1-9]|[1-9]| [1-9])/(?P<y>\\d\\d)", "%x" },
    { "X", "(?P<H>2[0-3]|[0-1]\\d|\\d):(?P<M>[0-5]\\d|\\d):(?P<S>6[0-1]|[0-5]\\d|\\d)", "%X" },
    { "k", " ?(?P<H>[0-2]?\\d)", "%k" },
    { "l", " ?(?P<I>1?\\d)", "%l" },
};

/* _patternRE.sub + "fmt % dict": expand %-directives into regex (names: into the name). */
static int expand_pattern(const char *pat, struct buf *regex, struct buf *name, char *err, size_t errlen)
{
    exy_init();
    for (const char *p = pat; *p;) {
        if (*p != '%') {
            buf_putc(regex, *p);
            buf_putc(name, *p);
            p++;
            continue;
        }
        const struct tre *hit = NULL;
        size_t hl = 0;
        /* alternation order: "%", the multi-letter keys, then single letters */
        for (size_t i = 0; i < sizeof time_re / sizeof *time_re && !hit; i++) {
            size_t kl = strlen(time_re[i].key);
            if (strncmp(p + 1, time_re[i].key, kl) == 0 && (kl > 1 || i == 0)) { hit = &time_re[i]; hl = kl; }
        }
        for (size_t i = 1; i < sizeof time_re / sizeof *time_re && !hit; i++)
            if (strlen(time_re[i].key) == 1 && p[1] == time_re[i].key[0]) { hit = &time_re[i]; hl = 1; }
        if (!hit) {
            snprintf(err, errlen, "failed to set datepattern '%.100s' (may be an invalid format or "
                     "unescaped percent char)", pat);
            return -1;
        }
        buf_puts(regex, hit->re ? hit->re : g_exy);
        buf_puts(name, hit->name);
        p += 1 + hl;
    }
    return 0;
}

/* ---- templates ------------------------------------------------------------------------ */

static void tpl_free(struct dd_template *t)
{
    if (!t) return;
    free(t->name);
    free(t->pattern);
    free(t->regex);
    f2b_re_free(t->re);
    free(t);
}

/* DateTemplate.setRegex; wb: 0 false, 1 true, 2 'start' */
static int tpl_set_regex(struct dd_template *t, const char *regex0, int wb, bool we, char *err, size_t errlen)
{
    /* regex.strip() */
    while (*regex0 && isspace((unsigned char)*regex0)) regex0++;
    char *regex = xstrdup(regex0);
    for (size_t l = strlen(regex); l && isspace((unsigned char)regex[l - 1]);) regex[--l] = 0;
    struct rxm m;
    char *gf = NULL;
    if (rx_search(RE_GLOBALFLAGS, 0, regex, 0, &m)) {
        gf = xstrndup(regex + m.so[1], m.eo[1] - m.so[1]);
        char *r2 = rx_sub(RE_GLOBALFLAGS, 0, regex, repl_lit, "", 1);
        free(regex);
        regex = r2;
    }
    bool bound_begin = wb && !rx_search(RE_NO_WRD_BOUND_BEG, 0, regex, 0, NULL);
    bool bound_end = we && !rx_search(RE_NO_WRD_BOUND_END, 0, regex, 0, NULL);
    if (!rx_search(RE_GROUPED, 0, regex, 0, NULL)) {
        char *r2 = rx_sub(RE_GROUP, 0, regex, repl_group, NULL, 0);
        free(regex);
        regex = r2;
    }
    t->flags = 0;
    if (bound_begin) {
        t->flags |= wb != 2 ? WORD_BEGIN : LINE_BEGIN;
        char *r2 = xasprintf("%s%s", wb != 2 ? "(?=^|\\b|\\W)" : "^(?:\\W{0,2})?", regex);
        free(regex);
        regex = r2;
        if (wb == 2 && strncmp(t->name, "{^LN-BEG}", 9) != 0) {
            char *n2 = xasprintf("{^LN-BEG}%s", t->name);
            free(t->name);
            t->name = n2;
        }
    }
    if (bound_end) {
        t->flags |= WORD_END;
        char *r2 = xasprintf("%s(?=\\b|\\W|$)", regex);
        free(regex);
        regex = r2;
    }
    if (!(t->flags & LINE_BEGIN) && rx_search(RE_LINE_BOUND_BEG, 0, regex, 0, NULL)) t->flags |= LINE_BEGIN;
    if (!(t->flags & LINE_END) && rx_search(RE_LINE_BOUND_END, 0, regex, 0, NULL)) t->flags |= LINE_END;
    char *r2 = rx_sub(RE_DEL_WRD_BOUNDS, 0, regex, repl_del_stars, NULL, 0);
    free(regex);
    regex = r2;
    if (gf) {
        r2 = xasprintf("%s%s", gf, regex);
        free(regex);
        regex = r2;
        free(gf);
    }
    free(t->regex);
    t->regex = regex;
    f2b_re_free(t->re);
    t->re = f2b_re_compile(regex, F2B_RE_NOTAGS, err, errlen);
    return t->re ? 0 : -1;
}

/* DatePatternRegex(pattern) */
static struct dd_template *tpl_pattern(const char *pattern, char *err, size_t errlen)
{
    struct dd_template *t = xcalloc(1, sizeof *t);
    t->kind = DK_PATTERN;
    t->weight = 1.0;
    t->pattern = xstrdup(pattern);
    int wb = 1;
    bool we = true;
    char *p = xstrdup(pattern);
    if (rx_search(RE_EXLINE_NO_BOUNDS, 0, p, 0, NULL)) {
        char *q = rx_sub(RE_EXLINE_NO_BOUNDS, 0, p, repl_lit, "", 0);
        free(p);
        p = q;
        wb = 0;
        we = false;
    }
    if (wb && rx_search(RE_EXLINE_BOUND_BEG, 0, p, 0, NULL)) {
        char *q = rx_sub(RE_EXLINE_BOUND_BEG, 0, p, repl_lit, "", 0);
        free(p);
        p = q;
        wb = 2;
    }
    struct buf rx = BUF_INIT(1u << 20), nm = BUF_INIT(1u << 20);
    int rc = expand_pattern(p, &rx, &nm, err, errlen);
    if (rc == 0) {
        t->name = xstrdup(buf_cstr(&nm));
        char *regex = rx_search(RE_ALPHA_PATTERN, 0, p, 0, NULL) ? xasprintf("(?iu)%s", buf_cstr(&rx))
                                                                  : xstrdup(buf_cstr(&rx));
        rc = tpl_set_regex(t, regex, wb, we, err, errlen);
        free(regex);
    }
    buf_free(&rx);
    buf_free(&nm);
    free(p);
    if (rc < 0) {
        tpl_free(t);
        return NULL;
    }
    return t;
}

#define EPOCH_RE "\\d{10,11}\\b(?:\\.\\d{3,6})?"
#define LEPOCH_RE "\\d{10,11}(?:\\d{3}(?:\\.\\d{1,6}|\\d{3})?)?"

static void repl_epoch(struct buf *out, const char *s, const struct rxm *m, const void *ud)
{
    buf_printf(out, "(%s)", (const char *)ud);
}

/* DateEpoch(lineBeginOnly, pattern, longFrm) */
static struct dd_template *tpl_epoch(bool line_begin_only, const char *pattern, bool longfrm,
                                     char *err, size_t errlen)
{
    struct dd_template *t = xcalloc(1, sizeof *t);
    t->kind = DK_EPOCH;
    t->weight = 1.0;
    t->longfrm = longfrm;
    t->grp = 1;
    t->name = xstrdup(pattern ? pattern : longfrm ? "LongEpoch" : "Epoch");
    const char *ere = longfrm ? LEPOCH_RE : EPOCH_RE;
    int rc;
    if (pattern) {
        char *sub = rx_sub("(?i)" RE_EPOCH_PATTERN, 0, pattern, repl_epoch, ere, 0);
        char *regex = xasprintf("(%s)", sub);
        free(sub);
        t->grp = 2;
        rc = tpl_set_regex(t, regex, 1, true, err, errlen);
        free(regex);
    } else if (!line_begin_only) {
        char *regex = xasprintf("((?:^|(?P<square>(?<=^\\[))|(?P<selinux>(?<=\\baudit\\()))%s)"
                                "(?:(?(selinux)(?=:\\d+\\)))|(?(square)(?=\\])))", ere);
        rc = tpl_set_regex(t, regex, 0, true, err, errlen);
        free(regex);
    } else {
        char *regex = xasprintf("((?P<square>(?<=^\\[))?%s)(?(square)(?=\\]))", ere);
        rc = tpl_set_regex(t, regex, 2, true, err, errlen);
        free(regex);
    }
    if (rc < 0) { tpl_free(t); return NULL; }
    return t;
}

static struct dd_template *tpl_tai64n(bool start, char *err, size_t errlen)
{
    struct dd_template *t = xcalloc(1, sizeof *t);
    t->kind = DK_TAI64N;
    t->weight = 1.0;
    t->name = xstrdup("TAI64N");
    if (tpl_set_regex(t, "@[0-9a-f]{24}", start ? 2 : 0, true, err, errlen) < 0) { tpl_free(t); return NULL; }
    return t;
}

static char *upper_dup(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++) *p = (char)toupper((unsigned char)*p);
    return r;
}

/* _getPatternTemplate(pattern, key) */
static struct dd_template *pattern_template(const char *pattern, const char *key0, char *err, size_t errlen)
{
    char *key = key0 ? xstrdup(key0) : strchr(pattern, '%') ? xstrdup(pattern) : upper_dup(pattern);
    struct dd_template *t = NULL;
    bool done = false;
    if (strstr(key, "EPOCH")) {
        if (rx_search("(?i)" RE_EPOCH_PATTERN, 0, pattern, 0, NULL)) {
            t = tpl_epoch(false, pattern, strstr(key, "LEPOCH") != NULL, err, errlen);
            done = true;
        } else if (!strcmp(key, "EPOCH") || !strcmp(key, "{^LN-BEG}EPOCH") || !strcmp(key, "^EPOCH")) {
            t = tpl_epoch(strcmp(key, "EPOCH") != 0, NULL, false, err, errlen);
            done = true;
        } else if (!strcmp(key, "LEPOCH") || !strcmp(key, "{^LN-BEG}LEPOCH") || !strcmp(key, "^LEPOCH")) {
            t = tpl_epoch(strcmp(key, "LEPOCH") != 0, NULL, true, err, errlen);
            done = true;
        }
    }
    if (!done) {
        if (!strcmp(key, "TAI64N") || !strcmp(key, "{^LN-BEG}TAI64N") || !strcmp(key, "^TAI64N"))
            t = tpl_tai64n(strcmp(key, "TAI64N") != 0, err, errlen);
        else
            t = tpl_pattern(pattern, err, errlen);
    }
    free(key);
    return t;
}

static const char *const default_templates[] = {
    "%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?",
    "(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "(?:%a )?%b %d %ExY %k:%M:%S(?:\\.%f)?",
    "%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    "%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\\.%f)?(?: %z)?",
    "%m/%d/%ExY:%H:%M:%S",
    "%m-%d-%ExY %k:%M:%S(?:\\.%f)?",
    "EPOCH",
    "{^LN-BEG}%H:%M:%S",
    "^<%m/%d/%Exy@%H:%M:%S>",
    "%Exy%Exm%Exd  ?%H:%M:%S",
    "%b %d, %ExY %I:%M:%S %p",
    "^%b-%d-%Exy %k:%M:%S",
    "%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\\s*%z)?",
    "(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
    "TAI64N",
};
#define NDEFAULT (sizeof default_templates / sizeof *default_templates)

/* Source text a template is re-built from when anchored/wrapped: its pattern, else its name
 * (_getAnchoredTemplate uses the pattern for pattern templates, the name otherwise). */
static const char *tpl_source(const struct dd_template *t, bool *is_pattern)
{
    *is_pattern = t->kind == DK_PATTERN;
    return t->kind == DK_PATTERN ? t->pattern : t->name;
}

struct tlist {
    struct dd_template **v;
    size_t n, cap;
};

static void tl_push(struct tlist *l, struct dd_template *t)
{
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = t;
}

static bool tl_has_name(const struct tlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) if (strcmp(l->v[i]->name, name) == 0) return true;
    return false;
}

/* DateDetectorCache: defaults (originals) and the full cached list (anchored copies first). */
static int build_defaults(struct tlist *orig, struct tlist *all, char *err, size_t errlen)
{
    struct tlist anch = { 0 };
    for (size_t i = 0; i < NDEFAULT; i++) {
        struct dd_template *t = pattern_template(default_templates[i], NULL, err, errlen);
        if (!t) return -1;
        tl_push(orig, t);
        if (strncmp(t->name, "{^LN-BEG}", 9) != 0 && t->name[0] != '^') {
            bool isp;
            const char *src = tpl_source(t, &isp);
            char *w = xasprintf("{^LN-BEG}%s", src);
            struct dd_template *t2 = pattern_template(w, NULL, err, errlen);
            free(w);
            if (!t2) return -1;
            if (strcmp(t2->name, t->name) != 0) {
                t2->weight = 100.0;
                tl_push(&anch, t2);
            } else {
                tpl_free(t2);
            }
        }
    }
    for (size_t i = 0; i < anch.n; i++) tl_push(all, anch.v[i]);
    free(anch.v);
    return 0;
}

static void repl_date(struct buf *out, const char *s, const struct rxm *m, const void *ud)
{
    buf_puts(out, ud);
}

struct dd_set *dd_set_new(const char *datepattern, const char *tz, char *err, size_t errlen)
{
    struct dd_set *set = xcalloc(1, sizeof *set);
    if (tz && *tz) {
        /* validateTimeZone: fixed offsets and abbreviations */
        int off;
        if (f2b_zone_offset(tz, &off) < 0) {
            snprintf(err, errlen, "unknown or unsupported time zone: '%s'", tz);
            free(set);
            return NULL;
        }
        set->default_tz = off;
        set->has_default_tz = true;
    }
    struct tlist orig = { 0 }, cached = { 0 }, out = { 0 };
    int rc = build_defaults(&orig, &cached, err, errlen);
    /* cached = anchored copies + originals (each original is owned by `orig`) */
    bool use_defaults_all = false;
    const char *dp = datepattern ? datepattern : "";
    /* split at newlines, strip, drop empty */
    char *copy = xstrdup(dp);
    size_t npat = 0;
    for (char *line = copy; rc == 0 && line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        size_t l = strlen(p);
        while (l && isspace((unsigned char)p[l - 1])) p[--l] = 0;
        line = nl ? nl + 1 : NULL;
        if (!*p) continue;
        npat++;
        char *key = strchr(p, '%') ? xstrdup(p) : upper_dup(p);
        bool ignore_dup = out.n > 0;
        if (!strcmp(key, "{^LN-BEG}") || !strcmp(key, "{DEFAULT}")) {
            bool lb = !strcmp(key, "{^LN-BEG}");
            /* addDefaultTemplate(filter) over the cached list (anchored copies, then originals) */
            for (int pass = 0; pass < 2; pass++) {
                struct tlist *src = pass == 0 ? &cached : &orig;
                for (size_t i = 0; i < src->n; i++) {
                    struct dd_template *t = src->v[i];
                    if (lb && !(t->flags & LINE_BEGIN)) continue;
                    if (tl_has_name(&out, t->name)) {
                        if (ignore_dup) continue;
                        snprintf(err, errlen, "there is already a template with name %s", t->name);
                        rc = -1;
                        break;
                    }
                    bool isp;
                    const char *s = tpl_source(t, &isp);
                    struct dd_template *c = pattern_template(s, NULL, err, errlen);
                    if (!c) { rc = -1; break; }
                    c->weight = t->weight;
                    tl_push(&out, c);
                }
            }
        } else if (strstr(key, "{DATE}")) {
            for (size_t i = 0; i < orig.n && rc == 0; i++) {
                struct dd_template *t = orig.v[i];
                bool isp;
                const char *s = tpl_source(t, &isp);
                char *ub = unbound_pattern(s);
                char *w = rx_sub("(?i)" RE_DATE_PREMATCH, 0, p, repl_date, ub, 0);
                free(ub);
                struct dd_template *c = pattern_template(w, NULL, err, errlen);
                free(w);
                if (!c) { rc = -1; break; }
                if (tl_has_name(&out, c->name)) {
                    tpl_free(c);
                    if (ignore_dup) continue;
                    snprintf(err, errlen, "there is already a template with name %s", t->name);
                    rc = -1;
                    break;
                }
                tl_push(&out, c);
            }
        } else {
            struct dd_template *c = !strcmp(key, "{NONE}") ? pattern_template("{UNB}^", key, err, errlen)
                                                           : pattern_template(p, key, err, errlen);
            if (!c) rc = -1;
            else if (tl_has_name(&out, c->name)) {
                snprintf(err, errlen, "there is already a template with name %s", c->name);
                tpl_free(c);
                rc = -1;
            } else {
                /* fail2ban shares template objects by pattern: the same pattern as an anchored
                 * default copy is that copy, with its weight */
                for (size_t k = 0; k < cached.n; k++)
                    if (strcmp(cached.v[k]->name, c->name) == 0) c->weight = cached.v[k]->weight;
                tl_push(&out, c);
            }
        }
        free(key);
    }
    free(copy);
    if (rc == 0 && npat == 0) use_defaults_all = true;
    if (rc == 0 && use_defaults_all) {
        /* no datepattern: all defaults (the detector adds them on its first line) */
        for (int pass = 0; pass < 2; pass++) {
            struct tlist *src = pass == 0 ? &cached : &orig;
            for (size_t i = 0; i < src->n; i++) {
                bool isp;
                struct dd_template *c = pattern_template(tpl_source(src->v[i], &isp), NULL, err, errlen);
                if (!c) { rc = -1; break; }
                c->weight = src->v[i]->weight;
                tl_push(&out, c);
            }
        }
    }
    for (size_t i = 0; i < orig.n; i++) tpl_free(orig.v[i]);
    for (size_t i = 0; i < cached.n; i++) tpl_free(cached.v[i]);
    free(orig.v);
    free(cached.v);
    if (rc < 0) {
        for (size_t i = 0; i < out.n; i++) tpl_free(out.v[i]);
        free(out.v);
        free(set);
        return NULL;
    }
    set->t = out.v;
    set->n = out.n;
    return set;
}

void dd_set_free(struct dd_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) tpl_free(s->t[i]);
    free(s->t);
    free(s);
}

const char *dd_template_name(const struct dd_template *t) { return t->name; }

/* ---- detector (DateDetector.matchTime) -------------------------------------------------- */

void dd_init(struct datedetect *dd, const struct dd_set *set)
{
    memset(dd, 0, sizeof *dd);
    dd->set = set;
    dd->n = set->n;
    dd->e = xcalloc(set->n ? set->n : 1, sizeof *dd->e);
    for (size_t i = 0; i < set->n; i++) {
        dd->e[i].t = set->t[i];
        dd->e[i].distance = 0x7fffffff;
    }
    dd->last_pos = 1;
    dd->last_end = 0x7fffffff;
    dd->last_pos_c1 = dd->last_pos_c2 = dd->last_end_c1 = dd->last_end_c2 = -2;
    dd->last_idx = (size_t)-1;
}

void dd_free(struct datedetect *dd)
{
    free(dd->e);
    dd->e = NULL;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int char_at(const char *line, size_t len, long i) { return i >= 0 && (size_t)i < len ? (unsigned char)line[i] : -1; }
static bool py_alnum(int c) { return c >= 0 && (isalnum(c) || c >= 0x80); }

static double entry_weight(const struct dd_entry *e)
{
    return (double)e->hits * e->t->weight / (double)(e->distance > 1 ? e->distance : 1);
}

/* _reorderTemplate */
static size_t reorder(struct datedetect *dd, size_t num)
{
    if (!num) return num;
    struct dd_entry *t = &dd->e[num];
    double untime = t->last_used - 300;
    double weight = entry_weight(t);
    size_t pos = dd->first_unused < num ? dd->first_unused : num / 2;
#define MOVEABLE(p) (weight > entry_weight(&dd->e[p]) || untime > dd->e[p].last_used)
    if (!MOVEABLE(pos)) {
        if (pos == num - 1) return num;
        pos = num - 1;
        if (!MOVEABLE(pos)) return num;
    }
#undef MOVEABLE
    struct dd_entry moved = *t;
    memmove(&dd->e[pos + 1], &dd->e[pos], (num - pos) * sizeof *dd->e);
    dd->e[pos] = moved;
    while (dd->first_unused < dd->n && dd->e[dd->first_unused].hits) dd->first_unused++;
    return pos;
}

static int tpl_search(struct dd_entry *e, struct f2b_mctx *mx, const char *line, size_t len, size_t pos,
                      size_t endpos)
{
    if (!f2b_re_may_match(e->t->re, line + pos, endpos - pos)) return 0;
    int r = f2b_re_search(e->t->re, mx, line, endpos, pos);
    if (r == 1) e->mhits++;
    return r == 1;
}

/* ---- time conversion (reGroupDictStrptime) -------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int mdays(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* naive datetime as seconds since 0001 (civil arithmetic, no zone) */
struct ndt { int y, mo, d, h, mi, s; };

static int64_t ndt_secs(const struct ndt *t)
{
    return days_from_civil(t->y, (unsigned)t->mo, (unsigned)t->d) * 86400 + t->h * 3600 + t->mi * 60 + t->s;
}

static void ndt_from_secs(int64_t v, struct ndt *t)
{
    int64_t days = v >= 0 ? v / 86400 : -((-v + 86399) / 86400);
    int64_t rem = v - days * 86400;
    civil_from_days(days, &t->y, &t->mo, &t->d);
    t->h = (int)(rem / 3600);
    t->mi = (int)(rem / 60 % 60);
    t->s = (int)(rem % 60);
}

int64_t dd_mktime(struct datedetect *dd, int y, int mo, int d, int h, int mi, int s)
{
    int64_t key = ((((int64_t)y * 13 + mo) * 32 + d) * 25 + h) + 1;
    if (dd && dd->tc.key == key && dd->tc.ok) return dd->tc.base + mi * 60 + s;
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    int64_t r = (int64_t)mktime(&tm);
    if (dd) {
        /* cache this hour only when it has no DST change inside */
        struct tm a = { 0 }, b = { 0 };
        a.tm_year = b.tm_year = y - 1900;
        a.tm_mon = b.tm_mon = mo - 1;
        a.tm_mday = b.tm_mday = d;
        a.tm_hour = b.tm_hour = h;
        b.tm_min = 59;
        b.tm_sec = 59;
        a.tm_isdst = b.tm_isdst = -1;
        int64_t ta = (int64_t)mktime(&a), tb = (int64_t)mktime(&b);
        dd->tc.key = key;
        dd->tc.base = ta;
        dd->tc.ok = tb - ta == 3599 && ta + mi * 60 + s == r;
    }
    return r;
}

void dd_now_set(struct dd_now *now, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    now->t = t;
    now->y = tm.tm_year + 1900;
    now->mo = tm.tm_mon + 1;
    now->d = tm.tm_mday;
    now->h = tm.tm_hour;
    now->mi = tm.tm_min;
    now->s = tm.tm_sec;
}

/* TZ_STR of strptime.py */
static const struct { const char *abbr; int min; } tz_abbr[] = {
    { "Y", -720 }, { "X", -660 }, { "NUT", -660 }, { "SST", -660 },
    { "W", -600 }, { "CKT", -600 }, { "HAST", -600 }, { "HST", -600 }, { "TAHT", -600 }, { "TKT", -600 },
    { "V", -540 }, { "AKST", -540 }, { "GAMT", -540 }, { "GIT", -540 }, { "HADT", -540 }, { "HNY", -540 },
    { "U", -480 }, { "AKDT", -480 }, { "CIST", -480 }, { "HAY", -480 }, { "HNP", -480 }, { "PST", -480 }, { "PT", -480 },
    { "T", -420 }, { "HAP", -420 }, { "HNR", -420 }, { "MST", -420 }, { "PDT", -420 },
    { "S", -360 }, { "CST", -360 }, { "EAST", -360 }, { "GALT", -360 }, { "HAR", -360 }, { "HNC", -360 }, { "MDT", -360 },
    { "R", -300 }, { "CDT", -300 }, { "COT", -300 }, { "EASST", -300 }, { "ECT", -300 }, { "EST", -300 }, { "ET", -300 },
    { "HAC", -300 }, { "HNE", -300 }, { "PET", -300 },
    { "Q", -240 }, { "AST", -240 }, { "BOT", -240 }, { "CLT", -240 }, { "COST", -240 }, { "EDT", -240 }, { "FKT", -240 },
    { "GYT", -240 }, { "HAE", -240 }, { "HNA", -240 }, { "PYT", -240 },
    { "P", -180 }, { "ADT", -180 }, { "ART", -180 }, { "BRT", -180 }, { "CLST", -180 }, { "FKST", -180 }, { "GFT", -180 },
    { "HAA", -180 }, { "PMST", -180 }, { "PYST", -180 }, { "SRT", -180 }, { "UYT", -180 }, { "WGT", -180 },
    { "O", -120 }, { "BRST", -120 }, { "FNT", -120 }, { "PMDT", -120 }, { "UYST", -120 }, { "WGST", -120 },
    { "N", -60 }, { "AZOT", -60 }, { "CVT", -60 }, { "EGT", -60 },
    { "Z", 0 }, { "EGST", 0 }, { "GMT", 0 }, { "UTC", 0 }, { "WET", 0 }, { "WT", 0 },
    { "A", 60 }, { "CET", 60 }, { "DFT", 60 }, { "WAT", 60 }, { "WEDT", 60 }, { "WEST", 60 },
    { "B", 120 }, { "CAT", 120 }, { "CEDT", 120 }, { "CEST", 120 }, { "EET", 120 }, { "SAST", 120 }, { "WAST", 120 },
    { "C", 180 }, { "EAT", 180 }, { "EEDT", 180 }, { "EEST", 180 }, { "IDT", 180 }, { "MSK", 180 },
    { "D", 240 }, { "AMT", 240 }, { "AZT", 240 }, { "GET", 240 }, { "GST", 240 }, { "KUYT", 240 }, { "MSD", 240 },
    { "MUT", 240 }, { "RET", 240 }, { "SAMT", 240 }, { "SCT", 240 },
    { "E", 300 }, { "AMST", 300 }, { "AQTT", 300 }, { "AZST", 300 }, { "HMT", 300 }, { "MAWT", 300 }, { "MVT", 300 },
    { "PKT", 300 }, { "TFT", 300 }, { "TJT", 300 }, { "TMT", 300 }, { "UZT", 300 }, { "YEKT", 300 },
    { "F", 360 }, { "ALMT", 360 }, { "BIOT", 360 }, { "BTT", 360 }, { "IOT", 360 }, { "KGT", 360 }, { "NOVT", 360 },
    { "OMST", 360 }, { "YEKST", 360 },
    { "G", 420 }, { "CXT", 420 }, { "DAVT", 420 }, { "HOVT", 420 }, { "ICT", 420 }, { "KRAT", 420 }, { "NOVST", 420 },
    { "OMSST", 420 }, { "THA", 420 }, { "WIB", 420 },
    { "H", 480 }, { "ACT", 480 }, { "AWST", 480 }, { "BDT", 480 }, { "BNT", 480 }, { "CAST", 480 }, { "HKT", 480 },
    { "IRKT", 480 }, { "KRAST", 480 }, { "MYT", 480 }, { "PHT", 480 }, { "SGT", 480 }, { "ULAT", 480 }, { "WITA", 480 },
    { "WST", 480 },
    { "I", 540 }, { "AWDT", 540 }, { "IRKST", 540 }, { "JST", 540 }, { "KST", 540 }, { "PWT", 540 }, { "TLT", 540 },
    { "WDT", 540 }, { "WIT", 540 }, { "YAKT", 540 },
    { "K", 600 }, { "AEST", 600 }, { "ChST", 600 }, { "PGT", 600 }, { "VLAT", 600 }, { "YAKST", 600 }, { "YAPT", 600 },
    { "L", 660 }, { "AEDT", 660 }, { "LHDT", 660 }, { "MAGT", 660 }, { "NCT", 660 }, { "PONT", 660 }, { "SBT", 660 },
    { "VLAST", 660 }, { "VUT", 660 },
    { "M", 720 }, { "ANAST", 720 }, { "ANAT", 720 }, { "FJT", 720 }, { "GILT", 720 }, { "MAGST", 720 }, { "MHT", 720 },
    { "NZST", 720 }, { "PETST", 720 }, { "PETT", 720 }, { "TVT", 720 }, { "WFT", 720 },
    { "FJST", 780 }, { "NZDT", 780 },
    { "NFT", 690 }, { "ACDT", 630 }, { "LHST", 630 }, { "ACST", 570 }, { "CCT", 390 }, { "MMT", 390 }, { "NPT", 345 },
    { "SLT", 330 }, { "AFT", 270 }, { "IRDT", 270 }, { "IRST", 210 }, { "HAT", -150 }, { "NDT", -150 },
    { "HNT", -210 }, { "NST", -210 }, { "NT", -210 }, { "HLV", -270 }, { "VET", -270 }, { "MART", -570 }, { "MIT", -570 },
};

/* validateTimeZone + zone2offset: "(TZA)?([+-][01]\d(:?\d{2})?)?$" */
int f2b_zone_offset(const char *z, int *minutes)
{
    if (!strcmp(z, "Z") || !strcmp(z, "UTC") || !strcmp(z, "GMT")) { *minutes = 0; return 0; }
    const char *p = z;
    size_t al = 0;
    if (isupper((unsigned char)p[0])) {
        al = 1;
        while (al < 5 && isupper((unsigned char)p[al])) al++;
        if (al == 2) al = 1;            /* [A-Z](?:[A-Z]{2,4})? */
    }
    int base = 0;
    if (al) {
        bool found = false;
        for (size_t i = 0; i < sizeof tz_abbr / sizeof *tz_abbr; i++)
            if (strlen(tz_abbr[i].abbr) == al && strncmp(tz_abbr[i].abbr, p, al) == 0) {
                base = tz_abbr[i].min;
                found = true;
            }
        if (!found) return -1;
        p += al;
    }
    if (!*p) { *minutes = base; return 0; }
    if ((*p != '+' && *p != '-') || (p[1] != '0' && p[1] != '1') || !isdigit((unsigned char)p[2])) return -1;
    int sign = *p == '-' ? -1 : 1;
    int hh = (p[1] - '0') * 10 + (p[2] - '0');
    const char *q = p + 3;
    if (!*q) { *minutes = base + sign * hh * 60; return 0; }
    if (*q == ':') q++;
    if (!isdigit((unsigned char)q[0]) || !isdigit((unsigned char)q[1]) || q[2]) return -1;
    int mm = (q[0] - '0') * 10 + (q[1] - '0');
    *minutes = base + sign * (hh * 60 + mm);
    return 0;
}

static const char *const a_month[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const f_month[] = { "january", "february", "march", "april", "may", "june", "july", "august",
                                       "september", "october", "november", "december" };
static const char *const a_wday[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const char *const f_wday[] = { "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday" };

static int lookup_name(const char *s, size_t n, const char *const *tab, int count)
{
    char low[16];
    if (n >= sizeof low) return -1;
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = 0;
    for (int i = 0; i < count; i++) if (strcmp(low, tab[i]) == 0) return i;
    return -1;
}

static long num(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') continue;
        if (!isdigit((unsigned char)s[i]) || v > 100000000) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* reGroupDictStrptime over the named groups of the match; false: not a valid date. */
static bool strptime_groups(struct datedetect *dd, const struct dd_template *t, const struct f2b_mctx *mx,
                            const char *line, const struct dd_now *now, double *out)
{
    int year = -1, month = -1, day = -1, hour = 0, minute = 0, second = 0, weekday = -1, julian = -1;
    int week_of_year = -1, week_start = 0;
    bool have_tz = false;
    int tzoffset = 0;
    const struct f2b_re *re = t->re;
    /* Python iterates the group dict in definition order: sort names by first group number */
    size_t order[64], no = 0;
    for (size_t i = 0; i < re->ngroups && no < 64; i++) order[no++] = i;
    for (size_t i = 1; i < no; i++)
        for (size_t k = i; k > 0 && re->groups[order[k]].num[0] < re->groups[order[k - 1]].num[0]; k--) {
            size_t tmp = order[k]; order[k] = order[k - 1]; order[k - 1] = tmp;
        }
    for (size_t oi = 0; oi < no; oi++) {
        const struct f2b_group *g = &re->groups[order[oi]];
        size_t so = 0, eo = 0;
        bool set = false;
        for (int k = 0; k < g->nnum && !set; k++) set = f2b_group_span(mx, g->num[k], &so, &eo);
        if (!set) continue;
        const char *v = line + so;
        size_t n = eo - so;
        const char *key = g->name;
        if (!strcmp(key, "y")) { year = (int)num(v, n); if (year < 0) return false; if (year <= 2000) year += 2000; }
        else if (!strcmp(key, "Y")) { year = (int)num(v, n); if (year < 0) return false; }
        else if (!strcmp(key, "m")) month = (int)num(v, n);
        else if (!strcmp(key, "B")) { month = lookup_name(v, n, f_month, 12); if (month < 0) return false; month++; }
        else if (!strcmp(key, "b")) { month = lookup_name(v, n, a_month, 12); if (month < 0) return false; month++; }
        else if (!strcmp(key, "d")) day = (int)num(v, n);
        else if (!strcmp(key, "H")) hour = (int)num(v, n);
        else if (!strcmp(key, "I")) {
            hour = (int)num(v, n);
            size_t pso, peo;
            int ampm = 0;                 /* 0 none/am, 1 pm */
            if (f2b_named_span(re, mx, "p", &pso, &peo) == 1 && peo - pso == 2 &&
                tolower((unsigned char)line[pso]) == 'p')
                ampm = 1;
            if (!ampm) { if (hour == 12) hour = 0; }
            else if (hour != 12) hour += 12;
        }
        else if (!strcmp(key, "M")) minute = (int)num(v, n);
        else if (!strcmp(key, "S")) second = (int)num(v, n);
        else if (!strcmp(key, "A")) { weekday = lookup_name(v, n, f_wday, 7); if (weekday < 0) return false; }
        else if (!strcmp(key, "a")) { weekday = lookup_name(v, n, a_wday, 7); if (weekday < 0) return false; }
        else if (!strcmp(key, "w")) { weekday = (int)num(v, n) - 1; if (weekday < 0) weekday = 6; }
        else if (!strcmp(key, "j")) julian = (int)num(v, n);
        else if (!strcmp(key, "U") || !strcmp(key, "W")) { week_of_year = (int)num(v, n); week_start = key[0] == 'U' ? 6 : 0; }
        else if (!strcmp(key, "z") || !strcmp(key, "Z")) {
            char z[32];
            if (n >= sizeof z) return false;
            memcpy(z, v, n);
            z[n] = 0;
            if (f2b_zone_offset(z, &tzoffset) < 0) return false;
            have_tz = true;
        }
        if (hour < 0 || minute < 0 || second < 0) return false;
    }
    bool assume_year = false, assume_today = false;
    if (year < 0) { year = now->y; assume_year = true; }
    if (month < 0 || day < 0) {
        if (julian < 0 && week_of_year >= 0 && weekday >= 0) {
            /* _calc_julian_from_U_or_W */
            int first = (int)((days_from_civil(year, 1, 1) + 3) % 7);   /* Monday = 0 */
            if (first < 0) first += 7;
            int dow = weekday;
            if (week_start != 0) { first = (first + 1) % 7; dow = (dow + 1) % 7; }
            int week0 = (7 - first) % 7;
            julian = week_of_year == 0 ? 1 + dow - first : 1 + week0 + 7 * (week_of_year - 1) + dow;
        }
        if (julian >= 0) {
            int64_t dn = days_from_civil(year, 1, 1) + julian - 1;
            civil_from_days(dn, &year, &month, &day);
        }
    }
    if (month < 0 && day < 0) { month = now->mo; day = now->d; assume_today = true; }
    if (month < 1 || month > 12 || day < 1 || year < 1 || year > 9999 || day > mdays(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return false;
    struct ndt r = { year, month, day, hour, minute, second };
    if (!have_tz && dd->set->has_default_tz) { have_tz = true; tzoffset = dd->set->default_tz; }
    if (have_tz) ndt_from_secs(ndt_secs(&r) - (int64_t)tzoffset * 60, &r);
    struct ndt nw = { now->y, now->mo, now->d, now->h, now->mi, now->s };
    if (assume_today && ndt_secs(&r) > ndt_secs(&nw)) ndt_from_secs(ndt_secs(&r) - 86400, &r);
    if (assume_year && ndt_secs(&r) > ndt_secs(&nw) + 86400) {
        /* date_result.replace(year=year-1, month=month, day=day) */
        r.y = year - 1;
        r.mo = month;
        r.d = day;
        if (r.y < 1 || r.d > mdays(r.y, r.mo)) return false;
    }
    if (have_tz) *out = (double)(days_from_civil(r.y, (unsigned)r.mo, (unsigned)r.d) * 86400 + r.h * 3600 + r.mi * 60 + r.s);
    else *out = (double)dd_mktime(dd, r.y, r.mo, r.d, r.h, r.mi, r.s);
    return true;
}

static bool get_date(struct datedetect *dd, const struct dd_template *t, const struct f2b_mctx *mx,
                     const char *line, const struct dd_now *now, double *out)
{
    size_t so, eo;
    switch (t->kind) {
    case DK_EPOCH: {
        if (!f2b_group_span(mx, (uint32_t)t->grp, &so, &eo) || eo - so > 40) return false;
        char tmp[48];
        memcpy(tmp, line + so, eo - so);
        tmp[eo - so] = 0;
        char *end;
        double v = strtod(tmp, &end);
        if (end == tmp) return false;
        size_t l = eo - so;
        if (t->longfrm && l >= 13) v = l >= 16 && !strchr(tmp, '.') ? v / 1000000 : v / 1000;
        *out = v;
        return true;
    }
    case DK_TAI64N: {
        if (!f2b_group_span(mx, 1, &so, &eo) || eo - so < 17) return false;
        int64_t v = 0;
        for (size_t i = so + 2; i < so + 17; i++) {
            int c = tolower((unsigned char)line[i]);
            v = v * 16 + (isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        *out = (double)v;
        return true;
    }
    default:
        return strptime_groups(dd, t, mx, line, now, out);
    }
}

int dd_match(struct datedetect *dd, struct f2b_mctx *mx, const struct dd_now *now,
             const char *line, size_t len, size_t *s, size_t *e, double *date, bool *has_date,
             size_t *tpl)
{
    size_t n = dd->n;
    if (!n) return 0;
    bool match = false;
    /* the reserved alternative: where it matched and how that search was bounded */
    struct { bool ok; size_t so, eo; long dist, end; size_t i, from, to; } found = { false, 0, 0, 0x7fffffff, 0x7fffffff, 0, 0, 0 };
    size_t from = 0, to = len;
    size_t ignore_by_search = (size_t)-1;
    size_t i = dd->last_idx;
    long distance = 0, endpos = 0;
    struct dd_entry *cur = NULL;
    size_t so = 0, eo = 0;
    if (i < n) {
        cur = &dd->e[i];
        unsigned fl = cur->t->flags;
        int r;
        if (fl & (LINE_BEGIN | LINE_END)) {
            r = tpl_search(cur, mx, line, len, 0, len);
            ignore_by_search = i;
        } else {
            long d0 = dd->last_pos, e0 = dd->last_end;
            int c_before = char_at(line, len, d0 - 1), c_at = char_at(line, len, d0);
            int c_end = char_at(line, len, e0), c_endb = char_at(line, len, e0 - 1);
            bool okb = c_before == dd->last_pos_c1 || (c_at == dd->last_pos_c2 && dd->last_pos_c2 >= 0 && !py_alnum(dd->last_pos_c2));
            bool oke = c_end == dd->last_end_c2 || (c_endb == dd->last_end_c1 && dd->last_end_c1 >= 0 && !py_alnum(dd->last_end_c1));
            if (okb && oke && d0 >= 0 && (size_t)d0 <= len) {
                size_t ep = e0 < 0 ? 0 : (size_t)e0 > len ? len : (size_t)e0;
                from = (size_t)d0;
                to = ep;
                r = (size_t)d0 <= ep ? tpl_search(cur, mx, line, len, (size_t)d0, ep) : 0;
            } else {
                r = tpl_search(cur, mx, line, len, 0, len);
                ignore_by_search = i;
            }
        }
        if (r == 1) {
            f2b_group_span(mx, 0, &so, &eo);
            distance = (long)so;
            endpos = (long)eo;
            if (n == 1 || (fl & (LINE_BEGIN | LINE_END)) || (distance == dd->last_pos && endpos == dd->last_end)) {
                match = true;
            } else {
                found.ok = true; found.so = so; found.eo = eo; found.dist = distance; found.end = endpos; found.i = i;
                found.from = from; found.to = to;
            }
        }
    }
    if (!match) {
        for (i = 0; i < n; i++) {
            if (i == ignore_by_search) continue;
            cur = &dd->e[i];
            if (tpl_search(cur, mx, line, len, 0, len) != 1) continue;
            f2b_group_span(mx, 0, &so, &eo);
            distance = (long)so;
            endpos = (long)eo;
            if (i + 1 >= n) { match = true; break; }
            if (cur->t->flags & (LINE_BEGIN | LINE_END)) { match = true; break; }
            if (distance == 0 && cur->hits && !dd->e[i + 1].mhits) { match = true; break; }
            if (distance > cur->distance || distance > dd->last_pos) {
                if (distance < found.dist) {
                    found.ok = true; found.so = so; found.eo = eo; found.dist = distance; found.end = endpos; found.i = i;
                    found.from = 0; found.to = len;
                }
                continue;
            }
            match = true;
            break;
        }
        if (!match && found.ok) {
            i = found.i;
            cur = &dd->e[i];
            /* re-run that search to restore the groups of its match */
            if (f2b_re_search(cur->t->re, mx, line, found.to, found.from) != 1) return 0;
            f2b_group_span(mx, 0, &so, &eo);
            distance = (long)so;
            endpos = (long)eo;
            match = true;
        }
    }
    if (!match) return 0;
    /* group 1: the date text */
    size_t s1, e1;
    if (!f2b_group_span(mx, 1, &s1, &e1)) { s1 = so; e1 = so; }
    *s = s1;
    *e = e1;
    *has_date = s1 < e1 && get_date(dd, cur->t, mx, line, now, date);
    cur->hits++;
    cur->last_used = wall_now();
    cur->distance = distance;
    if (dd->first_unused == i) dd->first_unused++;
    dd->last_pos = distance;
    dd->last_pos_c1 = char_at(line, len, distance - 1);
    dd->last_pos_c2 = char_at(line, len, distance);
    dd->last_end = endpos;
    dd->last_end_c1 = char_at(line, len, endpos - 1);
    dd->last_end_c2 = char_at(line, len, endpos);
    if (i && i != dd->last_idx) i = reorder(dd, i);
    dd->last_idx = i;
    *tpl = i;
    return 1;
}
