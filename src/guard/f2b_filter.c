/*
 * f2b_filter - see f2b_filter.h. The line logic mirrors fail2ban 1.0 server/filter.py
 * (Filter.processLine, findFailure, _mergeFailure, _ignoreLine), failregex.py
 * (Regex.search, getGroups with ALT_/TUPLE_ names, FailRegex) and the way
 * client/fail2banregex.py reads a filter and counts lines.
 */
#include "guard/f2b_filter.h"
#include "util/arena.h"
#include "util/msg.h"
#include "util/reader.h"
#include "util/xalloc.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MLF_CACHE_MAX 100          /* Utils.Cache(maxCount=100, maxTime=5*60) */
#define MLF_CACHE_TTL 300.0
#define PAR_MIN_LINES 20000        /* batches smaller than this run on one thread */
#define PAR_MIN_BYTES (2u << 20)

/* ---- loading ------------------------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

bool f2b_spec_is_filter(const char *spec)
{
    /* (?ms)^/{0,3}[\w/_\-.]+(?:\[.*\])?$ : some line of spec looks like a name/path */
    for (const char *line = spec; line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t i = 0, sl = 0;
        while (i < len && line[i] == '/' && sl < 3) { i++; sl++; }
        size_t w = i;
        while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == '/' || line[i] == '-' ||
                           line[i] == '.' || (unsigned char)line[i] >= 0x80))
            i++;
        if (i > w) {
            if (i == len) return true;
            if (line[i] == '[') {
                /* \[.*\] then $ ; with (?s) '.' crosses lines: look for a ']' ending some line */
                const char *rest = line + i;
                const char *rb = strrchr(rest, ']');
                if (rb) {
                    const char *after = rb + 1;
                    if (!*after || *after == '\n') return true;
                    for (const char *q = rest; (q = strchr(q, ']')) != NULL; q++)
                        if (q[1] == '\n' || !q[1]) return true;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

static const char *const def_opts[] = { "usedns", "prefregex", "ignoreregex", "failregex", "maxlines",
                                        "datepattern", "journalmatch" };

static void value_lines(const char *v, char ***out, size_t *n)
{
    size_t cap = 0;
    for (const char *p = v; p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l) {
            *out = xgrow(*out, &cap, *n + 1, sizeof **out);
            (*out)[(*n)++] = xstrndup(p, l);
        }
        p = nl ? nl + 1 : NULL;
    }
}

static bool has_fid_group(const struct f2b_re *re)
{
    static const char *const ids[] = { "fid", "ip4", "ip6", "dns", "mlfid" };
    for (size_t i = 0; i < 5; i++)
        if (re && f2b_re_has_group(re, ids[i])) return true;
    return false;
}

void f2b_def_free(struct f2b_def *d)
{
    if (!d) return;
    free(d->name);
    free(d->file);
    f2b_re_free(d->pref);
    for (size_t i = 0; i < d->nfail; i++) f2b_re_free(d->fail[i]);
    free(d->fail);
    for (size_t i = 0; i < d->nign; i++) f2b_re_free(d->ign[i]);
    free(d->ign);
    free(d->datepattern);
    dd_set_free(d->dates);
    for (size_t i = 0; i < d->njournalmatch; i++) free(d->journalmatch[i]);
    free(d->journalmatch);
    f2b_ac_free(d->ac);
    f2b_ac_free(d->ac_pre);
    free(d);
}

/* Read the filter's files into doc. Returns 1 found, 0 not a file, -1 error. */
static int read_filter_files(const char *spec, const struct f2b_load *o, struct ini *doc, char **name,
                             struct ini_vars *args, char **file, char *err, size_t errlen)
{
    char *fname = NULL;
    if (ini_split_option(spec, &fname, args, err, errlen) < 0) return -1;
    /* "." in the last 6 characters: an explicit file name */
    size_t fl = strlen(fname);
    bool has_ext = memchr(fname + (fl > 6 ? fl - 6 : 0), '.', fl > 6 ? 6 : fl) != NULL;
    const char *exts[3] = { "", ".conf", ".local" };
    int next = has_ext ? 1 : 3;
    int rc = 0;
    if (!strchr(fname, '/')) {
        for (size_t d = 0; d < o->ndirs && rc == 0; d++) {
            for (int k = 0; k < next && rc == 0; k++) {
                char *p = xasprintf("%s/%s%s", o->dirs[d], fname, exts[k]);
                if (is_file(p)) {
                    /* standard loading: DIR/stem.conf, DIR/stem.d/, DIR/stem.local */
                    char *stem = xstrdup(fname);
                    char *dot = strrchr(stem, '.');
                    if (dot && (!strcmp(dot, ".conf") || !strcmp(dot, ".local"))) *dot = 0;
                    char *base = xasprintf("%s/%s", o->dirs[d], stem);
                    int r = ini_read_base(doc, base, err, errlen);
                    rc = r < 0 ? -1 : r == 0 ? (seterr(err, errlen, "failed to load filter %s", spec), -1) : 1;
                    *name = stem;
                    *file = p;
                    p = NULL;
                    free(base);
                }
                free(p);
            }
        }
    } else {
        for (int k = 0; k < next && rc == 0; k++) {
            char *p = xasprintf("%s%s", fname, exts[k]);
            if (is_file(p)) {
                char *dir = xstrdup(p), *sl = strrchr(dir, '/');
                if (sl) *sl = 0;
                const char *dbase = strrchr(dir, '/');
                dbase = dbase ? dbase + 1 : dir;
                char *stem = xstrdup(sl ? sl + 1 : p);
                char *dot = strrchr(stem, '.');
                int r;
                if (!strcmp(dbase, "filter.d")) {
                    if (dot) *dot = 0;
                    char *base = xasprintf("%s/%s", dir, stem);
                    r = ini_read_base(doc, base, err, errlen);
                    free(base);
                } else {
                    const char *one = p;
                    r = ini_read(doc, &one, 1, err, errlen);
                    if (dot) *dot = 0;
                }
                rc = r < 0 ? -1 : r == 0 ? (seterr(err, errlen, "failed to load filter %s", spec), -1) : 1;
                *name = stem;
                *file = p;
                p = NULL;
                free(dir);
            }
            free(p);
        }
    }
    free(fname);
    return rc;
}

int f2b_def_load(struct f2b_def **out, const char *spec, const char *ignore, const struct f2b_load *o,
                 char *err, size_t errlen)
{
    struct f2b_def *d = xcalloc(1, sizeof *d);
    struct ini_vars args = { 0 }, vals = { 0 };
    char **failv = NULL, **ignv = NULL;
    size_t nfailv = 0, nignv = 0;
    const char *prefv = NULL, *maxl = NULL, *datep = NULL;
    int rc = -1;
    struct ini *doc = NULL;
    bool usedns_no = o->usedns && strcmp(o->usedns, "no") == 0;
    d->usedns_no = usedns_no;

    int found = 0;
    if (f2b_spec_is_filter(spec)) {
        doc = ini_new();
        found = read_filter_files(spec, o, doc, &d->name, &args, &d->file, err, errlen);
        if (found < 0) goto out;
    }
    if (!found && o->file_only) {
        seterr(err, errlen, "no filter file %s(.conf|.local) in %s", spec, o->ndirs ? o->dirs[0] : "the filter directories");
        goto out;
    }
    if (found) {
        ini_vars_copy(&args, o->args);
        /* applyAutoOptions: logtype from the backend unless given or set by the filter */
        if (!ini_vars_get(&args, "logtype") && !ini_own(doc, "Definition", "logtype"))
            ini_vars_set(&args, "logtype", o->logtype ? o->logtype : "file");
        if (ini_definit(doc, def_opts, sizeof def_opts / sizeof *def_opts, &args, &vals, err, errlen) < 0)
            goto out;
        const char *v;
        if ((v = ini_vars_get(&vals, "failregex"))) value_lines(v, &failv, &nfailv);
        if ((v = ini_vars_get(&vals, "ignoreregex"))) value_lines(v, &ignv, &nignv);
        prefv = ini_vars_get(&vals, "prefregex");
        maxl = ini_vars_get(&vals, "maxlines");
        datep = ini_vars_get(&vals, "datepattern");
        if ((v = ini_vars_get(&vals, "journalmatch"))) value_lines(v, &d->journalmatch, &d->njournalmatch);
    } else {
        d->name = xstrdup("regex");
        failv = xcalloc(1, sizeof *failv);
        failv[0] = xstrdup(spec);
        nfailv = 1;
    }
    if (ignore) {
        size_t cap = nignv;
        ignv = xgrow(ignv, &cap, nignv + 1, sizeof *ignv);
        ignv[nignv++] = xstrdup(ignore);
    }
    d->maxlines = 1;
    if (o->maxlines > 0) d->maxlines = o->maxlines;
    else if (maxl) {
        char *end;
        long m = strtol(maxl, &end, 10);
        while (*end == ' ') end++;
        if (*end || end == maxl) {
            msg_warn("filter %s: wrong int value '%s' for 'maxlines', using 1", d->name, maxl);
        } else if (m <= 0) {
            seterr(err, errlen, "filter %s: maxlines must be integer greater than zero", d->name);
            goto out;
        } else {
            d->maxlines = m > 1000 ? 1000 : (int)m;
        }
    }
    unsigned fl = usedns_no ? F2B_RE_USEDNS_NO : 0;
    if (prefv && *prefv) {
        d->pref = f2b_re_compile(prefv, fl, err, errlen);
        if (!d->pref) goto out;
    }
    d->fail = xcalloc(nfailv ? nfailv : 1, sizeof *d->fail);
    for (size_t i = 0; i < nfailv; i++) {
        d->fail[i] = f2b_re_compile(failv[i], fl | (d->maxlines > 1 ? F2B_RE_MULTILINE : 0), err, errlen);
        if (!d->fail[i]) goto out;
        d->nfail++;
        if (!has_fid_group(d->fail[i]) && !has_fid_group(d->pref)) {
            seterr(err, errlen, "No failure-id group in '%s'", failv[i]);
            goto out;
        }
    }
    d->ign = xcalloc(nignv ? nignv : 1, sizeof *d->ign);
    for (size_t i = 0; i < nignv; i++) {
        d->ign[i] = f2b_re_compile(ignv[i], fl, err, errlen);
        if (!d->ign[i]) goto out;
        d->nign++;
    }
    const char *dp = o->datepattern ? o->datepattern : datep;
    if (!o->journal) {
        d->datepattern = dp ? xstrdup(dp) : NULL;
        char e2[INI_ERRLEN];
        d->dates = dd_set_new(dp, o->timezone, e2, sizeof e2);
        if (!d->dates) {
            seterr(err, errlen, "filter %s: datepattern: %s", d->name, e2);
            goto out;
        }
    }
    {
        /* two scanners: the prefregex's literals over the whole buffer, the others over the
         * failregex subject (usually the shorter <F-CONTENT>) */
        size_t nall = d->nfail + d->nign + 1, k = 0;
        struct f2b_re **all = xcalloc(nall, sizeof *all);
        for (size_t i = 0; i < d->nfail; i++) all[k++] = d->fail[i];
        for (size_t i = 0; i < d->nign; i++) all[k++] = d->ign[i];
        d->ac = f2b_ac_build(all, k);
        free(all);
        /* when every failregex has a one-word prefilter: the union of their literals */
        uint64_t any = 0;
        bool all_small = d->ac != NULL && d->nfail > 0;
        for (size_t i = 0; i < d->nfail && all_small; i++) {
            if (!d->fail[i]->in_ac || !d->fail[i]->pfmask) all_small = false;
            else any |= d->fail[i]->pfmask;
        }
        d->fail_anymask = all_small ? any : 0;
        if (d->pref) d->ac_pre = f2b_ac_build(&d->pref, 1);
    }
    rc = 0;
out:
    for (size_t i = 0; i < nfailv; i++) free(failv[i]);
    free(failv);
    for (size_t i = 0; i < nignv; i++) free(ignv[i]);
    free(ignv);
    ini_vars_free(&args);
    ini_vars_free(&vals);
    ini_free(doc);
    if (rc < 0) {
        f2b_def_free(d);
        d = NULL;
    }
    *out = d;
    return rc;
}

/* ---- fail dictionaries (Python dicts of filter.py) ------------------------------------- */

struct kv {
    const char *k;             /* group names: owned by the regex; other keys: static */
    char *v;                   /* owned; NULL: present with the value None */
};

struct sl {
    char **v;
    size_t n, cap;
};

struct fdict {
    struct kv *kv;
    size_t n, cap;
    struct sl matches, nfmatches, users;
    bool has_matches, has_nfmatches, has_users;
    bool mlfpending;
};

static void sl_add(struct sl *l, const char *s, size_t n)
{
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = xstrndup(s, n);
}

static void sl_free(struct sl *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void sl_copy(struct sl *d, const struct sl *s)
{
    for (size_t i = 0; i < s->n; i++) sl_add(d, s->v[i], strlen(s->v[i]));
}

static bool sl_has(const struct sl *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) if (strcmp(l->v[i], s) == 0) return true;
    return false;
}

static struct fdict *fd_new(void) { return xcalloc(1, sizeof(struct fdict)); }

static void fd_free(struct fdict *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) free(d->kv[i].v);
    free(d->kv);
    sl_free(&d->matches);
    sl_free(&d->nfmatches);
    sl_free(&d->users);
    free(d);
}

static struct kv *fd_find(const struct fdict *d, const char *k)
{
    for (size_t i = 0; i < d->n; i++) if (strcmp(d->kv[i].k, k) == 0) return &d->kv[i];
    return NULL;
}

static const char *fd_get(const struct fdict *d, const char *k)
{
    const struct kv *e = fd_find(d, k);
    return e ? e->v : NULL;
}

static const char *const KEY_HOST = "\x01host";

static bool fd_truthy(const struct fdict *d, const char *k)
{
    const char *v = fd_get(d, k);
    return v && *v;
}

/* v NULL stores None */
static void fdict_setn(struct fdict *d, const char *k, const char *v, size_t n)
{
    struct kv *e = fd_find(d, k);
    if (e) {
        free(e->v);
        e->v = v ? xstrndup(v, n) : NULL;
        return;
    }
    d->kv = xgrow(d->kv, &d->cap, d->n + 1, sizeof *d->kv);
    d->kv[d->n].k = k;
    d->kv[d->n].v = v ? xstrndup(v, n) : NULL;
    d->n++;
}

static void fdict_set(struct fdict *d, const char *k, const char *v) { fdict_setn(d, k, v, v ? strlen(v) : 0); }

static void fd_del(struct fdict *d, const char *k)
{
    struct kv *e = fd_find(d, k);
    if (!e) return;
    free(e->v);
    size_t i = (size_t)(e - d->kv);
    memmove(&d->kv[i], &d->kv[i + 1], (d->n - i - 1) * sizeof *d->kv);
    d->n--;
}

/* fail.pop(k, None) used as a truth value */
static bool fd_pop_truthy(struct fdict *d, const char *k)
{
    bool t = fd_truthy(d, k);
    fd_del(d, k);
    return t;
}

static struct fdict *fd_copy(const struct fdict *s)
{
    struct fdict *d = fd_new();
    for (size_t i = 0; i < s->n; i++) fdict_set(d, s->kv[i].k, s->kv[i].v);
    sl_copy(&d->matches, &s->matches);
    sl_copy(&d->nfmatches, &s->nfmatches);
    sl_copy(&d->users, &s->users);
    d->has_matches = s->has_matches;
    d->has_nfmatches = s->has_nfmatches;
    d->has_users = s->has_users;
    d->mlfpending = s->mlfpending;
    return d;
}

/* ---- per-regex group order and ALT_/TUPLE_ names -------------------------------------- */

struct complname {
    const char *k;          /* group name */
    char n[64];             /* target name */
};

struct reinfo {
    size_t *order;          /* group indices in definition order */
    size_t norder;
    int content;            /* position of group "content" in order, -1 */
    struct complname *alt, *tup;
    size_t nalt, ntup;
};

static int cmp_compl(const void *a, const void *b)
{
    const struct complname *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->n, y->n);
}

