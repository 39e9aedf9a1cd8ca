/* scan - see scan.h. */
#include "parse/scan.h"
#include "util/reader.h"
#include "util/arena.h"
#include "parse/journal.h"
#include "util/msg.h"
#include "util/par.h"
#include "util/xalloc.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#define CHUNK_BYTES ((4u << 20) - (128u << 10))
                                       /* plain files are read in pieces of this size: small
                                          enough to stay in cache between read and parse; with
                                          a maximal line after it, a job buffer is two 2 MiB
                                          huge pages */
#define STREAM_BATCH 262144            /* lines per chunk state when reading a stream */
#define SEARCH_BLOCK (256u << 10)      /* search mode (consumer->find): bytes per pread() */
#define READ_BLOCK (256u << 10)        /* plain jobs: bytes per pread(), parsed while in cache */

struct chunk_stats {
    uint64_t lines, unparsed, oow, cut;
    int64_t first_t, last_t;
    struct hmap progs;                 /* program -> uint64_t */
};

struct feeder {
    const struct scan_opts *o;
    const struct scan_consumer *c;
    struct syslog_ctx sctx;
};

static void cs_init(struct chunk_stats *cs)
{
    memset(cs, 0, sizeof *cs);
    hmap_init(&cs->progs, sizeof(uint64_t));
}

static inline void feed_line(struct feeder *fd, struct chunk_stats *cs, void *state, struct str line,
                             uint64_t off)
{
    const struct scan_consumer *c = fd->c;
    cs->lines++;
    if (c->want_line && !c->want_line(c->global, line)) return;
    struct event ev;
    if (c->envelope_only) {
        /* only the envelope is promised (scan.h): the rest of the event stays unwritten */
        memset(&ev.h, 0, sizeof ev.h);
        ev.src = SRC_NONE;
        ev.kind = EV_OTHER;
        ev.port = -1;
        if (syslog_parse(&fd->sctx, line, &ev.h) < 0) {
            if (line.len) cs->unparsed++;
            return;
        }
        ev.kind = EV_OTHER;
    } else {
        if (c->want_msg) {
            struct syslog_hdr h;
            if (syslog_parse_lazy(&fd->sctx, line, &h) < 0) {
                if (line.len) cs->unparsed++;
                return;
            }
            if (!c->want_msg(c->global, &h)) return;
            parse_envelope_message(&fd->sctx, &fd->o->parse, &h, &ev);
        } else {
            parse_line(&fd->sctx, &fd->o->parse, line, &ev);
        }
        if (ev.kind == EV_UNPARSED) {
            if (line.len) cs->unparsed++;
            return;
        }
        if (ev.src == SRC_OTHER) {
            uint64_t *n = hmap_put(&cs->progs, str_sub(ev.h.prog, 0, 64), NULL);
            (*n)++;
        }
        if (!ev_wanted(&fd->o->parse, ev.kind)) return;
    }
    if (ev.h.t < fd->o->since || ev.h.t > fd->o->until) {
        cs->oow++;
        return;
    }
    if (!cs->first_t || ev.h.t < cs->first_t) cs->first_t = ev.h.t;
    if (ev.h.t > cs->last_t) cs->last_t = ev.h.t;
    if (c->feed_at) c->feed_at(state, &ev, line, off);
    else c->feed(state, &ev, line);
}

static void cs_merge(struct scan_stats *st, struct chunk_stats *cs)
{
    st->lines += cs->lines;
    st->unparsed += cs->unparsed;
    st->out_of_window += cs->oow;
    st->cut_lines += cs->cut;
    if (cs->first_t && (!st->first_t || cs->first_t < st->first_t)) st->first_t = cs->first_t;
    if (cs->last_t > st->last_t) st->last_t = cs->last_t;
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&cs->progs, &it, &k, &v)) {
        uint64_t *n = hmap_put(&st->other_progs, k, NULL);
        *n += *(uint64_t *)v;
    }
    hmap_free(&cs->progs);
}

/* ---- parallel processing of a mapped buffer ---- */

struct job {
    size_t start, end;          /* lines that start in [start, end) belong to this job */
    char *buf;                  /* [start - 1, end + READER_MAX_LINE + 1) read with pread */
    size_t blen;
    void *state;
    struct chunk_stats cs;
    bool done;
};

