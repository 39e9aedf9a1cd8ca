/*
 * f2b_jailfilter - a fail2ban filter (filter.d/NAME.conf with [Definition] prefregex,
 * failregex, ignoreregex, datepattern and [Init] arguments) behind the guard's filter
 * interface, on the fail2ban regex and date engines of h/filters (f2b_regex.h,
 * datedetect.h). As fail2ban does, the date found by the date detector is cut out of the
 * line before the regexes run; with a prefregex, failregex runs on its <F-CONTENT>.
 * The host is the <HOST>/<ADDR> capture (ip4/ip6 groups, IPv4-mapped IPv6 made IPv4);
 * host names (<DNS>) are not resolved: such a match counts nothing (fail2ban's
 * usedns = no).
 *
 * Limits: single-line filters only (maxlines > 1 is refused at load); regex limits as in
 * f2b_regex.h. Ownership: the filter owns its compiled regexes and detector.
 */
#include "guard/jailfilter.h"
#include "guard/ini.h"
#include "guard/f2b_regex.h"
#include "guard/datedetect.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F2B_MAXRE 256

struct f2bf {
    struct f2b_re *pref;
    struct f2b_re *fail[F2B_MAXRE];
    size_t nfail;
    struct f2b_re *ign[F2B_MAXRE];
    size_t nign;
    struct dd_set *dds;
    struct datedetect dd;
    struct f2b_mctx mx;
    struct buf scratch;
};

static void f2bf_free(void *st)
{
    struct f2bf *f = st;
    if (!f) return;
    f2b_re_free(f->pref);
    for (size_t i = 0; i < f->nfail; i++) f2b_re_free(f->fail[i]);
    for (size_t i = 0; i < f->nign; i++) f2b_re_free(f->ign[i]);
    if (f->dds) {
        dd_free(&f->dd);
        dd_set_free(f->dds);
    }
    f2b_mctx_free(&f->mx);
    buf_free(&f->scratch);
    free(f);
}

static int host_of(struct f2bf *f, struct f2b_re *re, const char *subj, struct ipaddr *ip)
{
    static const char *const groups[] = { "ip4", "ip6", "addr" };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        size_t so, eo;
        if (f2b_named_span(re, &f->mx, groups[g], &so, &eo) == 1 &&
            ipaddr_parse((struct str){ subj + so, eo - so }, ip) == 0)
            return 0;
    }
    return -1;
}

static size_t f2bf_match(void *st, const struct event *ev, struct str line, struct jfilter_hit *out,
                         size_t max, const char **why)
{
    struct f2bf *f = st;
    if (!max) return 0;
    struct dd_now now;
    dd_now_set(&now, (int64_t)time(NULL));
    size_t ds = 0, de = 0, tpl;
    double date = 0;
    bool has = false;
    buf_reset(&f->scratch);
    if (dd_match(&f->dd, &f->mx, &now, line.p, line.len, &ds, &de, &date, &has, &tpl) == 1) {
        buf_append(&f->scratch, line.p, ds);
        buf_append(&f->scratch, line.p + de, line.len - de);
    } else {
        if (why) *why = "no date found by the filter's date detector";
        return 0;
    }
    const char *subj = buf_cstr(&f->scratch);
    size_t len = f->scratch.len, off = 0;
    for (size_t i = 0; i < f->nign; i++)
        if (f2b_re_may_match(f->ign[i], subj, len) && f2b_re_search(f->ign[i], &f->mx, subj, len, 0) == 1) {
            if (why) *why = "matched ignoreregex";
            return 0;
        }
    if (f->pref) {
        if (!f2b_re_may_match(f->pref, subj, len) || f2b_re_search(f->pref, &f->mx, subj, len, 0) != 1) {
            if (why) *why = "prefregex does not match";
            return 0;
        }
        size_t so, eo;
        if (f2b_named_span(f->pref, &f->mx, "content", &so, &eo) == 1) {
            off = so;
            len = eo;
        }
    }
    /* failregex sees only the content: its ^ anchors there */
    subj += off;
    len -= off;
    for (size_t i = 0; i < f->nfail; i++) {
        struct f2b_re *re = f->fail[i];
        if (!f2b_re_may_match(re, subj, len)) continue;
        if (f2b_re_search(re, &f->mx, subj, len, 0) != 1) continue;
        struct ipaddr ip;
        if (host_of(f, re, subj, &ip) < 0) {
            if (why) *why = "failregex matched but no IP address was captured";
            return 0;
        }
        out[0].ip = ip;
        out[0].n = 1;
        out[0].t = has ? (int64_t)date : 0;
        out[0].rule = "failregex";
        return 1;
    }
    if (why) *why = "no failregex matches";
    return 0;
}

static const struct jfilter_ops f2bf_ops = { .match = f2bf_match, .free = f2bf_free };