static void reinfo_build(struct reinfo *ri, const struct f2b_re *re)
{
    memset(ri, 0, sizeof *ri);
    ri->content = -1;
    if (!re) return;
    ri->order = xcalloc(re->ngroups ? re->ngroups : 1, sizeof *ri->order);
    for (size_t i = 0; i < re->ngroups; i++) ri->order[i] = i;
    ri->norder = re->ngroups;
    for (size_t i = 1; i < ri->norder; i++)
        for (size_t k = i; k > 0 && re->groups[ri->order[k]].num[0] < re->groups[ri->order[k - 1]].num[0]; k--) {
            size_t t = ri->order[k];
            ri->order[k] = ri->order[k - 1];
            ri->order[k - 1] = t;
        }
    ri->content = -1;
    for (size_t i = 0; i < ri->norder; i++)
        if (!strcmp(re->groups[ri->order[i]].name, "content")) ri->content = (int)i;
    ri->alt = xcalloc(re->ngroups ? re->ngroups : 1, sizeof *ri->alt);
    ri->tup = xcalloc(re->ngroups ? re->ngroups : 1, sizeof *ri->tup);
    for (size_t i = 0; i < re->ngroups; i++) {
        const char *k = re->groups[i].name;
        if (strlen(k) <= 4) continue;
        bool alt = strncmp(k, "alt_", 4) == 0, tup = strncmp(k, "tuple_", 6) == 0;
        if (!alt && !tup) continue;
        /* ^(alt_|tuple_)(.*?)(?:_\d+)?$ */
        const char *s = k + (alt ? 4 : 6);
        size_t l = strlen(s);
        size_t e = l;
        while (e > 0 && isdigit((unsigned char)s[e - 1])) e--;
        if (e < l && e > 0 && s[e - 1] == '_') l = e - 1;
        char n[64];
        size_t m = 0;
        for (; m < l && m < sizeof n - 1; m++) n[m] = (char)tolower((unsigned char)s[m]);
        n[m] = 0;
        const char *mapped = !strcmp(n, "id") ? "fid" : !strcmp(n, "port") ? "fport" : n;
        struct complname *c = alt ? &ri->alt[ri->nalt++] : &ri->tup[ri->ntup++];
        c->k = k;
        snprintf(c->n, sizeof c->n, "%s", mapped);
    }
    qsort(ri->alt, ri->nalt, sizeof *ri->alt, cmp_compl);
    qsort(ri->tup, ri->ntup, sizeof *ri->tup, cmp_compl);
}