struct progress;
static void progress_add(struct progress *pg, uint64_t n);

struct pool {
    int fd;                     /* the plain file, read with pread (no page faults, bounded RSS) */
    size_t fsize;
    struct job *jobs;
    size_t njobs, next, merged, window;
    const struct scan_opts *o;
    const struct scan_consumer *c;
    int64_t ref;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t bufsize;             /* chunk size + one maximal line */
    char *freelist[32];
    size_t freesz[32], nfree;
    /* merges: in job order, one at a time, by the thread that finds the next job done */
    bool merging;
    struct scan_stats *st;
    struct progress *pg;
};

/* A job buffer: 2 MiB aligned and backed by transparent huge pages where the kernel gives
 * them on request (madvise mode): the kernel's copy into it and the parse over it then walk
 * a few TLB entries instead of a thousand. */
#define HUGE_SZ ((size_t)2 << 20)
static char *big_alloc(size_t n)
{
    size_t sz = (n + HUGE_SZ - 1) & ~(HUGE_SZ - 1);
    void *b = NULL;
    if (posix_memalign(&b, HUGE_SZ, sz) != 0) return xmalloc(n);
#ifdef MADV_HUGEPAGE
    madvise(b, sz, MADV_HUGEPAGE);
#endif
    return b;
}

/* Job buffers are recycled: fresh 16 MiB allocations would cost a page fault per page. */
static char *buf_take(struct pool *p, size_t need)
{
    pthread_mutex_lock(&p->mu);
    char *b = NULL;
    for (size_t i = 0; i < p->nfree; i++)
        if (p->freesz[i] >= need) {
            b = p->freelist[i];
            p->freelist[i] = p->freelist[--p->nfree];
            p->freesz[i] = p->freesz[p->nfree];
            break;
        }
    pthread_mutex_unlock(&p->mu);
    return b ? b : big_alloc(need < p->bufsize ? p->bufsize : need);
}

