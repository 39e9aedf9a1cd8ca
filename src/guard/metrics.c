/* metrics - see metrics.h. */
#include "guard/metrics.h"
#include "guard/core.h"
#include "util/hash.h"
#include "util/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

struct mx_series {
    double v;                       /* counter / gauge value; histogram: sum */
    uint64_t count;                 /* histogram: observations */
    uint64_t b[MX_MAX_BUCKETS];     /* histogram: observations per bucket (not cumulative) */
};

struct mx_fam {
    const char *name, *help, *label;
    enum mx_type type;
    size_t cap;
    double bounds[MX_MAX_BUCKETS];
    size_t nb;
    struct hmap series;             /* normalised label value -> struct mx_series */
};

struct mx {
    struct mx_fam **f;
    size_t n, capf;
};

struct mx *mx_new(void)
{
    return xcalloc(1, sizeof(struct mx));   /* owned by the caller: mx_free() */
}

void mx_free(struct mx *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        hmap_free(&m->f[i]->series);
        free(m->f[i]);
    }
    free(m->f);
    free(m);
}

struct mx_fam *mx_family(struct mx *m, const char *name, const char *help, enum mx_type t, const char *label,
                         size_t cap)
{
    struct mx_fam *f = xcalloc(1, sizeof *f);   /* owned by m */
    f->name = name;
    f->help = help;
    f->type = t;
    f->label = label;
    f->cap = cap;
    hmap_init(&f->series, sizeof(struct mx_series));
    m->f = xgrow(m->f, &m->capf, m->n + 1, sizeof *m->f);
    m->f[m->n++] = f;
    if (!label) mx_get(f, (struct str){ "", 0 });   /* always present, at 0 */
    return f;
}