static int compile_list(const char *text, struct f2b_re **arr, size_t *n, const char *what, char *err, size_t errlen)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t')) l--;
        const char *s = p;
        while (l && (*s == ' ' || *s == '\t')) { s++; l--; }
        if (l) {
            if (*n == F2B_MAXRE) {
                snprintf(err, errlen, "more than %d %s lines", F2B_MAXRE, what);
                return -1;
            }
            char *re = xstrndup(s, l);
            char e2[512];
            arr[*n] = f2b_re_compile(re, F2B_RE_USEDNS_NO, e2, sizeof e2);
            free(re);
            if (!arr[*n]) {
                snprintf(err, errlen, "%s: %s", what, e2);
                return -1;
            }
            (*n)++;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

struct jfilter *jfilter_new_f2b(const char *confdir, const char *spec, char *err, size_t errlen)
{
    char *name = NULL;
    struct ini_vars args = { 0 };
    char e2[INI_ERRLEN];
    if (ini_split_option(spec, &name, &args, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
        ini_vars_free(&args);
        return NULL;
    }
    struct ini *d = ini_new();
    char *base = xasprintf("%s/filter.d/%s", confdir, name);
    int r = ini_read_base(d, base, e2, sizeof e2);
    free(base);
    struct ini_vars out = { 0 };
    struct f2bf *f = NULL;
    if (r <= 0) {
        snprintf(err, errlen, "not a built-in filter and %s/filter.d/%s.conf cannot be read%s%s", confdir, name,
                 r < 0 ? ": " : "", r < 0 ? e2 : "");
        goto fail;
    }
    static const char *const names[] = { "prefregex", "failregex", "ignoreregex", "datepattern", "maxlines" };
    if (ini_definit(d, names, 5, &args, &out, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
        goto fail;
    }
    const char *ml = ini_vars_get(&out, "maxlines");
    if (ml && strtol(ml, NULL, 10) > 1) {
        snprintf(err, errlen, "multi-line filters (maxlines = %s) are not supported yet", ml);
        goto fail;
    }
    f = xcalloc(1, sizeof *f);
    f->scratch = BUF_INIT(1 << 20);
    f2b_mctx_init(&f->mx);
    const char *pref = ini_vars_get(&out, "prefregex");
    if (pref && *pref) {
        f->pref = f2b_re_compile(pref, F2B_RE_USEDNS_NO, e2, sizeof e2);
        if (!f->pref) {
            snprintf(err, errlen, "prefregex: %s", e2);
            goto fail;
        }
    }
    if (compile_list(ini_vars_get(&out, "failregex"), f->fail, &f->nfail, "failregex", err, errlen) < 0 ||
        compile_list(ini_vars_get(&out, "ignoreregex"), f->ign, &f->nign, "ignoreregex", err, errlen) < 0)
        goto fail;
    if (!f->nfail) {
        snprintf(err, errlen, "no failregex");
        goto fail;
    }
    const char *dp = ini_vars_get(&out, "datepattern");
    f->dds = dd_set_new(dp && *dp ? dp : NULL, NULL, e2, sizeof e2);
    if (!f->dds) {
        snprintf(err, errlen, "datepattern: %s", e2);
        goto fail;
    }
    dd_init(&f->dd, f->dds);
    ini_vars_free(&out);
    ini_vars_free(&args);
    ini_free(d);
    struct jfilter *flt = xcalloc(1, sizeof *flt);
    flt->ops = &f2bf_ops;
    flt->st = f;
    flt->name = xstrdup(spec);
    free(name);
    return flt;
fail:
    f2bf_free(f);
    ini_vars_free(&out);
    ini_vars_free(&args);
    ini_free(d);
    free(name);
    return NULL;
}

char *jfilter_f2b_journalmatch(const char *confdir, const char *spec, char *err, size_t errlen)
{
    char *name = NULL;
    struct ini_vars args = { 0 }, out = { 0 };
    char e2[INI_ERRLEN];
    char *res = NULL;
    err[0] = 0;
    if (ini_split_option(spec, &name, &args, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
        ini_vars_free(&args);
        return NULL;
    }
    struct ini *d = ini_new();
    char *base = xasprintf("%s/filter.d/%s", confdir, name);
    int r = ini_read_base(d, base, e2, sizeof e2);
    free(base);
    static const char *const names[] = { "journalmatch" };
    if (r <= 0) {
        snprintf(err, errlen, "%s/filter.d/%s.conf cannot be read%s%s", confdir, name, r < 0 ? ": " : "",
                 r < 0 ? e2 : "");
    } else if (ini_definit(d, names, 1, &args, &out, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "%s", e2);
    } else {
        const char *v = ini_vars_get(&out, "journalmatch");
        struct buf b = BUF_INIT(64 * 1024);
        for (const char *p = v; p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            struct str ln = str_trim((struct str){ p, n });
            if (ln.len) {
                if (b.len) buf_puts(&b, " + ");
                buf_putstr(&b, ln);
            }
            p = nl ? nl + 1 : NULL;
        }
        if (b.len) res = xstrndup(b.p, b.len);
        buf_free(&b);
    }
    ini_vars_free(&out);
    ini_vars_free(&args);
    ini_free(d);
    free(name);
    return res;
}