static void buf_give(struct pool *p, char *b)
{
    if (!b) return;
    pthread_mutex_lock(&p->mu);
    if (p->nfree < sizeof p->freelist / sizeof p->freelist[0]) {
        p->freesz[p->nfree] = p->bufsize;
        p->freelist[p->nfree++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    free(b);
}

/* Read more of the job: up to READ_BLOCK bytes at j->blen. Returns false when nothing more
 * can come (the range is complete, or the file shrank under us: use what we have). */
static bool read_more(struct pool *p, struct job *j, size_t from, size_t total)
{
    size_t want = total - j->blen < READ_BLOCK ? total - j->blen : READ_BLOCK;
    if (!want) return false;
    ssize_t n;
    do {
        n = pread(p->fd, j->buf + j->blen, want, (off_t)(from + j->blen));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    j->blen += (size_t)n;
    return j->blen < total;
}

/* Search mode over buf[0..len), the file bytes from offset `base`: jump from hit to hit
 * instead of walking every line; only lines that start before `limit` (relative) are ours. */
static void search_block(struct pool *p, struct job *j, struct feeder *fd, const char *buf,
                         size_t len, uint64_t base, size_t limit)
{
    size_t pos = 0, at;
    struct str line;
    bool cut;
    while (pos < len && pos < limit) {
        const char *h = p->c->find(j->state, buf + pos, buf + len, base + pos);
        if (!h) break;
        size_t hp = (size_t)(h - buf);
        if (hp > pos) {
            const char *nl = memrchr(buf + pos, '\n', hp - pos);
            if (nl) pos = (size_t)(nl - buf) + 1;
        }
        if (pos >= limit) break;
        at = pos;
        if (!lines_next(buf, len, &pos, &line, &cut)) break;
        if (cut) j->cs.cut++;
        feed_line(fd, &j->cs, j->state, line, base + at);
    }
}

/* Search mode: read the job in SEARCH_BLOCK pieces, and not at all where consumer->skip says
 * nothing is wanted (a windowed search touches a small part of the file). Same line rules
 * as run_job: the lines that start in [start, end); a line longer than the buffer is
 * skipped and counted as cut. */
static void search_job(struct pool *p, struct job *j, struct feeder *fd)
{
    size_t cap = SEARCH_BLOCK + READER_MAX_LINE + 1, have = 0;
    uint64_t rlimit = j->end + READER_MAX_LINE + 1 < p->fsize ? j->end + READER_MAX_LINE + 1 : p->fsize;
    char *buf = buf_take(p, cap);
    uint64_t base = j->start ? j->start - 1 : 0, next = base;
    bool skipping = j->start > 0;        /* the tail of a line that started before us */
    while (base < j->end) {
        if (p->c->skip && !skipping) {
            uint64_t nx = p->c->skip(j->state, base);
            if (nx >= j->end) break;
            if (nx > next) {
                /* nothing wanted before nx: drop what we hold, resync at a line start */
                have = 0;
                base = next = nx - 1;
                skipping = true;
            }
        }
        size_t want = cap - have;
        if (want > rlimit - next) want = (size_t)(rlimit - next);
        ssize_t n = want ? pread(p->fd, buf + have, want, (off_t)next) : 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        bool last = n == 0 || next + (uint64_t)n >= rlimit;
        have += (size_t)n;
        next += (uint64_t)n;
        if (skipping) {
            const char *nl = memchr(buf, '\n', have);
            size_t drop = nl ? (size_t)(nl - buf) + 1 : have;
            memmove(buf, buf + drop, have - drop);
            have -= drop;
            base += drop;
            skipping = !nl;
            if (last && !nl) break;
            continue;
        }
        size_t usable = have;
        if (!last) {
            const char *nl = memrchr(buf, '\n', have);
            if (!nl) {
                if (have < cap) continue;
                j->cs.cut++;                /* longer than the buffer: skip the line */
                base += have;
                have = 0;
                skipping = true;
                continue;
            }
            usable = (size_t)(nl - buf) + 1;
        }
        search_block(p, j, fd, buf, usable, base, base < j->end ? (size_t)(j->end - base) : 0);
        memmove(buf, buf + usable, have - usable);
        have -= usable;
        base += usable;
        if (last) break;
    }
    buf_give(p, buf);
}

static void run_job(struct pool *p, struct job *j)
{
    struct feeder fd = { p->o, p->c, { .ref = p->ref } };
    cs_init(&j->cs);
    j->state = p->c->chunk_new(p->c->global);
    if (p->c->find) {
        search_job(p, j, &fd);
        return;
    }
    /* The job's bytes plus one before (to see whether a line starts at j->start) and enough
     * after j->end to finish its last line (a longer one is cut there anyway), read a block
     * at a time and parsed while the block is still in the CPU's cache. The buffer holds the
     * whole job: consumers may keep slices of it until the merge. */
    size_t from = j->start ? j->start - 1 : 0;
    size_t to = j->end + READER_MAX_LINE + 1;
    if (to > p->fsize) to = p->fsize;
    size_t total = to - from;
    size_t limit = j->end - from;            /* lines must start before this offset */
    j->buf = buf_take(p, total + 1);
    j->blen = 0;
    size_t pos = SIZE_MAX;                   /* the first line's start, once known */
    struct str line;
    bool cut, more = true;
    while (more) {
        more = read_more(p, j, from, total);
        if (pos == SIZE_MAX) {
            /* skip the tail of a line that started in the previous job */
            if (!j->start) pos = 0;
            else if (!j->blen) return;
            else if (j->buf[0] == '\n') pos = 1;
            else {
                const char *nl = memchr(j->buf, '\n', j->blen);
                if (nl) pos = (size_t)(nl - j->buf) + 1;
                else if (!more) pos = j->blen;
                else continue;
            }
        }
        /* the whole lines read so far (all of it at the end) */
        size_t end = j->blen;
        if (more) {
            const char *nl = pos < end ? memrchr(j->buf + pos, '\n', end - pos) : NULL;
            if (!nl) continue;
            end = (size_t)(nl - j->buf) + 1;
        }
        struct lines_iter it;
        lines_iter_init(&it, j->buf, end, pos);
        size_t at = pos;
        while (it.pos < limit && lines_iter_next(&it, &line, &cut)) {
            if (cut) j->cs.cut++;
            feed_line(&fd, &j->cs, j->state, line, from + at);
            at = it.pos;
        }
        pos = it.pos;
        if (pos >= limit) break;
    }
}

/* Merge the done jobs that are next in order, unless another thread is merging (it will
 * take them). Called and returns with p->mu held. The thread that finishes a job merges it
 * itself: a separate merging thread would compete with the workers for the cores and wake
 * up late. */
static void merge_ready(struct pool *p)
{
    while (!p->merging && p->merged < p->njobs && p->jobs[p->merged].done) {
        p->merging = true;
        struct job *j = &p->jobs[p->merged];
        pthread_mutex_unlock(&p->mu);
        p->c->merge(p->c->global, j->state);   /* line slices stay valid until here */
        cs_merge(p->st, &j->cs);
        buf_give(p, j->buf);
        j->buf = NULL;
        progress_add(p->pg, j->end - j->start);
        pthread_mutex_lock(&p->mu);
        p->merged++;
        p->merging = false;
        pthread_cond_broadcast(&p->cv);
    }
}

static void *worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->next < p->njobs && p->next >= p->merged + p->window)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->next >= p->njobs) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        struct job *j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);
        run_job(p, j);
        pthread_mutex_lock(&p->mu);
        j->done = true;
        merge_ready(p);
        pthread_mutex_unlock(&p->mu);
    }
}

