/*
 * filter_builtin - the built-in mail filters (guard/jailfilter.h: mailwarden-postfix,
 * mailwarden-dovecot, mailwarden-sshd, structural parsers on the line model) behind the
 * generic filter interface of guard/filter.h, so `mailwarden regex` tests them exactly like
 * fail2ban filter files. The host of a failure is the address the parser took from the
 * daemon's own slot, never text of the line an attacker wrote.
 *
 * Speed: a line is parsed only as far as the filter needs. The envelope's program name
 * (and for Postfix its daemon part) decides whether the line can be of the filter's daemon
 * (parse_prog_may_be, jfilter_builtin_interest); only such lines
 * get the message parsed, and only for the event kinds the filter looks at
 * (jfilter_builtin_interest) are the fields and the time computed. In the batch forms that
 * stateless work runs on several threads, which take pieces of the batch as they go; the filter's
 * stateful matching (sessions, pids) then runs on the calling thread in line order, so the
 * results are those of feeding the lines one by one.
 * Ownership: the instance owns the jail filter and the per-thread work buffers (reused from
 * batch to batch); filter_close() frees all.
 */
#include "guard/filter.h"
#include "guard/jailfilter.h"
#include "guard/ini.h"
#include "parse/event.h"
#include "util/reader.h"
#include "util/xalloc.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 8
#define PIECES_PER_THREAD 4             /* threads take pieces as they go: a descheduled
                                           thread on a busy machine holds up little */
#define MAX_PARTS (MAX_THREADS * PIECES_PER_THREAD)
#define PAR_MIN_BYTES (1u << 20)        /* smaller buffers are done on the calling thread */
#define PAR_MIN_LINES 8192
#define NO_EV UINT32_MAX

struct pline {
    struct str text;
    uint64_t lineno;
    uint32_t ev;                        /* index into part.ev, NO_EV: nothing to match */
};

struct bimpl;

/* One piece of a batch and its results. */
struct part {
    const struct bimpl *b;
    /* input: a text region (text != NULL) or lines */
    const char *text;
    size_t tlen;
    unsigned flags;
    const struct filter_line *in;
    size_t nin;
    /* output */
    struct pline *l;                    /* owned, grown as needed */
    size_t nl, capl;
    struct event *ev;                   /* owned: the events worth matching */
    size_t nev, capev;
    uint64_t lines;                     /* text mode: lines in the region, skipped included */
};

struct bimpl {
    struct jfilter *jf;
    struct syslog_ctx ctx;
    int64_t now;
    struct parse_opts popts;            /* kinds: what the filter looks at */
    enum ev_src src;
    const char *const *services;        /* NULL: any */
    struct part parts[MAX_PARTS];
};

/* Parse line as far as the filter needs; true when ev is worth matching. Thread-safe for
 * distinct ctx/ev (b is only read). */
static bool prep(const struct bimpl *b, struct syslog_ctx *ctx, struct str line, struct event *ev)
{
    struct syslog_hdr h;
    if (syslog_parse_lazy(ctx, line, &h) < 0 || !parse_prog_may_be(b->src, h.prog)) return false;
    if (b->services) {
        ptrdiff_t sl = str_rchr(h.prog, '/');
        struct str svc = str_from(h.prog, sl < 0 ? 0 : (size_t)sl + 1);
        size_t i = 0;
        while (b->services[i] && !str_eqc(svc, b->services[i])) i++;
        if (!b->services[i]) return false;
    }
    memset(ev, 0, sizeof *ev);
    ev->port = -1;
    ev->h = h;
    parse_message(&b->popts, ev);
    if (!ev_wanted(&b->popts, ev->kind)) return false;
    syslog_time(ctx, &ev->h);
    return true;
}

/* Match a prepared event (stateful: in line order) and report its failures. */
static enum filter_verdict deliver(struct bimpl *b, const struct event *ev, struct str text, uint64_t lineno,
                                   failure_cb cb, void *ud)
{
    struct jfilter_hit hits[JFILTER_MAXHITS];
    size_t n = b->jf->ops->match(b->jf->st, ev, text, hits, JFILTER_MAXHITS, NULL);
    for (size_t i = 0; i < n; i++) {
        char host[IPADDR_STRLEN];
        size_t hl = ipaddr_format(&hits[i].ip, host, sizeof host);
        struct failure fl;
        memset(&fl, 0, sizeof fl);
        fl.line = lineno;
        fl.has_time = true;
        fl.time = (double)hits[i].t + (ev->h.usec > 0 ? ev->h.usec / 1e6 : 0);
        fl.host = (struct str){ host, hl };
        fl.ip = hits[i].ip;
        fl.has_user = ev->user.len > 0;
        fl.user = ev->user;
        fl.attempts = hits[i].n ? hits[i].n : 1;
        fl.lines = &text;
        fl.nlines = 1;
        fl.regex = -1;
        if (cb) cb(ud, &fl);
    }
    return n ? FV_MATCHED : FV_MISSED;
}

static enum filter_verdict feed(struct filter *f, const struct filter_line *ln, failure_cb cb, void *ud)
{
    struct bimpl *b = f->impl;
    struct event ev;
    if (!prep(b, &b->ctx, ln->text, &ev)) return FV_MISSED;
    return deliver(b, &ev, ln->text, ln->lineno, cb, ud);
}

/* ---- batches ---------------------------------------------------------------------------- */

static void part_add(struct part *p, struct syslog_ctx *ctx, struct str text, uint64_t lineno)
{
    if (p->nl == p->capl) p->l = xgrow(p->l, &p->capl, p->nl + 1, sizeof *p->l);
    if (p->nev == p->capev) p->ev = xgrow(p->ev, &p->capev, p->nev + 1, sizeof *p->ev);
    struct pline *pl = &p->l[p->nl++];
    pl->text = text;
    pl->lineno = lineno;
    pl->ev = NO_EV;
    if (prep(p->b, ctx, text, &p->ev[p->nev])) pl->ev = (uint32_t)p->nev++;
}