struct mx_fam *mx_histogram(struct mx *m, const char *name, const char *help, const char *label,
                            const double *bounds, size_t nbounds)
{
    struct mx_fam *f = mx_family(m, name, help, MX_HISTOGRAM, label, 0);
    if (nbounds > MX_MAX_BUCKETS) nbounds = MX_MAX_BUCKETS;
    memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    f->nb = nbounds;
    return f;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;           /* overlong */
        if (c == 0xED) hi = 0x9F;           /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/* Normalise a label value into out (MX_LABEL_MAX bytes at most): valid UTF-8 kept, other
 * bytes and control characters except newline become '?'. Returns the length. */
static size_t label_norm(struct str v, char *out)
{
    const unsigned char *p = (const unsigned char *)v.p;
    size_t i = 0, o = 0;
    while (i < v.len) {
        size_t k = utf8_seq(p + i, v.len - i);
        if (k == 0 || (k == 1 && ((p[i] < 0x20 && p[i] != '\n') || p[i] == 0x7f))) {
            if (o + 1 > MX_LABEL_MAX) break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + k > MX_LABEL_MAX) break;    /* cut at a character boundary */
        memcpy(out + o, p + i, k);
        o += k;
        i += k;
    }
    return o;
}

struct mx_series *mx_get(struct mx_fam *f, struct str value)
{
    char norm[MX_LABEL_MAX];
    struct str key = { "", 0 };
    if (f->label) {
        key.len = label_norm(value, norm);
        key.p = norm;
    }
    struct mx_series *s = hmap_get(&f->series, key);
    if (s) return s;
    if (f->cap && hmap_count(&f->series) >= f->cap) key = (struct str){ MX_OTHER, sizeof MX_OTHER - 1 };
    return hmap_put(&f->series, key, NULL);      /* zeroed when new */
}

void mx_add(struct mx_series *s, double v) { s->v += v; }
void mx_set(struct mx_series *s, double v) { s->v = v; }

void mx_observe(struct mx_fam *f, struct mx_series *s, double v)
{
    s->v += v;
    s->count++;
    for (size_t i = 0; i < f->nb; i++)
        if (v <= f->bounds[i]) {
            s->b[i]++;          /* per bucket; mx_write makes them cumulative */
            break;
        }
}

void mx_clear(struct mx_fam *f)
{
    hmap_free(&f->series);
    hmap_init(&f->series, sizeof(struct mx_series));
    if (!f->label) mx_get(f, (struct str){ "", 0 });
}

size_t mx_count(const struct mx_fam *f) { return hmap_count(&f->series); }

/* The writer: every append goes through out(), which remembers a refused one (buffer
 * maximum reached) so that a cut text is reported, never served as complete. */
struct wr {
    struct buf *o;
    int bad;
};

static void out(struct wr *w, const char *p, size_t n)
{
    if (buf_append(w->o, p, n) < 0) w->bad = 1;
}

static void outs(struct wr *w, const char *s) { out(w, s, strlen(s)); }

/* Prometheus number: integers as such, others shortest round-trip, NaN / +Inf / -Inf. */
static void fmt_num(double v, char *t, size_t cap)
{
    if (isnan(v)) snprintf(t, cap, "NaN");
    else if (isinf(v)) snprintf(t, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15) snprintf(t, cap, "%.0f", v);
    else {
        snprintf(t, cap, "%.15g", v);
        if (strtod(t, NULL) != v) snprintf(t, cap, "%.17g", v);
    }
}

/* Escape for a label value (\ " newline) or for HELP text (\ newline). */
static void out_escaped(struct wr *w, struct str s, bool quote)
{
    size_t run = 0;
    for (size_t i = 0; i < s.len; i++) {
        const char *e = NULL;
        if (s.p[i] == '\\') e = "\\\\";
        else if (s.p[i] == '\n') e = "\\n";
        else if (s.p[i] == '"' && quote) e = "\\\"";
        if (!e) continue;
        out(w, s.p + run, i - run);
        outs(w, e);
        run = i + 1;
    }
    out(w, s.p + run, s.len - run);
}

/* name+suffix{label="value"[,le="x"]} value\n */
static void out_sample(struct wr *w, const struct mx_fam *f, const char *suffix, struct str lv, const char *le,
                       const char *value)
{
    outs(w, f->name);
    outs(w, suffix);
    if (f->label || le) {
        outs(w, "{");
        if (f->label) {
            outs(w, f->label);
            outs(w, "=\"");
            out_escaped(w, lv, true);
            outs(w, "\"");
            if (le) outs(w, ",");
        }
        if (le) {
            outs(w, "le=\"");
            outs(w, le);
            outs(w, "\"");
        }
        outs(w, "}");
    }
    outs(w, " ");
    outs(w, value);
    outs(w, "\n");
}

struct kv {
    struct str k;
    const struct mx_series *s;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->k.len < y->k.len ? x->k.len : y->k.len;
    int c = memcmp(x->k.p, y->k.p, n);
    if (c) return c;
    return x->k.len < y->k.len ? -1 : x->k.len > y->k.len;
}

static void write_family(struct wr *w, const struct mx_fam *f)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    outs(w, "# HELP ");
    outs(w, f->name);
    outs(w, " ");
    out_escaped(w, (struct str){ f->help, strlen(f->help) }, false);
    outs(w, "\n# TYPE ");
    outs(w, f->name);
    outs(w, " ");
    outs(w, types[f->type]);
    outs(w, "\n");
    size_t n = hmap_count(&f->series), k = 0, it = 0;
    struct kv *v = xmalloc((n + 1) * sizeof *v);   /* freed below */
    struct str key;
    void *val;
    while (k < n && hmap_next(&f->series, &it, &key, &val)) v[k++] = (struct kv){ key, val };
    qsort(v, k, sizeof *v, kv_cmp);
    char num[48], le[48];
    for (size_t i = 0; i < k; i++) {
        const struct mx_series *s = v[i].s;
        if (f->type != MX_HISTOGRAM) {
            fmt_num(s->v, num, sizeof num);
            out_sample(w, f, "", v[i].k, NULL, num);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b < f->nb; b++) {
            cum += s->b[b];
            fmt_num(f->bounds[b], le, sizeof le);
            snprintf(num, sizeof num, "%llu", (unsigned long long)cum);
            out_sample(w, f, "_bucket", v[i].k, le, num);
        }
        snprintf(num, sizeof num, "%llu", (unsigned long long)s->count);
        out_sample(w, f, "_bucket", v[i].k, "+Inf", num);
        fmt_num(s->v, num, sizeof num);
        out_sample(w, f, "_sum", v[i].k, NULL, num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)s->count);
        out_sample(w, f, "_count", v[i].k, NULL, num);
    }
    free(v);
}

