/* follow - see follow.h. */
#include "guard/follow.h"
#include "parse/syslog.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)
#define HASH_BYTES 256
#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB)

struct fstream {
    int fd;
    dev_t dev;
    ino_t ino;
    uint64_t rpos;              /* next byte to read */
    uint64_t last_size;
    uint64_t hash;              /* first line; 0 = not known yet */
    char *lb;                   /* unterminated line carried over (FOLLOW_MAX_LINE) */
    size_t llen;
    bool skipping;              /* inside a cut line: drop until '\n' */
};

struct ffile {
    struct follow *fw;
    char *path, *dir, *base;
    int wd;
    struct fstream cur, old;
    int64_t old_until;
    bool dirty, warned;
    void *user;
    uint64_t lines, cut;
};

struct follow {
    int ifd;
    struct ffile **files;
    size_t n, cap;
    follow_line_fn cb;
    void *ud;
    int grace;
    char *rbuf;
};

static void stream_init(struct fstream *s)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static void stream_close(struct fstream *s)
{
    if (s->fd >= 0) close(s->fd);
    free(s->lb);
    stream_init(s);
}

struct follow *follow_new(follow_line_fn cb, void *ud)
{
    struct follow *fw = xcalloc(1, sizeof *fw);
    fw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fw->ifd < 0) msg_warn("inotify: %s (files are looked at once a second)", strerror(errno));
    fw->cb = cb;
    fw->ud = ud;
    fw->grace = FOLLOW_DEFAULT_GRACE;
    fw->rbuf = xmalloc(RBUF_SIZE);
    return fw;
}

void follow_free(struct follow *fw)
{
    if (!fw) return;
    for (size_t i = 0; i < fw->n; i++) {
        struct ffile *f = fw->files[i];
        stream_close(&f->cur);
        stream_close(&f->old);
        free(f->path);
        free(f->dir);
        free(f->base);
        free(f);
    }
    free(fw->files);
    if (fw->ifd >= 0) close(fw->ifd);
    free(fw->rbuf);
    free(fw);
}

int follow_fd(const struct follow *fw) { return fw->ifd; }
void follow_set_grace(struct follow *fw, int seconds) { fw->grace = seconds < 0 ? 0 : seconds; }
const char *ffile_path(const struct ffile *f) { return f->path; }
void ffile_set_user(struct ffile *f, void *user) { f->user = user; }
void *ffile_user(const struct ffile *f) { return f->user; }
uint64_t ffile_lines(const struct ffile *f) { return f->lines; }
uint64_t ffile_cut_lines(const struct ffile *f) { return f->cut; }
size_t follow_count(const struct follow *fw) { return fw->n; }
struct ffile *follow_get(const struct follow *fw, size_t i) { return i < fw->n ? fw->files[i] : NULL; }

uint64_t follow_first_line_hash(int fd)
{
    char b[HASH_BYTES];
    ssize_t n = pread(fd, b, sizeof b, 0);
    if (n <= 0) return 0;
    const char *nl = memchr(b, '\n', (size_t)n);
    size_t len;
    if (nl) len = (size_t)(nl - b);
    else if ((size_t)n == sizeof b) len = sizeof b;
    else return 0;
    uint64_t h = str_hash((struct str){ b, len });
    return h ? h : 1;
}

static void deliver(struct ffile *f, const char *p, size_t len)
{
    if (len > FOLLOW_MAX_LINE) {
        len = FOLLOW_MAX_LINE;
        f->cut++;
    }
    if (len && p[len - 1] == '\r') len--;
    f->lines++;
    f->fw->cb(f->fw->ud, f, (struct str){ p, len });
}

static void carry(struct fstream *s, const char *p, size_t n)
{
    if (!s->lb) s->lb = xmalloc(FOLLOW_MAX_LINE);
    size_t room = FOLLOW_MAX_LINE - s->llen;
    if (n > room) n = room;
    memcpy(s->lb + s->llen, p, n);
    s->llen += n;
}