static void reinfo_free(struct reinfo *ri)
{
    free(ri->order);
    free(ri->alt);
    free(ri->tup);
}

/* ---- stage 1: the per-line work that needs no state ----------------------------------- */

struct grp {
    const char *name;
    const char *v;          /* NULL: did not participate */
    size_t len;
};

struct hit {
    uint32_t idx;           /* failregex index */
    struct grp *g;          /* in definition order */
    size_t ng;
};

enum dstate { DS_NONE, DS_OK, DS_EMPTY, DS_BAD };

struct rec {
    const struct filter_line *ln;
    uint8_t ds;             /* enum dstate */
    bool given;             /* time given by the caller */
    size_t s, e;            /* date text */
    double date;
    bool scanned;           /* single-line matching done */
    bool limit;             /* a PCRE2 limit was hit */
    bool ign_pre;           /* an ignoreregex matched before the failregexes */
    uint8_t *ignm;          /* per ignoreregex: matched (pre-check or post), arena */
    int pref;               /* -1 none, 0 no match, 1 match */
    struct grp *pg;
    size_t npg;
    struct hit *hits;
    size_t nhits;
    bool ign_post;
};

static inline void rec_init(struct rec *r, const struct filter_line *ln)
{
    r->ln = ln;
    r->ds = DS_NONE;
    r->given = r->scanned = r->limit = r->ign_pre = r->ign_post = false;
    r->ignm = NULL;
    r->pref = -1;
    r->pg = NULL;
    r->npg = 0;
    r->hits = NULL;
    r->nhits = 0;
}

struct scan {
    const struct f2b_def *def;
    struct datedetect dd;
    struct f2b_mctx mx;
    uint64_t *found, *found2, *found3;  /* literals of the buffer / of the content / prefregex's */
    struct buf b, c;        /* subject buffers */
    struct arena ar;
    const struct reinfo *ri;
    struct dd_now now;
};

static void scan_init(struct scan *sc, const struct f2b_def *def, const struct reinfo *ri, int64_t now)
{
    memset(sc, 0, sizeof *sc);
    sc->def = def;
    sc->ri = ri;
    if (def->dates) dd_init(&sc->dd, def->dates);
    f2b_mctx_init(&sc->mx);
    sc->found = xcalloc(f2b_ac_words(def->ac), sizeof *sc->found);
    sc->found2 = xcalloc(f2b_ac_words(def->ac), sizeof *sc->found2);
    sc->found3 = xcalloc(f2b_ac_words(def->ac_pre), sizeof *sc->found3);
    sc->b = BUF_INIT(4u << 20);
    sc->c = BUF_INIT(4u << 20);
    dd_now_set(&sc->now, now);
}

static void scan_free(struct scan *sc)
{
    if (sc->def->dates) dd_free(&sc->dd);
    f2b_mctx_free(&sc->mx);
    free(sc->found);
    free(sc->found2);
    free(sc->found3);
    buf_free(&sc->b);
    buf_free(&sc->c);
    arena_free(&sc->ar);
}

/* Copy the named groups of the last match of re (definition order). */
static void take_groups(struct scan *sc, const struct f2b_re *re, const struct reinfo *ri, const char *subj,
                        struct grp **out, size_t *n)
{
    *n = re->ngroups;
    *out = re->ngroups ? arena_alloc(&sc->ar, re->ngroups * sizeof **out) : NULL;
    for (size_t oi = 0; oi < ri->norder; oi++) {
        const struct f2b_group *g = &re->groups[ri->order[oi]];
        struct grp *o = &(*out)[oi];
        o->name = g->name;
        o->v = NULL;
        for (int k = 0; k < g->nnum; k++) {
            size_t so, eo;
            if (f2b_group_span(&sc->mx, g->num[k], &so, &eo)) {
                o->v = arena_strdup(&sc->ar, str_make(subj + so, eo - so));
                o->len = eo - so;
                break;
            }
        }
    }
}

/* found: literals of the subject (NULL: look them up with memmem) */
static int re_run_f(struct scan *sc, const struct f2b_re *re, const char *s, size_t n, struct rec *r,
                    const uint64_t *found)
{
    if (found && re->in_ac ? !f2b_ac_may_match(re, found) : !f2b_re_may_match(re, s, n)) return 0;
    int m = f2b_re_search(re, &sc->mx, s, n, 0);
    if (m < 0) {
        r->limit = true;
        return 0;
    }
    return m;
}

static int re_run(struct scan *sc, const struct f2b_re *re, const char *s, size_t n, struct rec *r)
{
    return re_run_f(sc, re, s, n, r, NULL);
}

/* Date detection for one line (the only part of processLine that sees the raw line). */
static void scan_date(struct scan *sc, struct rec *r)
{
    const struct filter_line *ln = r->ln;
    r->ds = DS_NONE;
    if (ln->has_time) {
        r->given = true;
        r->date = ln->time;
        return;
    }
    if (!sc->def->dates) {
        r->given = true;
        r->date = (double)sc->now.t;
        return;
    }
    size_t s, e, tpl;
    double date = 0;
    bool has;
    if (dd_match(&sc->dd, &sc->mx, &sc->now, ln->text.p, ln->text.len, &s, &e, &date, &has, &tpl) == 1) {
        r->s = s;
        r->e = e;
        if (s == e) r->ds = DS_EMPTY;
        else if (has) { r->ds = DS_OK; r->date = date; }
        else r->ds = DS_BAD;
    }
}

/* The single-line buffer: line without its date text (when cut), plus "\n". */
static void build_buf(struct buf *b, const struct rec *r, bool cut)
{
    buf_reset(b);
    const struct str t = r->ln->text;
    if (cut && (r->ds == DS_OK || r->ds == DS_EMPTY || r->ds == DS_BAD)) {
        buf_append(b, t.p, r->s);
        buf_append(b, t.p + r->e, t.len - r->e);
    } else {
        buf_append(b, t.p, t.len);
    }
    buf_putc(b, '\n');
}

/* Regex part of findFailure for a single-line filter (maxlines == 1). cut: the date text is
 * cut out of the buffer (false only when processLine fell back to the whole line). */
