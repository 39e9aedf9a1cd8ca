/* jfollow - see jfollow.h. */
#include <systemd/sd-journal.h>
#include "guard/jfollow.h"
#include "parse/journal.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* After a burst this large (the read-back at start, a flood), the journal is reopened at the
 * cursor: sd-journal keeps the file windows it mapped, which would stay in the daemon's RSS. */
#define JF_REOPEN_AFTER 1000

struct jreader {
    char *path;                 /* NULL: the system journal (owned) */
    char **jmatch;              /* borrowed from the first jail's conf (outlives the set) */
    char *key;                  /* database key (owned) */
    int *jails;
    size_t njails;
    int64_t back;               /* largest findtime of the jails */
    struct jsource *src;        /* NULL until opened */
    int fd;
    char *cursor;               /* of the last delivered entry (owned), NULL: none yet */
    bool dirty;                 /* cursor changed since the last save */
    bool warned;
    bool quiet;                 /* a reopen after a burst: no log line */
    char *saved;                /* cursor from the database, until the journal opens */
    int64_t reopen_at;          /* files came or went: enumerate them again then (0: no) */
};

struct jfollow {
    jfollow_line_fn cb;
    void *ud;
    struct jreader **r;
    size_t n;
    int ep;
    uint64_t entries;
    bool started;
};

struct jfollow *jfollow_new(jfollow_line_fn cb, void *ud)
{
    struct jfollow *jf = xcalloc(1, sizeof *jf);
    jf->cb = cb;
    jf->ud = ud;
    jf->ep = -1;
    return jf;
}

static void reader_free(struct jreader *r)
{
    journal_close(r->src);
    free(r->path);
    free(r->key);
    free(r->jails);
    free(r->cursor);
    free(r->saved);
    free(r);
}

void jfollow_free(struct jfollow *jf)
{
    if (!jf) return;
    for (size_t i = 0; i < jf->n; i++) reader_free(jf->r[i]);
    free(jf->r);
    if (jf->ep >= 0) close(jf->ep);
    free(jf);
}

char *jfollow_key(const char *path, char *const *jmatch)
{
    struct buf b = BUF_INIT(1 << 20);
    buf_puts(&b, "journal:");
    buf_puts(&b, path ? path : "system");
    buf_putc(&b, '|');
    for (size_t i = 0; jmatch && jmatch[i]; i++) {
        if (i) buf_putc(&b, ' ');
        buf_puts(&b, jmatch[i]);
    }
    char *k = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return k;
}

void jfollow_add_jail(struct jfollow *jf, int jail, const struct jail_conf *jc)
{
    char *key = jfollow_key(jc->journal_path, jc->jmatch);
    struct jreader *r = NULL;
    for (size_t i = 0; i < jf->n; i++)
        if (!strcmp(jf->r[i]->key, key)) r = jf->r[i];
    if (r) {
        free(key);
    } else {
        r = xcalloc(1, sizeof *r);
        r->path = jc->journal_path ? xstrdup(jc->journal_path) : NULL;
        r->jmatch = jc->jmatch;
        r->key = key;
        r->fd = -1;
        jf->r = xrealloc(jf->r, (jf->n + 1) * sizeof *jf->r);
        jf->r[jf->n++] = r;
    }
    r->jails = xrealloc(r->jails, (r->njails + 1) * sizeof *r->jails);
    r->jails[r->njails++] = jail;
    if (jc->findtime > r->back) r->back = jc->findtime;
}

static const char *rname(const struct jreader *r) { return r->path ? r->path : "system journal"; }

/* Open and position one reader; false (warned once) when the journal cannot be opened yet. */
static bool reader_open(struct jfollow *jf, struct jreader *r, int64_t now)
{
    char err[512];
    struct jsource *s = journal_open(r->path, (const char *const *)r->jmatch, INT64_MIN, err, sizeof err);
    if (!s) {
        if (!r->warned) msg_warn("journal: %s (retrying)", err);
        r->warned = true;
        return false;
    }
    /* the fd first: changes are tracked from here on */
    int fd = journal_fd(s, err, sizeof err);
    if (fd < 0) msg_warn("%s: %s (polled every second instead)", rname(r), err);
    uint64_t from = now > r->back ? (uint64_t)(now - r->back) * 1000000u : 0;
    if (r->saved) {
        int k = journal_resume(s, r->saved);
        if (k == 1) {
            if (!r->quiet) msg_info("journal %s: resuming after the saved cursor", rname(r));
            from = 0;
        } else {
            uint64_t t = journal_cursor_usec(r->saved);
            if (t + 1 > from) from = t + 1;
            msg_warn("journal %s: the saved cursor is no longer in the journal (rotated or vacuumed):"
                     " reading from %lld.%06lld", rname(r), (long long)(from / 1000000u), (long long)(from % 1000000u));
        }
        r->cursor = r->saved;
        r->saved = NULL;
    }
    if (from && journal_seek_usec(s, from) < 0) msg_warn("journal %s: cannot seek", rname(r));
    r->src = s;
    r->fd = fd;
    if (fd >= 0) {
        if (jf->ep < 0) jf->ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = r };
        if (jf->ep >= 0 && epoll_ctl(jf->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            msg_warn("journal %s: epoll: %s (polled every second instead)", rname(r), strerror(errno));
    }
    if (r->warned) msg_info("journal %s: opened", rname(r));
    r->warned = false;
    return true;
}

void jfollow_start(struct jfollow *jf, struct bandb *db, int64_t now)
{
    if (jf->ep < 0 && jf->n) jf->ep = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < jf->n; i++) {
        struct jreader *r = jf->r[i];
        if (db) {
            int rc;
            r->saved = bandb_cursor_get(db, r->key, &rc);
            if (rc < 0) msg_warn("journal %s: %s", rname(r), bandb_error(db));
        }
        reader_open(jf, r, now);
    }
    jf->started = true;
}