static void consume(struct ffile *f, struct fstream *s, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            if (s->skipping) return;
            if (s->llen + (size_t)(end - p) >= FOLLOW_MAX_LINE) {
                /* too long: deliver the first FOLLOW_MAX_LINE bytes, skip to the '\n' */
                carry(s, p, (size_t)(end - p));
                deliver(f, s->lb, s->llen);
                f->cut++;
                s->llen = 0;
                s->skipping = true;
                return;
            }
            carry(s, p, (size_t)(end - p));
            return;
        }
        if (s->skipping) {
            s->skipping = false;
        } else if (s->llen) {
            size_t before = s->llen + (size_t)(nl - p);
            carry(s, p, (size_t)(nl - p));
            if (before > FOLLOW_MAX_LINE) f->cut++;
            deliver(f, s->lb, s->llen);
            s->llen = 0;
        } else {
            deliver(f, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
}

/* Read s from rpos to its end. final: also deliver an unterminated last line. */
static void stream_read(struct ffile *f, struct fstream *s, bool final)
{
    if (s->fd < 0) return;
    for (;;) {
        ssize_t n = pread(s->fd, f->fw->rbuf, RBUF_SIZE, (off_t)s->rpos);
        if (n < 0) {
            if (errno == EINTR) continue;
            msg_warn_rl("follow-read", 10, "%s: read: %s", f->path, strerror(errno));
            break;
        }
        if (n == 0) break;
        s->rpos += (uint64_t)n;
        if (s == &f->cur) f->dirty = true;
        consume(f, s, f->fw->rbuf, (size_t)n);
    }
    if (final && s->llen && !s->skipping) {
        deliver(f, s->lb, s->llen);
        s->llen = 0;
    }
}

static int open_stream(const char *path, struct fstream *s, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    stream_init(s);
    s->fd = fd;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    return 0;
}

static void add_watch(struct ffile *f)
{
    if (f->wd >= 0 || f->fw->ifd < 0) return;
    f->wd = inotify_add_watch(f->fw->ifd, f->dir, DIR_EVENTS);
}

uint64_t follow_readback_offset(int fd, uint64_t size, int64_t cutoff, int64_t now, int64_t maxback)
{
    enum { BLK = 64 * 1024 };
    char *b = xmalloc(BLK);
    struct syslog_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.ref = now;
    uint64_t off = size, result = 0;
    for (;;) {
        if (off == 0) { result = 0; break; }
        if ((int64_t)(size - off) >= maxback) { result = off; break; }
        uint64_t start = off > BLK ? off - BLK : 0;
        ssize_t n = pread(fd, b, (size_t)(off - start), (off_t)start);
        if (n <= 0) { result = off; break; }
        /* line starts inside [start, off): after each '\n', and start itself at 0 */
        size_t first = 0;
        if (start > 0) {
            const char *nl = memchr(b, '\n', (size_t)n);
            if (!nl) { off = start; continue; }     /* one huge line: keep going */
            first = (size_t)(nl - b) + 1;
        }
        /* walk the lines of this block forward; remember the first at/after cutoff */
        size_t p = first;
        bool older_seen = false;
        int64_t found = -1;
        while (p < (size_t)n) {
            const char *nl = memchr(b + p, '\n', (size_t)n - p);
            size_t len = nl ? (size_t)(nl - (b + p)) : (size_t)n - p;
            struct syslog_hdr h;
            if (syslog_parse(&sc, (struct str){ b + p, len }, &h) == 0) {
                if (h.t < cutoff) { older_seen = true; found = -1; }
                else if (found < 0) found = (int64_t)(start + p);
            }
            if (!nl) break;
            p += len + 1;
        }
        if (older_seen) {
            result = found >= 0 ? (uint64_t)found : off;
            break;
        }
        off = start + first;
        if (start == 0) { result = 0; break; }
    }
    free(b);
    return result;
}

/* A sibling of f in its directory whose inode is ino (a rotated member), opened. */
static int open_sibling(struct ffile *f, dev_t dev, ino_t ino, struct fstream *s)
{
    DIR *d = opendir(f->dir);
    if (!d) return -1;
    struct dirent *e;
    int rc = -1;
    size_t bl = strlen(f->base);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, f->base, bl) != 0 || !e->d_name[bl]) continue;
        char *p = xasprintf("%s/%s", f->dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && st.st_ino == ino && st.st_dev == dev && open_stream(p, s, &st) == 0) {
            free(p);
            rc = 0;
            break;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

struct ffile *follow_add(struct follow *fw, const char *path, const struct logpos *saved, int64_t back, int64_t now)
{
    for (size_t i = 0; i < fw->n; i++)
        if (strcmp(fw->files[i]->path, path) == 0) return fw->files[i];
    struct ffile *f = xcalloc(1, sizeof *f);
    f->fw = fw;
    f->path = xstrdup(path);
    const char *slash = strrchr(path, '/');
    f->dir = slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path))) : xstrdup(".");
    f->base = xstrdup(slash ? slash + 1 : path);
    f->wd = -1;
    stream_init(&f->cur);
    stream_init(&f->old);
    fw->files = xgrow(fw->files, &fw->cap, fw->n + 1, sizeof *fw->files);
    fw->files[fw->n++] = f;
    add_watch(f);

    struct stat st;
    if (open_stream(path, &f->cur, &st) < 0) {
        msg_warn("%s: %s (waiting for it to appear)", path, strerror(errno));
        f->warned = true;
        return f;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t h = follow_first_line_hash(f->cur.fd);
    int64_t cutoff = back > 0 ? now - back : INT64_MAX;
    if (saved && saved->dev == st.st_dev && saved->ino == st.st_ino && saved->pos <= size &&
        (saved->hash == 0 || saved->hash == h)) {
        f->cur.rpos = saved->pos;                            /* resume */
    } else {
        if (saved && !(saved->dev == st.st_dev && saved->ino == st.st_ino) &&
            open_sibling(f, saved->dev, saved->ino, &f->old) == 0) {
            struct stat os;
            if (fstat(f->old.fd, &os) == 0 && saved->pos <= (uint64_t)os.st_size &&
                (saved->hash == 0 || follow_first_line_hash(f->old.fd) == saved->hash)) {
                f->old.rpos = saved->pos;                    /* rotated while we were away */
                f->old_until = now + fw->grace;
                f->cur.rpos = 0;
                goto positioned;
            }
            stream_close(&f->old);
        }
        f->cur.rpos = back > 0 ? follow_readback_offset(f->cur.fd, size, cutoff, now, FOLLOW_MAX_READBACK) : size;
    }
positioned:
    f->cur.hash = h;
    f->cur.last_size = size;
    f->dirty = true;
    return f;
}