struct progress {
    bool on;
    uint64_t total, done;
    time_t last;
};

static void progress_show(struct progress *pg, bool final)
{
    if (!pg->on) return;
    time_t now = time(NULL);
    if (!final && now == pg->last) return;
    pg->last = now;
    int pct = pg->total ? (int)(pg->done * 100 / pg->total) : 100;
    if (pct > 100) pct = 100;
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\r[%s] %3d%% %.1f/%.1f MB", bar, pct, pg->done / 1e6, pg->total / 1e6);
    if (final) fputs("\r\033[K", stderr);
}

static void progress_add(struct progress *pg, uint64_t n)
{
    pg->done += n;
    progress_show(pg, false);
}

/* A plain file: fixed-size byte ranges, each read with pread by a worker; a line belongs to
 * the range it starts in. `off` is where reading starts (a line start, for --last). */
static int scan_plain(const struct scan_opts *o, const struct scan_consumer *c, const char *path,
                      size_t off, size_t len, int64_t ref, int threads, struct scan_stats *st,
                      struct progress *pg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    posix_fadvise(fd, (off_t)off, (off_t)(len - off), POSIX_FADV_SEQUENTIAL);
    size_t body = len - off;
    size_t csize = c->chunk_bytes ? c->chunk_bytes : CHUNK_BYTES;
    if (body / (size_t)threads < csize) csize = body / (size_t)threads + 1;
    if (csize < (64u << 10)) csize = 64u << 10;
    size_t n = body ? (body + csize - 1) / csize : 0;
    struct pool p = { .fd = fd, .fsize = len, .o = o, .c = c, .ref = ref, .njobs = n,
                      .window = 2 * (size_t)threads, .bufsize = csize + READER_MAX_LINE + 4,
                      .st = st, .pg = pg };
    p.jobs = xcalloc(n ? n : 1, sizeof *p.jobs);
    for (size_t i = 0; i < n; i++) {
        p.jobs[i].start = off + i * csize;
        p.jobs[i].end = i + 1 == n ? len : off + (i + 1) * csize;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int nt = threads < (int)n ? threads : (int)n;
    pthread_t *tids = xcalloc((size_t)(nt > 0 ? nt : 1), sizeof *tids);
    int started = 0;
    for (int i = 0; i < nt; i++)
        if (pthread_create(&tids[i], NULL, worker, &p) == 0) started++;
    pthread_mutex_lock(&p.mu);
    if (started == 0) {
        /* no threads could be started: do the work here */
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_unlock(&p.mu);
            run_job(&p, &p.jobs[i]);
            pthread_mutex_lock(&p.mu);
            p.jobs[i].done = true;
            merge_ready(&p);
        }
    }
    while (p.merged < n) pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
    free(p.jobs);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    for (size_t i = 0; i < p.nfree; i++) free(p.freelist[i]);
    close(fd);
    return 0;
}

/* ---- streams ---- */