static void scan_match(struct scan *sc, struct rec *r, bool cut, bool check_all)
{
    const struct f2b_def *d = sc->def;
    r->scanned = true;
    r->pref = d->pref ? 0 : -1;
    r->nhits = 0;
    r->ign_pre = r->ign_post = false;
    r->ignm = NULL;
    build_buf(&sc->b, r, cut);
    const char *buf = sc->b.p;
    size_t blen = sc->b.len;
    /* literals of the buffer, found on first need (often only the content is scanned) */
    const uint64_t *found = NULL;
#define NEED_FOUND() do { if (d->ac && !found) { f2b_ac_scan(d->ac, buf, blen, sc->found); found = sc->found; } } while (0)
    /* ignoreregex before the failregexes only when there are few of them */
    if (d->nign && d->nign + 2 < d->nfail) {
        NEED_FOUND();
        for (size_t i = 0; i < d->nign; i++)
            if (re_run_f(sc, d->ign[i], buf, blen, r, found) == 1) {
                if (!r->ignm) r->ignm = arena_alloc(&sc->ar, d->nign);
                r->ignm[i] = 1;
                r->ign_pre = true;
                if (!check_all) break;
            }
        if (r->ign_pre) return;
    }
    const char *subj = buf;
    size_t slen = blen;
    const uint64_t *sfound = NULL;
    struct { size_t so, eo; bool set; } pspan[64];
    size_t npspan = 0;
    bool have_content = false;
    if (d->pref) {
        const uint64_t *pf = NULL;
        if (d->ac_pre && d->pref->in_ac) {
            f2b_ac_scan(d->ac_pre, buf, blen, sc->found3);
            pf = sc->found3;
        }
        if (re_run_f(sc, d->pref, buf, blen, r, pf) != 1) return;
        r->pref = 1;
        /* keep the spans only: the groups are copied when a failregex matches too */
        const struct reinfo *ri = &sc->ri[0];
        npspan = ri->norder < 64 ? ri->norder : 64;
        const char *content = NULL;
        size_t clen = 0;
        for (size_t oi = 0; oi < npspan; oi++) {
            const struct f2b_group *g = &d->pref->groups[ri->order[oi]];
            pspan[oi].set = false;
            for (int k = 0; k < g->nnum && !pspan[oi].set; k++)
                pspan[oi].set = f2b_group_span(&sc->mx, g->num[k], &pspan[oi].so, &pspan[oi].eo);
            if ((int)oi == sc->ri[0].content && pspan[oi].set) {
                content = buf + pspan[oi].so;
                clen = pspan[oi].eo - pspan[oi].so;
            }
        }
        if (content && clen) {
            have_content = true;
            if (content + clen + 1 == buf + blen) {
                /* content + "\n" is the tail of the buffer (<F-CONTENT>.+</F-CONTENT>$) */
                subj = content;
                slen = clen + 1;
                if (found) sfound = found;
            } else {
                buf_reset(&sc->c);
                buf_append(&sc->c, content, clen);
                buf_putc(&sc->c, '\n');
                subj = sc->c.p;
                slen = sc->c.len;
            }
            if (d->ac && !sfound) {
                f2b_ac_scan(d->ac, subj, slen, sc->found2);
                sfound = sc->found2;
            }
        }
    }
    if (!have_content) {
        NEED_FOUND();
        sfound = found;
    }
#undef NEED_FOUND
    r->hits = NULL;
    /* no literal of any failregex in the subject (and each of them has literals): done */
    if (sfound && d->fail_anymask && !(sfound[0] & d->fail_anymask)) return;
    for (size_t i = 0; i < d->nfail; i++) {
        if (re_run_f(sc, d->fail[i], subj, slen, r, sfound) != 1) continue;
        if (!r->hits) r->hits = arena_alloc(&sc->ar, (d->nfail - i) * sizeof *r->hits);
        struct hit *h = &r->hits[r->nhits++];
        h->idx = (uint32_t)i;
        take_groups(sc, d->fail[i], &sc->ri[1 + i], subj, &h->g, &h->ng);
    }
    if (r->nhits && r->pref == 1) {
        /* prefregex groups without "content" */
        const struct reinfo *ri = &sc->ri[0];
        r->pg = arena_alloc(&sc->ar, (npspan ? npspan : 1) * sizeof *r->pg);
        r->npg = 0;
        for (size_t oi = 0; oi < npspan; oi++) {
            const char *name = d->pref->groups[ri->order[oi]].name;
            if ((int)oi == ri->content) continue;
            struct grp *o = &r->pg[r->npg++];
            o->name = name;
            o->v = pspan[oi].set ? arena_strdup(&sc->ar, str_make(buf + pspan[oi].so, pspan[oi].eo - pspan[oi].so)) : NULL;
            o->len = pspan[oi].set ? pspan[oi].eo - pspan[oi].so : 0;
        }
    }
    if (r->nhits && d->nign) {
        for (size_t i = 0; i < d->nign; i++)
            if (re_run_f(sc, d->ign[i], subj, slen, r, sfound) == 1) {
                if (!r->ignm) r->ignm = arena_alloc(&sc->ar, d->nign);
                r->ignm[i] = 1;
                r->ign_post = true;
                if (!check_all) break;
            }
    }
}

/* ---- engine ----------------------------------------------------------------------------- */

struct mlf_entry {
    char *key;
    uint64_t h;
    double expire;
    struct fdict *d;
};

struct tpart {
    struct filter_line *lines;
    size_t lcap;
    struct rec *recs;
    size_t rcap;
};

/* one buffered line of a multi-line filter: (pre-date, date, post-date) as fail2ban keeps */
struct tline {
    char *pre, *date, *post;
    uint64_t id;               /* sequence, for identity */
};

struct tlines {
    struct tline *v;
    size_t n, cap;
};

struct f2b_engine {
    const struct f2b_def *def;
    struct f2b_opts o;
    struct reinfo *ri;          /* [0] prefregex, [1..] failregexes, then ignoreregexes */
    struct scan main;
    struct scan *workers;       /* threads - 1 */
    int nworkers;
    struct f2b_stats st;
    /* processLine state */
    bool has_last;
    double last_date;
    char last_text[128];        /* the last date text (kept for multi-line buffers) */
    /* connections (mlfid cache) */
    struct mlf_entry cache[MLF_CACHE_MAX];
    size_t ncache;
    /* multi-line buffer */
    struct tlines lb;
    uint64_t tl_seq;
    /* per-line output */
    struct fdict **out;         /* reported failure dicts of the current line */
    int *out_idx;
    struct fdict **trash;       /* dicts to free after the line */
    size_t nout, ntrash, capout, capidx, captrash;
    struct rec *recs;           /* batch records, reused */
    size_t caprecs;
    struct tpart *parts;        /* text mode: lines and records per part, reused */
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct f2b_engine *f2b_engine_new(const struct f2b_def *def, const struct f2b_opts *o)
{
    struct f2b_engine *e = xcalloc(1, sizeof *e);
    e->def = def;
    e->o = *o;
    e->ri = xcalloc(1 + def->nfail, sizeof *e->ri);
    reinfo_build(&e->ri[0], def->pref);
    for (size_t i = 0; i < def->nfail; i++) reinfo_build(&e->ri[1 + i], def->fail[i]);
    scan_init(&e->main, def, e->ri, o->now);
    int threads = o->threads < 1 ? 1 : o->threads > 64 ? 64 : o->threads;
    e->nworkers = threads - 1;
    if (e->nworkers) {
        e->workers = xcalloc((size_t)e->nworkers, sizeof *e->workers);
        for (int i = 0; i < e->nworkers; i++) scan_init(&e->workers[i], def, e->ri, o->now);
    }
    e->st.fail_hits = xcalloc(def->nfail + 1, sizeof *e->st.fail_hits);
    e->st.ign_hits = xcalloc(def->nign + 1, sizeof *e->st.ign_hits);
    return e;
}

static void tline_free(struct tline *t)
{
    free(t->pre);
    free(t->date);
    free(t->post);
}

void f2b_engine_free(struct f2b_engine *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->ncache; i++) {
        free(e->cache[i].key);
        fd_free(e->cache[i].d);
    }
    for (size_t i = 0; i < e->lb.n; i++) tline_free(&e->lb.v[i]);
    free(e->lb.v);
    scan_free(&e->main);
    for (int i = 0; i < e->nworkers; i++) scan_free(&e->workers[i]);
    free(e->workers);
    for (size_t i = 0; i < 1 + e->def->nfail; i++) reinfo_free(&e->ri[i]);
    free(e->ri);
    free(e->st.fail_hits);
    free(e->st.ign_hits);
    free(e->out);
    free(e->out_idx);
    free(e->trash);
    free(e->recs);
    if (e->parts)
        for (int p = 0; p < 65; p++) {
            free(e->parts[p].lines);
            free(e->parts[p].recs);
        }
    free(e->parts);
    free(e);
}

void f2b_engine_set_now(struct f2b_engine *e, int64_t now)
{
    if (e->o.now == now) return;
    e->o.now = now;
    dd_now_set(&e->main.now, now);
    for (int i = 0; i < e->nworkers; i++) dd_now_set(&e->workers[i].now, now);
}

const struct f2b_stats *f2b_engine_stats(const struct f2b_engine *e) { return &e->st; }

uint64_t f2b_engine_date_hits(const struct f2b_engine *e, size_t i)
{
    if (!e->def->dates || i >= e->def->dates->n) return 0;
    const void *t = e->def->dates->t[i];
    uint64_t sum = 0;
    for (int w = -1; w < e->nworkers; w++) {
        const struct scan *sc = w < 0 ? &e->main : &e->workers[w];
        for (size_t k = 0; k < sc->dd.n; k++)
            if ((const void *)sc->dd.e[k].t == t) sum += sc->dd.e[k].hits;
    }
    return sum;
}

static void trash(struct f2b_engine *e, struct fdict *d)
{
    for (size_t i = 0; i < e->ntrash; i++) if (e->trash[i] == d) return;
    e->trash = xgrow(e->trash, &e->captrash, e->ntrash + 1, sizeof *e->trash);
    e->trash[e->ntrash++] = d;
}

static void emit(struct f2b_engine *e, int idx, struct fdict *d)
{
    e->out = xgrow(e->out, &e->capout, e->nout + 1, sizeof *e->out);
    e->out_idx = xgrow(e->out_idx, &e->capidx, e->nout + 1, sizeof *e->out_idx);
    e->out[e->nout] = d;
    e->out_idx[e->nout] = idx;
    e->nout++;
}