int mx_write(const struct mx *m, struct buf *o)
{
    struct wr w = { o, 0 };
    for (size_t i = 0; i < m->n; i++) write_family(&w, m->f[i]);
    return w.bad ? -1 : 0;
}

/* ---- the guard's metrics ---- */

struct jseen {
    uint64_t lines, failed, ignored, banned;
};

struct gmetrics {
    struct mx *m;
    struct mx_fam *lines, *failures, *ignored, *bans, *cur_bans, *tracked, *evictions, *blocks;
    struct mx_fam *unparsed, *act_err, *act_dur;
    const struct core *seen_core;   /* the core the seen values belong to (compared only) */
    struct jseen *seen;
    size_t nseen;
    uint64_t evict_seen;
};

static const double act_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

struct gmetrics *gmetrics_new(int64_t start_time, const char *version)
{
    struct gmetrics *gm = xcalloc(1, sizeof *gm);   /* owned by the caller: gmetrics_free() */
    struct mx *m = gm->m = mx_new();
    struct mx_fam *bi = mx_family(m, "mailwarden_build_info", "mailwarden version (always 1)", MX_GAUGE,
                                  "version", 0);
    mx_set(mx_get(bi, (struct str){ version, strlen(version) }), 1);
    mx_set(mx_get(mx_family(m, "mailwarden_start_time_seconds", "Start time of the daemon since the epoch",
                            MX_GAUGE, NULL, 0), (struct str){ "", 0 }), (double)start_time);
    gm->lines = mx_family(m, "mailwarden_lines_total", "Log lines read for the jail (a file watched by "
                          "several jails counts in each)", MX_COUNTER, "jail", 0);
    gm->failures = mx_family(m, "mailwarden_failures_total", "Failures counted by the jail", MX_COUNTER, "jail", 0);
    gm->ignored = mx_family(m, "mailwarden_ignored_failures_total", "Failures of addresses in ignoreip or "
                            "ignoreself, not counted", MX_COUNTER, "jail", 0);
    gm->bans = mx_family(m, "mailwarden_bans_total", "Bans made by the jail", MX_COUNTER, "jail", 0);
    gm->cur_bans = mx_family(m, "mailwarden_current_bans", "Active bans of the jail", MX_GAUGE, "jail", 0);
    gm->tracked = mx_family(m, "mailwarden_tracked_entries", "Tracked (jail, IP) failure entries",
                            MX_GAUGE, "jail", 0);
    gm->evictions = mx_family(m, "mailwarden_tracker_evictions_total", "Tracked entries evicted because the "
                              "maxentries cap was reached", MX_COUNTER, NULL, 0);
    gm->blocks = mx_family(m, "mailwarden_blocks", "Permanent blocks (mailwarden block)", MX_GAUGE, NULL, 0);
    gm->unparsed = mx_family(m, "mailwarden_unparsed_lines_total", "Lines no built-in parser models, by syslog "
                             "program (at most 64 programs, then \"other\"; \"(none)\": no syslog envelope)",
                             MX_COUNTER, "program", GM_PROGRAM_CAP);
    gm->act_err = mx_family(m, "mailwarden_action_errors_total", "Failed runs of the action (retried with "
                            "back-off)", MX_COUNTER, "action", 0);
    gm->act_dur = mx_histogram(m, "mailwarden_action_duration_seconds", "Duration of one run of the action's "
                               "queue (one batch of firewall operations)", "action", act_bounds,
                               sizeof act_bounds / sizeof *act_bounds);
    return gm;
}