static void part_run(struct part *p, struct syslog_ctx *ctx)
{
    p->nl = p->nev = 0;
    if (p->text) {
        size_t pos = 0;
        uint64_t no = 0;
        struct str l;
        while (lines_next(p->text, p->tlen, &pos, &l, NULL)) {
            no++;
            if ((p->flags & FILTER_SKIP_COMMENTS) && (l.len == 0 || l.p[0] == '#')) continue;
            part_add(p, ctx, l, no);
        }
        p->lines = no;
    } else {
        for (size_t i = 0; i < p->nin; i++) part_add(p, ctx, p->in[i].text, p->in[i].lineno);
    }
}

struct runner {
    struct bimpl *b;
    int n;                              /* pieces */
    atomic_int next;                    /* the next piece to take */
};

static void *runner(void *arg)
{
    struct runner *r = arg;
    struct syslog_ctx ctx = { .ref = r->b->now };    /* this thread's year cache */
    for (int i; (i = atomic_fetch_add(&r->next, 1)) < r->n;) part_run(&r->b->parts[i], &ctx);
    return NULL;
}

/* Run pieces 0..n on up to `threads` threads (the caller's included). */
static void parts_run(struct bimpl *b, int n, int threads)
{
    struct runner r = { b, n, 0 };
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int i = 1; i < threads && i < n; i++)
        if (pthread_create(&th[started], NULL, runner, &r) == 0) started++;
    runner(&r);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

static void part_commit(struct bimpl *b, const struct part *p, uint64_t base, const struct filter_batch *fb)
{
    for (size_t i = 0; i < p->nl; i++) {
        const struct pline *pl = &p->l[i];
        uint64_t no = pl->lineno + base;
        enum filter_verdict v = pl->ev == NO_EV ? FV_MISSED : deliver(b, &p->ev[pl->ev], pl->text, no, fb->failure, fb->ud);
        if (fb->line) fb->line(fb->ud, no, pl->text, v);
    }
}

static int nthreads(int threads) { return threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads; }
static int npieces(int threads) { return threads == 1 ? 1 : threads * PIECES_PER_THREAD; }

static void feed_lines(struct filter *f, const struct filter_line *lines, size_t n, const struct filter_batch *fb)
{
    struct bimpl *b = f->impl;
    int threads = n >= PAR_MIN_LINES ? nthreads(fb->threads) : 1, parts = npieces(threads);
    size_t per = (n + (size_t)parts - 1) / (size_t)parts;
    for (int i = 0; i < parts; i++) {
        size_t a = (size_t)i * per, e = a + per > n ? n : a + per;
        struct part *p = &b->parts[i];
        p->text = NULL;
        p->in = lines + (a < n ? a : n);
        p->nin = e > a ? e - a : 0;
    }
    parts_run(b, parts, threads);
    for (int i = 0; i < parts; i++) part_commit(b, &b->parts[i], 0, fb);
}

static uint64_t feed_text(struct filter *f, const char *text, size_t len, uint64_t first, unsigned flags,
                          const struct filter_batch *fb)
{
    struct bimpl *b = f->impl;
    size_t starts[MAX_PARTS + 1];
    int threads = len >= PAR_MIN_BYTES ? nthreads(fb->threads) : 1;
    int parts = (int)lines_split(text, len, (size_t)npieces(threads), starts);
    starts[parts] = len;
    for (int i = 0; i < parts; i++) {
        struct part *p = &b->parts[i];
        p->text = text + starts[i];
        p->tlen = starts[i + 1] - starts[i];
        p->flags = flags;
        p->in = NULL;
    }
    parts_run(b, parts, threads);
    uint64_t base = first - 1;
    for (int i = 0; i < parts; i++) {
        part_commit(b, &b->parts[i], base, fb);
        base += b->parts[i].lines;
    }
    return base - (first - 1);
}

static void bclose(struct filter *f)
{
    struct bimpl *b = f->impl;
    jfilter_free(b->jf);
    for (int i = 0; i < MAX_PARTS; i++) {
        free(b->parts[i].l);
        free(b->parts[i].ev);
    }
    free(b);
    free(f->name);
    free(f);
}

static const struct filter_ops bops = { "builtin", feed, bclose, feed_lines, feed_text };

static struct filter *open_named(const char *name, const struct ini_vars *opts, int64_t now,
                                 char *err, size_t errlen)
{
    const char *mode = opts ? ini_vars_get(opts, "mode") : NULL;
    struct jfilter *jf = jfilter_new_builtin(name, mode ? mode : "normal", err, errlen);
    if (!jf) return NULL;
    struct bimpl *b = xcalloc(1, sizeof *b);
    b->jf = jf;
    b->ctx.ref = now;
    b->now = now;
    if (!jfilter_builtin_interest(jf, &b->src, &b->popts.kinds, &b->services)) {
        b->src = SRC_NONE;             /* not reached: every built-in states its interest */
        b->popts.kinds = 0;
    }
    for (int i = 0; i < MAX_PARTS; i++) b->parts[i].b = b;
    struct filter *f = xcalloc(1, sizeof *f);
    f->ops = &bops;
    f->name = xstrdup(name);
    f->impl = b;
    return f;
}

struct filter *builtin_open_postfix(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-postfix", opts, now, err, errlen);
}

struct filter *builtin_open_dovecot(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-dovecot", opts, now, err, errlen);
}

struct filter *builtin_open_sshd(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-sshd", opts, now, err, errlen);
}