/* mlfidCache */
static struct mlf_entry *cache_get(struct f2b_engine *e, const char *key)
{
    uint64_t h = str_hash(str_c(key));
    for (size_t i = 0; i < e->ncache; i++)
        if (e->cache[i].h == h && strcmp(e->cache[i].key, key) == 0) {
            if (e->cache[i].expire > wall_now()) return &e->cache[i];
            /* expired: unset */
            free(e->cache[i].key);
            fd_free(e->cache[i].d);
            memmove(&e->cache[i], &e->cache[i + 1], (e->ncache - i - 1) * sizeof *e->cache);
            e->ncache--;
            return NULL;
        }
    return NULL;
}

/* Remove key from the cache; its dict is kept alive until the end of the line. */
static void cache_unset(struct f2b_engine *e, const char *key)
{
    for (size_t i = 0; i < e->ncache; i++)
        if (strcmp(e->cache[i].key, key) == 0) {
            free(e->cache[i].key);
            trash(e, e->cache[i].d);
            memmove(&e->cache[i], &e->cache[i + 1], (e->ncache - i - 1) * sizeof *e->cache);
            e->ncache--;
            return;
        }
}

/* Store d (takes it) under key. */
static void cache_set(struct f2b_engine *e, const char *key, struct fdict *d)
{
    double t = wall_now();
    if (e->ncache >= MLF_CACHE_MAX) {
        /* FIFO: drop from the front until a live entry was dropped and there is room */
        while (e->ncache) {
            struct mlf_entry old = e->cache[0];
            memmove(&e->cache[0], &e->cache[1], (e->ncache - 1) * sizeof *e->cache);
            e->ncache--;
            free(old.key);
            trash(e, old.d);
            if (old.expire > t && e->ncache < MLF_CACHE_MAX) break;
        }
    }
    struct mlf_entry *n = &e->cache[e->ncache++];
    n->key = xstrdup(key);
    n->h = str_hash(str_c(key));
    n->expire = t + MLF_CACHE_TTL;
    n->d = d;
}

static bool cache_owns(const struct f2b_engine *e, const struct fdict *d)
{
    for (size_t i = 0; i < e->ncache; i++) if (e->cache[i].d == d) return true;
    return false;
}

/* _updateUsers */
static const struct sl *update_users(struct fdict *f, const char *user)
{
    if (user && *user) {
        if (!f->has_users) { f->has_users = true; }
        if (!sl_has(&f->users, user)) sl_add(&f->users, user, strlen(user));
        return &f->users;
    }
    return f->has_users ? &f->users : NULL;
}

static void add_lines(struct sl *dst, const struct sl *lines)
{
    for (size_t i = 0; i < lines->n; i++) sl_add(dst, lines->v[i], strlen(lines->v[i]));
}

/* _mergeFailure: returns the dict to continue with (the cached one or fail). */
static struct fdict *merge_failure(struct f2b_engine *e, const char *mlfid0, struct fdict *fail,
                                   const struct sl *matched)
{
    char *mlfid = xstrdup(mlfid0);
    struct mlf_entry *ent = e->ncache ? cache_get(e, mlfid) : NULL;
    const struct sl *users = NULL;
    unsigned nf = 0;
    if (fd_truthy(fail, "mlfgained")) {
        nf |= 8 | 1;
        if (!fd_truthy(fail, "nofail")) fdict_set(fail, "nofail", fd_get(fail, "mlfgained"));
    } else if (fd_truthy(fail, "nofail")) {
        nf |= 1;
    }
    if (fd_pop_truthy(fail, "mlfforget")) nf |= 2;
    if (ent) {
        struct fdict *g = ent->d;
        users = update_users(g, fd_get(fail, "user"));
        if (fd_pop_truthy(g, "nofail")) nf |= 4;
        if (fd_pop_truthy(g, "mlfgained")) nf |= 4;
        if (nf & 8) g->mlfpending = false;
        if (!(nf & 4) && !g->mlfpending) {
            sl_free(&g->matches);
            g->has_matches = false;
        }
        for (size_t i = 0; i < fail->n; i++)
            if (fail->kv[i].v) fdict_set(g, fail->kv[i].k, fail->kv[i].v);
        trash(e, fail);
        fail = g;
        if (nf & 2) cache_unset(e, mlfid);
    } else if (!(nf & 2)) {
        users = update_users(fail, fd_get(fail, "user"));
        cache_set(e, mlfid, fail);
    }
    bool pending = fail->mlfpending;
    fail->mlfpending = false;
    if (pending || (users && users->n > 1)) {
        fd_del(fail, "nofail");
        fd_del(fail, "mlfgained");
        nf &= ~(8u | 1u);
    }
    if (!(nf & 1)) {
        struct sl m = { 0 };
        if (fail->has_nfmatches) {
            m = fail->nfmatches;
            memset(&fail->nfmatches, 0, sizeof fail->nfmatches);
            fail->has_nfmatches = false;
        }
        if (fail->has_matches) add_lines(&m, &fail->matches);
        if (!(nf & 8)) add_lines(&m, matched);
        sl_free(&fail->matches);
        fail->matches = m;
        fail->has_matches = true;
    } else if ((nf & 3) == 1) {
        fail->has_nfmatches = true;
        add_lines(&fail->nfmatches, matched);
    }
    free(mlfid);
    return fail;
}

/* Regex.getGroups with ALT_/TUPLE_ merging, as a new dict. */
static struct fdict *groups_dict(const struct grp *g, size_t ng, const struct reinfo *ri)
{
    struct fdict *f = fd_new();
    for (size_t i = 0; i < ng; i++) fdict_setn(f, g[i].name, g[i].v, g[i].len);
    for (size_t i = 0; i < ri->nalt; i++) {
        const char *v = fd_get(f, ri->alt[i].k);
        if (v && *v && !fd_truthy(f, ri->alt[i].n)) {
            /* the key must outlive f: point at the group name table when it exists */
            char *copy = xstrdup(v);
            fdict_set(f, ri->alt[i].n, copy);
            free(copy);
        }
    }
    for (size_t i = 0; i < ri->ntup; i++) {
        /* t = fail.get(n); t = t + (v,) if tuple else (t, v) -- kept as Python's repr */
        const char *v = fd_get(f, ri->tup[i].k);
        const char *t = fd_get(f, ri->tup[i].n);
        struct buf b = BUF_INIT(1u << 16);
        bool is_tuple = t && t[0] == '(' && strstr(t, "\x01tuple");
        if (is_tuple) {
            size_t l = strlen(t) - strlen("\x01tuple") - 1;
            buf_append(&b, t, l);
            buf_puts(&b, ", ");
        } else {
            buf_putc(&b, '(');
            if (t) { buf_putc(&b, '\''); buf_puts(&b, t); buf_putc(&b, '\''); } else buf_puts(&b, "None");
            buf_puts(&b, ", ");
        }
        if (v) { buf_putc(&b, '\''); buf_puts(&b, v); buf_putc(&b, '\''); } else buf_puts(&b, "None");
        buf_puts(&b, ")\x01tuple");
        fdict_set(f, ri->tup[i].n, buf_cstr(&b));
        buf_free(&b);
    }
    return f;
}

/* IPAddr(ip, cidr) text, as fail2ban prints it. */
static void ip_text(const char *ip, int fam, const char *cidr, char *out, size_t cap)
{
    unsigned char b[16];
    int af = fam == 4 ? AF_INET : AF_INET6;
    if (inet_pton(af, ip, b) != 1) {
        snprintf(out, cap, "%s", ip);
        return;
    }
    int bits = fam == 4 ? 32 : 128;
    long plen = bits;
    if (cidr && *cidr) {
        plen = strtol(cidr, NULL, 10);
        if (plen >= 0 && plen < bits) {
            for (int i = 0; i < bits / 8; i++) {
                int keep = (int)plen - i * 8;
                b[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
            }
        }
    } else if (fam == 6) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(b, mapped, 12) == 0) {
            char t[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, b + 12, t, sizeof t);
            snprintf(out, cap, "%s", t);
            return;
        }
    }
    char t[INET6_ADDRSTRLEN];
    inet_ntop(af, b, t, sizeof t);
    if (plen > 0 && plen < bits) snprintf(out, cap, "%s/%ld", t, plen);
    else snprintf(out, cap, "%s", t);
}

/* The tail of findFailure for one matched failregex: failure id, pending, append. Returns
 * false when processing of this line must stop (fail2ban's "return failList"). */