void gmetrics_free(struct gmetrics *gm)
{
    if (!gm) return;
    mx_free(gm->m);
    free(gm->seen);
    free(gm);
}

struct mx *gmetrics_registry(struct gmetrics *gm) { return gm->m; }

static struct str cstr(const char *s) { return (struct str){ s, strlen(s) }; }

static void add_delta(struct mx_fam *f, struct str jail, uint64_t now, uint64_t *seen)
{
    struct mx_series *s = mx_get(f, jail);  /* created at 0 so every jail shows */
    if (now > *seen) mx_add(s, (double)(now - *seen));
    *seen = now;
}

void gmetrics_sample(struct gmetrics *gm, struct core *c, size_t nblocks)
{
    size_t nj = core_njails(c);
    if (gm->seen_core != c || gm->nseen < nj) {
        if (gm->seen_core != c) gm->evict_seen = 0;
        struct jseen *ns = xcalloc(nj + 1, sizeof *ns);
        if (gm->seen_core == c && gm->seen) memcpy(ns, gm->seen, gm->nseen * sizeof *ns);
        free(gm->seen);
        gm->seen = ns;
        gm->nseen = nj;
        gm->seen_core = c;
    }
    mx_clear(gm->cur_bans);
    mx_clear(gm->tracked);
    struct tracker *t = core_tracker(c);
    for (size_t i = 0; i < nj; i++) {
        struct gjail *j = core_jail(c, i);
        struct str name = cstr(j->c->name);
        struct jseen *s = &gm->seen[i];
        add_delta(gm->lines, name, j->lines, &s->lines);
        add_delta(gm->failures, name, j->total_failed, &s->failed);
        add_delta(gm->ignored, name, j->total_ignored, &s->ignored);
        add_delta(gm->bans, name, j->total_banned, &s->banned);
        mx_set(mx_get(gm->cur_bans, name), (double)bans_jail_count(core_bans(c), (uint16_t)j->id));
        mx_set(mx_get(gm->tracked, name), (double)tracker_jail_count(t, j->id));
    }
    uint64_t ev = tracker_evictions(t);
    if (ev > gm->evict_seen) mx_add(mx_get(gm->evictions, cstr("")), (double)(ev - gm->evict_seen));
    gm->evict_seen = ev;
    mx_set(mx_get(gm->blocks, cstr("")), (double)nblocks);
}

void gmetrics_retire(struct gmetrics *gm, struct core *c)
{
    gmetrics_sample(gm, c, 0);
    gm->seen_core = NULL;
    gm->nseen = 0;
    gm->evict_seen = 0;
}

void gmetrics_unparsed(struct gmetrics *gm, struct str program)
{
    if (!program.len) program = cstr("(none)");
    mx_add(mx_get(gm->unparsed, program), 1);
}

void gmetrics_action(struct gmetrics *gm, const char *name, double seconds, int failed)
{
    struct str n = cstr(name);
    mx_add(mx_get(gm->act_err, n), failed ? 1 : 0);
    mx_observe(gm->act_dur, mx_get(gm->act_dur, n), seconds);
}

int gmetrics_render(struct gmetrics *gm, struct core *c, size_t nblocks, struct buf *out)
{
    gmetrics_sample(gm, c, nblocks);
    buf_reset(out);
    return mx_write(gm->m, out);
}

int gmetrics_write_file(const char *path, const struct buf *text, char *err, size_t errlen)
{
    char *tmp = xasprintf("%s.tmp", path);   /* freed below; not *.prom: node_exporter skips it */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    fchmod(fd, 0644);                        /* node_exporter runs as another user */
    size_t off = 0;
    int rc = 0;
    while (off < text->len) {
        ssize_t n = write(fd, text->p + off, text->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", tmp, n < 0 ? strerror(errno) : "short write");
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0) {
        snprintf(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0) unlink(tmp);
    free(tmp);
    return rc;
}