static int scan_stream(const struct scan_opts *o, const struct scan_consumer *c, struct reader *r,
                       int64_t ref, struct scan_stats *st)
{
    struct feeder fd = { o, c, { .ref = ref } };
    struct chunk_stats cs;
    cs_init(&cs);
    void *state = c->chunk_new(c->global);
    uint64_t n = 0, off = 0;
    struct str line;
    int rc;
    while ((rc = reader_next(r, &line)) > 0) {
        feed_line(&fd, &cs, state, line, off);
        off += line.len + 1;
        if (++n % STREAM_BATCH == 0) {
            c->merge(c->global, state);
            cs_merge(st, &cs);
            cs_init(&cs);
            state = c->chunk_new(c->global);
        }
    }
    c->merge(c->global, state);
    cs.cut = reader_stats(r)->cut_lines;
    cs_merge(st, &cs);
    if (rc < 0) {
        msg_warn("%s", reader_error(r));
        return -1;
    }
    return 0;
}

/* ---- --last N ---- */

/* Offset where the last `*need` lines of buf start; decrements *need by the lines found. */
static size_t tail_offset(const char *buf, size_t len, uint64_t *need)
{
    size_t end = len;
    if (end && buf[end - 1] == '\n') end--;     /* the final newline ends the last line */
    while (*need > 0) {
        const char *nl = end ? memrchr(buf, '\n', end) : NULL;
        (*need)--;
        if (!nl) return 0;
        end = (size_t)(nl - buf);
        if (*need == 0) return end + 1;
    }
    return end + 1;
}

struct ring {
    char **line;
    size_t *len;
    uint64_t cap, count;
};

static int scan_last_stream(const struct scan_opts *o, const struct scan_consumer *c,
                            char **paths, size_t n, struct scan_stats *st)
{
    struct ring rg = { xcalloc(o->last_lines, sizeof(char *)), xcalloc(o->last_lines, sizeof(size_t)),
                       o->last_lines, 0 };
    int ok = 0;
    int64_t ref = o->ref;
    for (size_t i = 0; i < n; i++) {
        char err[512];
        struct reader *r = reader_open(paths[i], err, sizeof err);
        if (!r) { msg_warn("%s", err); st->files_failed++; continue; }
        st->files++;
        if (!o->ref) ref = (int64_t)reader_mtime(r);
        struct str line;
        int rc;
        while ((rc = reader_next(r, &line)) > 0) {
            uint64_t slot = rg.count++ % rg.cap;
            free(rg.line[slot]);
            rg.line[slot] = xstrndup(line.p, line.len);
            rg.len[slot] = line.len;
        }
        if (rc < 0) msg_warn("%s", reader_error(r));
        st->bytes += reader_stats(r)->bytes;
        reader_close(r);
        ok = 1;
    }
    struct feeder fd = { o, c, { .ref = ref } };
    struct chunk_stats cs;
    cs_init(&cs);
    if (c->file_begin) c->file_begin(c->global, 0, n ? paths[n - 1] : "-", NULL, 0);
    void *state = c->chunk_new(c->global);
    uint64_t first = rg.count > rg.cap ? rg.count - rg.cap : 0;
    for (uint64_t k = first; k < rg.count; k++) {
        uint64_t slot = k % rg.cap;
        feed_line(&fd, &cs, state, (struct str){ rg.line[slot], rg.len[slot] }, k - first);
    }
    c->merge(c->global, state);
    cs_merge(st, &cs);
    for (uint64_t k = 0; k < rg.cap; k++) free(rg.line[k]);
    free(rg.line);
    free(rg.len);
    return ok ? 0 : -1;
}

/* The journal: entries become RFC 3339 syslog lines (parse/journal.h), fed in batches whose
 * lines live in an arena until the batch is merged. */
static int scan_journal(const struct scan_opts *o, const struct scan_consumer *c, struct scan_stats *st)
{
    char err[512];
    struct jsource *j = journal_open(o->journal_path, o->journal_matches, o->since, err, sizeof err);
    if (!j) {
        msg_warn("%s", err);
        st->files_failed++;
        return -1;
    }
    st->files++;
    struct feeder fd = { o, c, { .ref = o->ref ? o->ref : (int64_t)time(NULL) } };
    struct chunk_stats cs;
    cs_init(&cs);
    struct arena a = { 0 };
    if (c->file_begin) c->file_begin(c->global, 0, "(journal)", NULL, 0);
    void *state = c->chunk_new(c->global);
    uint64_t n = 0, off = 0;
    struct str line;
    int rc;
    while ((rc = journal_next(j, &line, err, sizeof err)) > 0) {
        struct str copy = arena_str(&a, line);
        st->bytes += line.len + 1;
        feed_line(&fd, &cs, state, copy, off);
        off += line.len + 1;
        if (++n % STREAM_BATCH == 0) {
            c->merge(c->global, state);
            cs_merge(st, &cs);
            cs_init(&cs);
            arena_free(&a);
            state = c->chunk_new(c->global);
        }
    }
    c->merge(c->global, state);
    cs_merge(st, &cs);
    arena_free(&a);
    journal_close(j);
    if (rc < 0) msg_warn("%s", err);
    return 0;
}