static bool finish_failure(struct f2b_engine *e, int idx, struct fdict *fail, bool have_mlfid)
{
    const char *fid = fd_get(fail, "fid");
    const char *ip = fd_get(fail, "ip4");
    int fam = 4;
    bool raw = true;          /* the tester reports hosts as captured (returnRawHost) */
    char host[512];
    if (!ip) { ip = fd_get(fail, "ip6"); fam = 6; }
    if (!ip) {
        ip = fd_get(fail, "dns");
        fam = 0;
        if (!ip) {
            if (!fid && !have_mlfid) return true;   /* "No group found": skip this regex */
            ip = fid;
        }
    }
    bool pending = ip == NULL;
    if (pending) {
        fail->mlfpending = true;
        if (!e->o.check_all && e->o.ignore_pending) return false;
    } else if (raw) {
        char iptxt[512];
        if (fam) ip_text(ip, fam, fd_get(fail, "cidr"), iptxt, sizeof iptxt);
        else snprintf(iptxt, sizeof iptxt, "%s", ip);
        if (!fid || !strcmp(fid, ip)) {
            snprintf(host, sizeof host, "%s", iptxt);
        } else {
            fdict_set(fail, "ip", iptxt);
            snprintf(host, sizeof host, "%s", fid);
        }
    }
    struct fdict *copy = fd_copy(fail);
    if (pending) fd_del(copy, KEY_HOST);
    else fdict_set(copy, KEY_HOST, host);
    emit(e, idx, copy);
    return true;
}

/* findFailure tail for one hit, common to single- and multi-line. matched: lines of the match. */
static int handle_hit(struct f2b_engine *e, int idx, struct fdict *fail, const struct grp *pg, size_t npg,
                      const struct sl *matched)
{
    if (npg) {
        /* preGroups.copy().update(currFail): regex groups (None included) override */
        struct fdict *m = fd_new();
        for (size_t i = 0; i < npg; i++) fdict_setn(m, pg[i].name, pg[i].v, pg[i].len);
        for (size_t i = 0; i < fail->n; i++) fdict_set(m, fail->kv[i].k, fail->kv[i].v);
        fd_free(fail);
        fail = m;
    }
    const char *mlfid = fd_get(fail, "mlfid");
    bool have_mlfid = mlfid != NULL;
    if (have_mlfid) {
        fail = merge_failure(e, mlfid, fail, matched);
        if (fd_truthy(fail, "nofail") && !e->o.check_all) {
            if (!cache_owns(e, fail)) trash(e, fail);
            return 0;
        }
    } else {
        fail->has_matches = true;
        add_lines(&fail->matches, matched);
    }
    bool go_on = finish_failure(e, idx, fail, have_mlfid);
    if (!cache_owns(e, fail)) trash(e, fail);
    return go_on ? 1 : 0;
}

/* processLine date logic: returns date (has_date) and whether the buffer keeps the date cut */
static void line_date(struct f2b_engine *e, const struct rec *r, bool *has_date, double *date, bool *cut)
{
    double now = (double)e->o.now;
    *cut = true;
    *has_date = false;
    if (r->given) {
        *has_date = true;
        *date = r->date;
        e->has_last = true;
        e->last_date = r->date;
        return;
    }
    const struct str t = r->ln->text;
    switch (r->ds) {
    case DS_OK:
        *has_date = true;
        *date = r->date;
        e->has_last = true;
        e->last_date = r->date;
        str_copy(e->last_text, sizeof e->last_text, str_make(t.p + r->s, r->e - r->s));
        return;
    case DS_EMPTY:
        *has_date = true;
        if (e->has_last && e->last_date && e->last_date > now - 60) {
            *date = e->last_date;
            *cut = false;      /* ("", lastTimeText, line): the same text as the cut line */
        } else {
            *date = now;
        }
        return;
    case DS_BAD:
    case DS_NONE:
    default:
        if (e->has_last && e->last_date && e->last_date > now - 60) {
            *has_date = true;
            *date = e->last_date;
            *cut = false;      /* tupleLine = ("", lastTimeText, line) */
        }
        return;
    }
}

/* Report the failures collected for the current line and free the scratch dicts. */
static void flush_line(struct f2b_engine *e, const struct rec *r, bool has_date, double date,
                       const struct f2b_cbs *cb, void *ud, bool *nofail_seen, size_t *nret)
{
    for (size_t i = 0; i < e->nout; i++) {
        struct fdict *f = e->out[i];
        int idx = e->out_idx[i];
        e->st.fail_hits[idx]++;
        const char *host = fd_get(f, KEY_HOST);
        if (fd_truthy(f, "nofail")) { *nofail_seen = true; fd_free(f); continue; }
        (*nret)++;
        if (!host || !cb || !cb->failure) { fd_free(f); continue; }
        struct failure fl;
        memset(&fl, 0, sizeof fl);
        fl.line = r->ln->lineno;
        fl.has_time = has_date;
        fl.time = date;
        fl.host = str_c(host);
        if (ipaddr_parse(fl.host, &fl.ip) < 0) fl.ip.family = 0;
        const char *u = fd_get(f, "user");
        if (u) { fl.has_user = true; fl.user = str_c(u); }
        struct str users[64];
        if (f->has_users) {
            /* sorted, as the tests compare sets */
            const char *sorted[64];
            size_t n = f->users.n < 64 ? f->users.n : 64;
            for (size_t k = 0; k < n; k++) sorted[k] = f->users.v[k];
            for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0 && strcmp(sorted[b], sorted[b - 1]) < 0; b--) {
                    const char *t = sorted[b]; sorted[b] = sorted[b - 1]; sorted[b - 1] = t;
                }
            for (size_t k = 0; k < n; k++) users[k] = str_c(sorted[k]);
            fl.users = users;
            fl.nusers = n;
        }
        fl.attempts = f->has_matches ? (unsigned)f->matches.n : 0;
        struct str *ls = xcalloc(f->matches.n + 1, sizeof *ls);
        for (size_t k = 0; k < f->matches.n; k++) ls[k] = str_c(f->matches.v[k]);
        fl.lines = ls;
        fl.nlines = f->matches.n;
        fl.regex = idx;
        struct failure_field *ff = xcalloc(f->n + 1, sizeof *ff);
        size_t nf = 0;
        for (size_t k = 0; k < f->n; k++) {
            const char *key = f->kv[k].k;
            if (key == KEY_HOST || !strcmp(key, "user") || !f->kv[k].v) continue;
            ff[nf].key = key;
            const char *v = f->kv[k].v;
            const char *tup = strstr(v, "\x01tuple");
            ff[nf].val = tup ? str_make(v, (size_t)(tup - v)) : str_c(v);
            nf++;
        }
        fl.fields = ff;
        fl.nfields = nf;
        cb->failure(ud, &fl);
        free(ff);
        free(ls);
        fd_free(f);
    }
    e->nout = 0;
    for (size_t i = 0; i < e->ntrash; i++) fd_free(e->trash[i]);
    e->ntrash = 0;
}

static void count_verdict(struct f2b_engine *e, const struct rec *r, bool ignored, size_t nret,
                          const struct f2b_cbs *cb, void *ud)
{
    enum filter_verdict v;
    e->st.lines++;
    if (ignored) { v = FV_IGNORED; e->st.ignored++; }
    else if (nret) { v = FV_MATCHED; e->st.matched++; }
    else { v = FV_MISSED; e->st.missed++; }
    if (r->limit) e->st.limit_hits++;
    if (cb && cb->line) cb->line(ud, r->ln->lineno, r->ln->text, v);
}

/* Stage 2 for a single-line filter. */
static void commit_single(struct f2b_engine *e, struct rec *r, const struct f2b_cbs *cb, void *ud)
{
    const struct f2b_def *d = e->def;
    bool has_date, cut;
    double date = 0;
    line_date(e, r, &has_date, &date, &cut);
    if (!r->scanned || (!cut && r->ds != DS_EMPTY)) {
        /* the buffer is not what stage 1 assumed (no date cut): match again here */
        scan_match(&e->main, r, cut, e->o.check_all);
    }
    bool ignored = false, nofail = false;
    size_t nret = 0;
    if (r->ign_pre) {
        for (size_t i = 0; i < d->nign; i++) if (r->ignm[i]) e->st.ign_hits[i]++;
        ignored = true;
        count_verdict(e, r, ignored, 0, cb, ud);
        return;
    }
    if (r->pref == 1) e->st.pref_hits++;
    if (r->pref == 0) {
        count_verdict(e, r, false, 0, cb, ud);
        return;
    }
    struct sl matched = { 0 };
    if (r->nhits) sl_add(&matched, r->ln->text.p, r->ln->text.len);
    for (size_t h = 0; h < r->nhits; h++) {
        const struct hit *hit = &r->hits[h];
        struct fdict *fail = groups_dict(hit->g, hit->ng, &e->ri[1 + hit->idx]);
        if (r->ign_post) {
            for (size_t i = 0; i < d->nign; i++)
                if (r->ignm[i]) {
                    e->st.ign_hits[i]++;
                    ignored = true;
                    if (!e->o.check_all) break;
                }
            fd_free(fail);
            if (!e->o.check_all) break;
            continue;
        }
        if (handle_hit(e, (int)hit->idx, fail, r->pg, r->npg, &matched) == 0) break;
        if (!e->o.check_all) break;
    }
    sl_free(&matched);
    flush_line(e, r, has_date, date, cb, ud, &nofail, &nret);
    count_verdict(e, r, ignored || nofail, nret, cb, ud);
}