int jfollow_fd(const struct jfollow *jf) { return jf->n ? jf->ep : -1; }

/* Close and open r again at its cursor (see JF_REOPEN_AFTER). */
static void reader_reopen(struct jfollow *jf, struct jreader *r, int64_t now)
{
    journal_close(r->src);      /* closes its fd too, which leaves the epoll set */
    r->src = NULL;
    r->fd = -1;
    free(r->saved);
    r->saved = r->cursor;       /* reader_open takes it back as the cursor */
    r->cursor = NULL;
    r->quiet = true;
    reader_open(jf, r, now);
    r->quiet = false;
}

/* Deliver every new entry of r. */
static void drain(struct jfollow *jf, struct jreader *r, int64_t now)
{
    char err[512];
    struct str line;
    uint64_t n = 0;
    int k;
    while ((k = journal_next(r->src, &line, err, sizeof err)) == 1) {
        jf->cb(jf->ud, r->jails, r->njails, line);
        n++;
    }
    if (k < 0) msg_warn_rl("journal-read", 10, "%s: %s", rname(r), err);
    if (!n) return;
    jf->entries += n;
    /* at the end the current entry is still the last one read: its cursor is the position */
    char *c = journal_cursor(r->src);
    if (c) {
        free(r->cursor);
        r->cursor = c;
        r->dirty = true;
        if (n >= JF_REOPEN_AFTER) reader_reopen(jf, r, now);
    }
}

void jfollow_process(struct jfollow *jf, int64_t now)
{
    if (jf->ep < 0) return;
    struct epoll_event evs[16];
    int n = epoll_wait(jf->ep, evs, 16, 0);
    for (int i = 0; i < n; i++) {
        struct jreader *r = evs[i].data.ptr;
        int k = journal_process(r->src);
        if (k < 0) msg_warn_rl("journal-read", 10, "%s: cannot process changes", rname(r));
        /* Files were added or removed (rotation). sd-journal opens a new file when it sees it
         * appear; if its writer has not finished the header by then, the open fails and the
         * file is never looked at again. Enumerating the directory once more a tick later
         * (a reopen at the cursor, so nothing is read twice) picks such a file up. */
        if (k == SD_JOURNAL_INVALIDATE && !r->reopen_at) r->reopen_at = now + 1;
        drain(jf, r, now);
    }
}

void jfollow_tick(struct jfollow *jf, int64_t now)
{
    for (size_t i = 0; i < jf->n; i++) {
        struct jreader *r = jf->r[i];
        if (!r->src && (!jf->started || !reader_open(jf, r, now))) continue;
        if (journal_process(r->src) == SD_JOURNAL_INVALIDATE && !r->reopen_at) r->reopen_at = now + 1;
        drain(jf, r, now);
        if (r->reopen_at && now >= r->reopen_at && r->cursor) {
            r->reopen_at = 0;
            reader_reopen(jf, r, now);
            drain(jf, r, now);
        } else if (r->reopen_at && now >= r->reopen_at) {
            r->reopen_at = 0;   /* nothing read yet: no position to keep, the next open reads back as at start */
        }
    }
}

void jfollow_save(struct jfollow *jf, struct bandb *db, int64_t now, void (*before)(void *ud), void *ud)
{
    bool first = true;
    for (size_t i = 0; i < jf->n; i++) {
        struct jreader *r = jf->r[i];
        if (!r->dirty || !r->cursor || !db) continue;
        if (first && before) before(ud);
        first = false;
        if (bandb_cursor_set(db, r->key, r->cursor, now) < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(db));
        else r->dirty = false;
    }
}

size_t jfollow_count(const struct jfollow *jf) { return jf->n; }
uint64_t jfollow_entries(const struct jfollow *jf) { return jf->entries; }