int scan_default_threads(void) { return par_cpus(); }

void scan_stats_free(struct scan_stats *st) { hmap_free(&st->other_progs); }

int scan_run(const struct scan_opts *o, const struct scan_consumer *c, struct scan_stats *st)
{
    memset(st, 0, sizeof *st);
    hmap_init(&st->other_progs, sizeof(uint64_t));
    int threads = o->threads > 0 ? o->threads : scan_default_threads();
    if (o->journal) return scan_journal(o, c, st);

    /* expand the inputs */
    char **paths = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < o->npaths; i++) {
        if (o->rotated && strcmp(o->paths[i], "-") != 0) {
            char **fam;
            char err[512];
            size_t k = rotate_expand(o->paths[i], &fam, err, sizeof err);
            if (k == 0) { msg_warn("%s", err); st->files_failed++; continue; }
            for (size_t j = 0; j < k; j++) {
                paths = xgrow(paths, &cap, n + 1, sizeof *paths);
                paths[n++] = fam[j];
            }
            free(fam);
        } else {
            paths = xgrow(paths, &cap, n + 1, sizeof *paths);
            paths[n++] = xstrdup(o->paths[i]);
        }
    }

    int readable = 0;
    struct reader **rs = xcalloc(n ? n : 1, sizeof *rs);
    struct progress pg = { .on = o->progress && isatty(2) };
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char err[512];
        rs[i] = reader_open(paths[i], err, sizeof err);
        if (!rs[i]) { msg_warn("%s", err); st->files_failed++; continue; }
        size_t ml;
        if (reader_map(rs[i], &ml)) total += ml;
    }
    pg.total = total;
    if (pg.on && !(total > 100u * 1000 * 1000 || n > 1)) pg.on = false;

    /* --last N: find where the last N lines start (mapped files), else use a ring */
    size_t first_file = 0, first_off = 0;
    bool ring = false;
    if (o->last_lines) {
        uint64_t need = o->last_lines;
        first_file = 0;
        for (size_t i = n; i-- > 0;) {
            if (!rs[i]) continue;
            size_t ml;
            const char *m = reader_map(rs[i], &ml);
            if (!m) { ring = true; break; }
            size_t off = tail_offset(m, ml, &need);
            if (need == 0) { first_file = i; first_off = off; break; }
        }
    }
    if (ring) {
        for (size_t i = 0; i < n; i++) if (rs[i]) reader_close(rs[i]);
        int rc = scan_last_stream(o, c, paths, n, st);
        free(rs);
        for (size_t i = 0; i < n; i++) free(paths[i]);
        free(paths);
        return rc;
    }

    for (size_t i = 0; i < n; i++) {
        struct reader *r = rs[i];
        if (!r) continue;
        if (i < first_file) { reader_close(r); continue; }
        st->files++;
        int64_t ref = o->ref ? o->ref : (int64_t)reader_mtime(r);
        size_t ml;
        const char *m = reader_map(r, &ml);
        size_t off = (i == first_file) ? first_off : 0;
        if (c->file_begin) c->file_begin(c->global, i, paths[i], m, m ? ml : 0);
        if (m && scan_plain(o, c, paths[i], off, ml, ref, threads, st, &pg) == 0) {
            st->bytes += ml - off;
            readable++;
        } else {
            if (scan_stream(o, c, r, ref, st) == 0 || reader_stats(r)->lines > 0) readable++;
            else st->files_failed++;
            st->bytes += reader_stats(r)->bytes;
        }
        reader_close(r);
    }
    progress_show(&pg, true);
    free(rs);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return readable ? 0 : -1;
}