/* ---- multi-line (maxlines > 1): sequential port of the buffer logic ---------------------- */

static void tl_push(struct tlines *l, const char *pre, size_t pl, const char *date, size_t dl,
                    const char *post, size_t ol, uint64_t id)
{
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    struct tline *t = &l->v[l->n++];
    t->pre = xstrndup(pre, pl);
    t->date = xstrndup(date, dl);
    t->post = xstrndup(post, ol);
    t->id = id;
}

static void tl_copy(struct tlines *d, const struct tlines *s, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < s->n; i++)
        tl_push(d, s->v[i].pre, strlen(s->v[i].pre), s->v[i].date, strlen(s->v[i].date), s->v[i].post,
                strlen(s->v[i].post), s->v[i].id);
}

static void tl_clear(struct tlines *l)
{
    for (size_t i = 0; i < l->n; i++) tline_free(&l->v[i]);
    l->n = 0;
}

static void tl_free(struct tlines *l)
{
    tl_clear(l);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void tl_buf(struct buf *b, const struct tlines *l)
{
    buf_reset(b);
    for (size_t i = 0; i < l->n; i++) {
        buf_puts(b, l->v[i].pre);
        buf_puts(b, l->v[i].post);
        buf_putc(b, '\n');
    }
}

static bool tl_eq(const struct tline *a, const struct tline *b)
{
    return !strcmp(a->pre, b->pre) && !strcmp(a->date, b->date) && !strcmp(a->post, b->post);
}

/* Regex.search(buf, orgLines): matched / unmatched tuple lines */
static void split_match(struct scan *sc, const struct f2b_re *re, const char *buf, const struct tlines *org,
                        struct tlines *matched, struct tlines *unmatched)
{
    tl_clear(matched);
    tl_clear(unmatched);
    if (org->n <= 1) {
        tl_copy(matched, org, 0, org->n);
        return;
    }
    size_t so, eo, len = strlen(buf);
    f2b_group_span(&sc->mx, 0, &so, &eo);
    size_t ls = 0;
    for (size_t i = so + 1 < len ? so + 1 : len; i-- > 0;)
        if (buf[i] == '\n') { ls = i + 1; break; }
    size_t le = len;
    for (size_t i = eo ? eo - 1 : 0; i < len; i++)
        if (buf[i] == '\n') { le = i + 1; break; }
    size_t lc1 = 0, lc2 = 0;
    for (size_t i = 0; i < ls; i++) if (buf[i] == '\n') lc1++;
    for (size_t i = 0; i < le; i++) if (buf[i] == '\n') lc2++;
    tl_copy(matched, org, lc1, lc2);
    tl_copy(unmatched, org, 0, lc1);
    /* lines captured by <SKIPLINES> go back to the unmatched ones */
    struct buf skipped = BUF_INIT(1u << 24);
    for (int n = 0;; n++) {
        char name[32];
        snprintf(name, sizeof name, "skiplines%d", n);
        size_t a, b;
        int r = f2b_named_span(re, &sc->mx, name, &a, &b);
        if (r < 0) break;
        if (r == 1) buf_append(&skipped, buf + a, b - a);
    }
    size_t n0 = 0;
    const char *p = skipped.p ? skipped.p : "";
    const char *end = p + skipped.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        for (size_t m = n0; m < matched->n; m++) {
            const struct tline *t = &matched->v[m];
            size_t pl = strlen(t->pre);
            if (pl + strlen(t->post) == l && !memcmp(t->pre, p, pl) && !memcmp(t->post, p + pl, l - pl)) {
                tl_push(unmatched, t->pre, strlen(t->pre), t->date, strlen(t->date), t->post, strlen(t->post), t->id);
                tline_free(&matched->v[m]);
                memmove(&matched->v[m], &matched->v[m + 1], (matched->n - m - 1) * sizeof *matched->v);
                matched->n--;
                n0 = m;
                break;
            }
        }
        p = nl ? nl + 1 : end;
    }
    buf_free(&skipped);
    tl_copy(unmatched, org, lc2, org->n);
}

static void tl_to_sl(const struct tlines *l, struct sl *out)
{
    for (size_t i = 0; i < l->n; i++) {
        char *s = xasprintf("%s%s%s", l->v[i].pre, l->v[i].date, l->v[i].post);
        sl_add(out, s, strlen(s));
        free(s);
    }
}

static void commit_multi(struct f2b_engine *e, struct rec *r, const struct f2b_cbs *cb, void *ud)
{
    const struct f2b_def *d = e->def;
    struct scan *sc = &e->main;
    bool has_date, cut;
    double date = 0;
    line_date(e, r, &has_date, &date, &cut);
    const struct str t = r->ln->text;
    /* the buffer before this line, for fail2ban-regex's missed -> matched correction */
    struct tlines before = { 0 };
    tl_copy(&before, &e->lb, 0, e->lb.n);
    bool full_before = e->lb.n >= (size_t)d->maxlines;
    uint64_t id = ++e->tl_seq;
    if (r->given) tl_push(&e->lb, "", 0, "", 0, t.p, t.len, id);
    else if (cut && (r->ds == DS_OK || r->ds == DS_BAD || r->ds == DS_EMPTY))
        tl_push(&e->lb, t.p, r->s, t.p + r->s, r->e - r->s, t.p + r->e, t.len - r->e, id);
    else
        tl_push(&e->lb, "", 0, !cut ? e->last_text : "", !cut ? strlen(e->last_text) : 0,
                t.p, t.len, id);
    while (e->lb.n > (size_t)d->maxlines) {
        tline_free(&e->lb.v[0]);
        memmove(&e->lb.v[0], &e->lb.v[1], (e->lb.n - 1) * sizeof *e->lb.v);
        e->lb.n--;
    }
    struct tlines org = { 0 }, matched = { 0 }, unmatched = { 0 };
    tl_copy(&org, &e->lb, 0, e->lb.n);
    struct buf b = BUF_INIT(1u << 24);
    tl_buf(&b, &org);
    bool ignored = false, nofail = false, have_buf = true;
    size_t nret = 0;
    struct grp *pg = NULL;
    size_t npg = 0;
    r->limit = false;
    if (d->nign && d->nign + 2 < d->nfail) {
        bool hit = false;
        for (size_t i = 0; i < d->nign; i++)
            if (re_run(sc, d->ign[i], b.p, b.len, r) == 1) {
                e->st.ign_hits[i]++;
                hit = ignored = true;
                if (!e->o.check_all) break;
            }
        if (hit) goto done;
    }
    if (d->pref) {
        if (re_run(sc, d->pref, b.p, b.len, r) != 1) goto done;
        e->st.pref_hits++;
        struct grp *g;
        size_t n;
        take_groups(sc, d->pref, &e->ri[0], b.p, &g, &n);
        pg = g;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(g[i].name, "content")) {
                if (g[i].v && g[i].len) {
                    tl_clear(&e->lb);
                    tl_push(&e->lb, "", 0, "", 0, g[i].v, g[i].len, ++e->tl_seq);
                    have_buf = false;
                }
                continue;
            }
            pg[npg++] = g[i];
        }
    }
    for (size_t fi = 0; fi < d->nfail; fi++) {
        if (!have_buf) { tl_buf(&b, &e->lb); have_buf = true; }
        const struct f2b_re *re = d->fail[fi];
        if (re_run(sc, re, b.p, b.len, r) != 1) continue;
        split_match(sc, re, b.p, &org, &matched, &unmatched);
        struct grp *g;
        size_t ng;
        take_groups(sc, re, &e->ri[1 + fi], b.p, &g, &ng);
        struct fdict *fail = groups_dict(g, ng, &e->ri[1 + fi]);
        if (d->nign) {
            /* _ignoreLine on the matched lines only */
            struct buf ib = BUF_INIT(1u << 24);
            tl_buf(&ib, &matched);
            bool hit = false;
            for (size_t i = 0; i < d->nign; i++)
                if (re_run(sc, d->ign[i], ib.p, ib.len, r) == 1) {
                    e->st.ign_hits[i]++;
                    hit = ignored = true;
                    tl_clear(&e->lb);
                    tl_copy(&e->lb, &unmatched, 0, unmatched.n);
                    if (!e->o.check_all) break;
                }
            buf_free(&ib);
            if (hit) {
                fd_free(fail);
                have_buf = false;
                if (!e->o.check_all) break;
                continue;
            }
        }
        tl_clear(&e->lb);
        tl_copy(&e->lb, &unmatched, 0, unmatched.n);
        have_buf = false;
        struct sl ml = { 0 };
        tl_to_sl(&matched, &ml);
        int go = handle_hit(e, (int)fi, fail, pg, npg, &ml);
        sl_free(&ml);
        if (!go) break;
        if (!e->o.check_all) break;
    }
