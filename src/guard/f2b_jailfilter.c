/*
 * f2b_jailfilter - a fail2ban filter (filter.d/NAME.conf with its includes, .local files and
 * [Init] arguments) behind the guard's jail filter interface, run by the same fail2ban
 * filter engine as `mailwarden regex` (f2b_filter.h): prefregex, failregex/ignoreregex,
 * date detection and cut, maxlines buffers, <F-MLFID> connections (<F-NOFAIL>,
 * <F-MLFFORGET>, <F-MLFGAINED>), with the daemon's semantics of fail2ban's Filter (first
 * matching failregex, pending failures without an id not reported).
 * A failure counts where fail2ban reports it: for a multi-line failure that is the line
 * that completes it (the host may have come from an earlier line of that connection), one
 * failure per ticket as fail2ban's FailTicket. Only failures whose id is an IP address
 * count: host names are not resolved (usedns = no).
 * Ownership: the jail filter owns the engine instance; jfilter_free() releases it.
 */
#include "guard/jailfilter.h"
#include "guard/f2b_filter.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct f2bj {
    struct filter *f;
    uint64_t lineno;
    /* failures of the current line */
    struct jfilter_hit *out;
    size_t max, n, dropped;
    bool host_only;                     /* a failure whose id is no address was seen */
};

static void on_fail(void *ud, const struct failure *fl)
{
    struct f2bj *j = ud;
    if (!fl->ip.family) {
        j->host_only = true;
        return;
    }
    if (j->n == j->max) {
        j->dropped++;
        return;
    }
    struct jfilter_hit *h = &j->out[j->n++];
    h->ip = fl->ip;
    h->n = 1;
    h->t = fl->has_time ? (int64_t)fl->time : 0;
    h->rule = "failregex";
}

static size_t f2bj_match(void *st, const struct event *ev, struct str line, struct jfilter_hit *out,
                         size_t max, const char **why)
{
    (void)ev;
    struct f2bj *j = st;
    j->out = out;
    j->max = max;
    j->n = 0;
    j->host_only = false;
    struct filter_line ln = { line, ++j->lineno, false, 0 };
    enum filter_verdict v = filter_feed(j->f, &ln, on_fail, j);
    if (!j->n && why) {
        if (j->host_only) *why = "failregex matched but the failure id is not an IP address (names are not resolved)";
        else if (v == FV_IGNORED) *why = "matched ignoreregex";
        else if (v == FV_MATCHED) *why = "matched, but the failure is not complete yet (multi-line) or is F-NOFAIL";
        else *why = "no failregex matches";
    }
    return j->n;
}

static void f2bj_set_ref(void *st, int64_t ref)
{
    struct f2bj *j = st;
    f2b_filter_set_now(j->f, ref);
}

static void f2bj_free(void *st)
{
    struct f2bj *j = st;
    if (!j) return;
    filter_close(j->f);
    free(j);
}

static const struct jfilter_ops f2bj_ops = { .match = f2bj_match, .free = f2bj_free, .set_ref = f2bj_set_ref };

struct jfilter *jfilter_new_f2b(const char *confdir, const char *spec, char *err, size_t errlen)
{
    char *dir = xasprintf("%s/filter.d", confdir);
    const char *dirs[1] = { dir };
    /* a jail names a filter file: a spec found nowhere is an error, not a regex */
    struct f2b_load lo = { dirs, 1, NULL, NULL, 0, "no", "file", NULL, false, true };
    struct filter *f = f2b_filter_open(spec, &lo, (int64_t)time(NULL), err, errlen);
    free(dir);
    if (!f) return NULL;
    struct f2bj *j = xcalloc(1, sizeof *j);
    j->f = f;
    struct jfilter *jf = xcalloc(1, sizeof *jf);
    jf->ops = &f2bj_ops;
    jf->st = j;
    jf->name = xstrdup(spec);
    return jf;
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