static void retire_cur(struct ffile *f, int64_t now)
{
    if (f->old.fd >= 0) {
        stream_read(f, &f->old, true);
        stream_close(&f->old);
    }
    f->old = f->cur;
    stream_init(&f->cur);
    f->old_until = now + f->fw->grace;
}

static void check_file(struct ffile *f, int64_t now)
{
    add_watch(f);
    /* the rotated-away file first: its lines are the older ones */
    if (f->old.fd >= 0) {
        stream_read(f, &f->old, false);
        if (now >= f->old_until) {
            stream_read(f, &f->old, true);
            stream_close(&f->old);
        }
    }
    if (f->cur.fd >= 0) {
        struct stat st;
        if (fstat(f->cur.fd, &st) == 0) {
            uint64_t size = (uint64_t)st.st_size;
            bool trunc = size < f->cur.rpos;
            if (!trunc && size != f->cur.last_size && f->cur.hash) {
                uint64_t h = follow_first_line_hash(f->cur.fd);
                if (h && h != f->cur.hash) trunc = true;     /* truncated and regrown */
            }
            if (trunc) {
                f->cur.rpos = 0;
                f->cur.llen = 0;
                f->cur.skipping = false;
                f->cur.hash = 0;
                f->dirty = true;
            }
            stream_read(f, &f->cur, false);
            f->cur.last_size = f->cur.rpos > size ? f->cur.rpos : size;
            if (!f->cur.hash) {
                f->cur.hash = follow_first_line_hash(f->cur.fd);
                if (f->cur.hash) f->dirty = true;
            }
        }
    }
    struct stat ps;
    if (stat(f->path, &ps) == 0) {
        if (f->cur.fd >= 0 && (ps.st_dev != f->cur.dev || ps.st_ino != f->cur.ino)) {
            stream_read(f, &f->cur, false);
            retire_cur(f, now);
        }
        if (f->cur.fd < 0) {
            struct stat st;
            if (open_stream(f->path, &f->cur, &st) == 0) {
                f->warned = false;
                f->dirty = true;
                stream_read(f, &f->cur, false);
                f->cur.last_size = f->cur.rpos;
                f->cur.hash = follow_first_line_hash(f->cur.fd);
            } else if (!f->warned) {
                msg_warn("%s: %s", f->path, strerror(errno));
                f->warned = true;
            }
        }
    } else if (f->cur.fd >= 0) {
        stream_read(f, &f->cur, false);
        retire_cur(f, now);                                  /* deleted or renamed away */
    }
}

void follow_process(struct follow *fw, int64_t now)
{
    if (fw->ifd >= 0) {
        char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool overflow = false;
        /* every file is looked at below whatever the events say, so a few reads are
         * enough; more could starve the loop when something writes into a watched
         * directory without pause */
        for (int reads = 0; reads < 4; reads++) {
            ssize_t n = read(fw->ifd, buf, sizeof buf);
            if (n <= 0) break;
            for (char *p = buf; p < buf + n;) {
                struct inotify_event *ev = (struct inotify_event *)p;
                if (ev->mask & IN_Q_OVERFLOW) overflow = true;
                if (ev->mask & IN_IGNORED)
                    for (size_t i = 0; i < fw->n; i++)
                        if (fw->files[i]->wd == ev->wd) fw->files[i]->wd = -1;
                p += sizeof *ev + ev->len;
            }
        }
        (void)overflow;   /* every file is looked at below anyway */
    }
    for (size_t i = 0; i < fw->n; i++) check_file(fw->files[i], now);
}

void follow_tick(struct follow *fw, int64_t now)
{
    for (size_t i = 0; i < fw->n; i++) check_file(fw->files[i], now);
}

bool ffile_pos(struct ffile *f, struct logpos *out)
{
    memset(out, 0, sizeof *out);
    if (f->cur.fd < 0) return false;
    out->dev = f->cur.dev;
    out->ino = f->cur.ino;
    out->pos = f->cur.rpos - (f->cur.skipping ? 0 : f->cur.llen);
    out->hash = f->cur.hash;
    bool d = f->dirty;
    f->dirty = false;
    return d;
}