done:
    buf_free(&b);
    flush_line(e, r, has_date, date, cb, ud, &nofail, &nret);
    /* lines that left the buffer were part of a match: missed -> matched */
    for (size_t i = full_before ? 1 : 0; i < before.n; i++) {
        bool still = false;
        for (size_t k = 0; k < e->lb.n && !still; k++) still = tl_eq(&before.v[i], &e->lb.v[k]);
        if (!still) {
            if (e->st.missed) { e->st.missed--; e->st.matched++; }
            if (cb && cb->rematched) {
                char *s = xasprintf("%s%s%s", before.v[i].pre, before.v[i].date, before.v[i].post);
                cb->rematched(ud, str_c(s));
                free(s);
            }
        }
    }
    tl_free(&before);
    tl_free(&org);
    tl_free(&matched);
    tl_free(&unmatched);
    count_verdict(e, r, ignored || nofail, nret, cb, ud);
}

/* ---- batches and threads ------------------------------------------------------------------- */

struct job {
    struct scan *sc;
    struct rec *recs;
    size_t n;
    bool single, check_all;
    /* text mode: the job splits its part of the buffer into lines itself */
    const char *text;
    size_t tlen;
    unsigned flags;
    double now;
    struct filter_line *lines;    /* owned by the engine (per part) */
    size_t *lcap;
    struct rec **recbuf;
    size_t *rcap;
    uint64_t nlines;              /* lines in the part, skipped ones included */
};

static void run_job(struct job *j)
{
    if (j->text) {
        size_t pos = 0, n = 0;
        uint64_t no = 0;
        struct str l;
        while (lines_next(j->text, j->tlen, &pos, &l, NULL)) {
            no++;
            if ((j->flags & F2B_FEED_SKIP_COMMENTS) && (l.len == 0 || l.p[0] == '#')) continue;
            if (n == *j->lcap) {
                size_t c = *j->lcap ? *j->lcap * 2 : 4096;
                j->lines = xrealloc(j->lines, c * sizeof *j->lines);
                *j->lcap = c;
            }
            j->lines[n++] = (struct filter_line){ l, no, (j->flags & F2B_FEED_JOURNAL) != 0, j->now };
        }
        j->nlines = no;
        if (n > *j->rcap) {
            free(*j->recbuf);
            *j->recbuf = xmalloc(n * sizeof **j->recbuf);
            *j->rcap = n;
        }
        j->recs = *j->recbuf;
        for (size_t i = 0; i < n; i++) rec_init(&j->recs[i], &j->lines[i]);
        j->n = n;
    }
    for (size_t i = 0; i < j->n; i++) {
        scan_date(j->sc, &j->recs[i]);
        /* an unparsable date needs the line state: leave the matching to stage 2 */
        if (j->single && j->recs[i].ds != DS_BAD) scan_match(j->sc, &j->recs[i], true, j->check_all);
    }
}

static void *job_thread(void *arg)
{
    run_job(arg);
    return NULL;
}

static void set_clock(struct f2b_engine *e)
{
    /* template usage times: one clock reading per batch is precise enough (300 s scale) */
    double clk = wall_now();
    e->main.dd.clock = clk;
    for (int w = 0; w < e->nworkers; w++) e->workers[w].dd.clock = clk;
}

static void run_jobs(struct job *jobs, int parts)
{
    pthread_t th[65];
    bool started[65] = { false };
    for (int p = 1; p < parts; p++)
        started[p] = pthread_create(&th[p], NULL, job_thread, &jobs[p]) == 0;
    run_job(&jobs[0]);
    for (int p = 1; p < parts; p++) {
        if (started[p]) pthread_join(th[p], NULL);
        else run_job(&jobs[p]);
    }
}

static void end_batch(struct f2b_engine *e)
{
    arena_free(&e->main.ar);
    for (int w = 0; w < e->nworkers; w++) arena_free(&e->workers[w].ar);
}

void f2b_engine_feed(struct f2b_engine *e, const struct filter_line *lines, size_t n,
                     const struct f2b_cbs *cb, void *ud)
{
    bool single = e->def->maxlines <= 1;
    if (n > e->caprecs) {
        free(e->recs);
        e->caprecs = n;
        e->recs = xmalloc(n * sizeof *e->recs);
    }
    struct rec *recs = e->recs;
    for (size_t i = 0; i < n; i++) rec_init(&recs[i], &lines[i]);
    int parts = n >= PAR_MIN_LINES ? 1 + e->nworkers : 1;
    set_clock(e);
    struct job jobs[65];
    size_t per = (n + (size_t)parts - 1) / (size_t)parts;
    for (int p = 0; p < parts; p++) {
        size_t a = (size_t)p * per, b = a + per > n ? n : a + per;
        jobs[p] = (struct job){ p == 0 ? &e->main : &e->workers[p - 1], recs + a, b > a ? b - a : 0, single,
                                e->o.check_all, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, 0 };
    }
    run_jobs(jobs, parts);
    for (size_t i = 0; i < n; i++) {
        if (single) commit_single(e, &recs[i], cb, ud);
        else commit_multi(e, &recs[i], cb, ud);
    }
    end_batch(e);
}

uint64_t f2b_engine_feed_text(struct f2b_engine *e, const char *text, size_t len, uint64_t first,
                              unsigned flags, const struct f2b_cbs *cb, void *ud)
{
    bool single = e->def->maxlines <= 1;
    int parts = len >= PAR_MIN_BYTES ? 1 + e->nworkers : 1;
    size_t starts[66];
    parts = (int)lines_split(text, len, (size_t)parts, starts);
    starts[parts] = len;
    if (!e->parts) e->parts = xcalloc(65, sizeof *e->parts);
    set_clock(e);
    struct job jobs[65];
    for (int p = 0; p < parts; p++) {
        struct tpart *tp = &e->parts[p];
        jobs[p] = (struct job){ p == 0 ? &e->main : &e->workers[p - 1], NULL, 0, single, e->o.check_all,
                                text + starts[p], starts[p + 1] - starts[p], flags, (double)e->o.now,
                                tp->lines, &tp->lcap, &tp->recs, &tp->rcap, 0 };
    }
    run_jobs(jobs, parts);
    uint64_t base = first - 1;
    for (int p = 0; p < parts; p++) {
        struct tpart *tp = &e->parts[p];
        tp->lines = jobs[p].lines;                  /* may have grown */
        for (size_t i = 0; i < jobs[p].n; i++) {
            jobs[p].lines[i].lineno += base;
            if (single) commit_single(e, &jobs[p].recs[i], cb, ud);
            else commit_multi(e, &jobs[p].recs[i], cb, ud);
        }
        base += jobs[p].nlines;
    }
    end_batch(e);
    return base - (first - 1);
}

/* ---- the generic filter interface ----------------------------------------------------------- */

struct f2b_filter {
    struct filter f;
    struct f2b_def *def;
    struct f2b_engine *eng;
    enum filter_verdict last;
};

static void gen_line(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    ((struct f2b_filter *)ud)->last = v;
}

struct gen_ud {
    struct f2b_filter *ff;
    failure_cb cb;
    void *ud;
};

static void gen_fail(void *ud, const struct failure *f)
{
    struct gen_ud *g = ud;
    if (g->cb) g->cb(g->ud, f);
}

static void gen_line2(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    gen_line(((struct gen_ud *)ud)->ff, lineno, text, v);
}

static enum filter_verdict f2b_feed(struct filter *f, const struct filter_line *ln, failure_cb cb, void *ud)
{
    struct f2b_filter *ff = (struct f2b_filter *)f;
    struct gen_ud g = { ff, cb, ud };
    struct f2b_cbs cbs = { gen_fail, gen_line2, NULL };
    ff->last = FV_MISSED;
    f2b_engine_feed(ff->eng, ln, 1, &cbs, &g);
    return ff->last;
}

static void f2b_close(struct filter *f)
{
    struct f2b_filter *ff = (struct f2b_filter *)f;
    f2b_engine_free(ff->eng);
    f2b_def_free(ff->def);
    free(ff->f.name);
    free(ff);
}

static const struct filter_ops f2b_ops = { "fail2ban", f2b_feed, f2b_close, NULL, NULL };

void f2b_filter_set_now(struct filter *f, int64_t now)
{
    if (f && f->ops == &f2b_ops) f2b_engine_set_now(((struct f2b_filter *)f)->eng, now);
}


struct filter *f2b_filter_open(const char *spec, const struct f2b_load *o, int64_t now,
                               char *err, size_t errlen)
{
    struct f2b_def *d;
    if (f2b_def_load(&d, spec, NULL, o, err, errlen) < 0) return NULL;
    struct f2b_filter *ff = xcalloc(1, sizeof *ff);
    ff->def = d;
    struct f2b_opts opts = { false, true, now, 1 };
    ff->eng = f2b_engine_new(d, &opts);
    ff->f.ops = &f2b_ops;
    ff->f.name = xstrdup(d->name);
    ff->f.impl = ff;
    return &ff->f;
}
