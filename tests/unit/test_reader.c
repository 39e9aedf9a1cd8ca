/*
 * test_reader - the log input layer: line rules on files, pipes and stdin, compressed inputs
 * (made at test time with zlib/liblzma/libzstd/libbz2 and, when installed, the real gzip/xz/
 * zstd/bzip2 binaries), truncated and corrupt streams, lines_split, rotate_expand.
 * Everything is written under a fresh /tmp/mw-reader.XXXXXX directory, removed at the end;
 * big inputs (10 MB lines) are generated here, never committed.
 */
#include "check.h"
#include "util/reader.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>
#include <lzma.h>
#include <zstd.h>
#include <bzlib.h>

#define MAXL READER_MAX_LINE

static char tmpdir[] = "/tmp/mw-reader.XXXXXX";
/* Forked children _exit() holding their parent's buffers; a global pointer keeps those
 * "still reachable" for valgrind instead of "definitely lost" in the child. */
static void *volatile child_keep;

/* ---- helpers ----------------------------------------------------------------------------- */

static char *tp(const char *name)     /* caller frees */
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); abort(); }
    if (n && fwrite(p, 1, n, f) != n) { perror(path); abort(); }
    fclose(f);
}

static char *write_tmp(const char *name, const void *p, size_t n)   /* caller frees */
{
    char *path = tp(name);
    write_file(path, p, n);
    return path;
}

/* Serialise lines as line + '\n' each: lines never contain '\n', so equal serialisations and
 * equal counts mean equal line sequences. */
struct got {
    struct buf text;
    size_t lines, cuts;
    int end;        /* 0 or -1: what reader_next returned at the end */
    char err[512];
};

static void got_init(struct got *g) { memset(g, 0, sizeof *g); g->text = BUF_INIT((size_t)1 << 30); }
static void got_free(struct got *g) { buf_free(&g->text); }

static void got_line(struct got *g, struct str l)
{
    if (l.len > MAXL) g->end = 99;  /* flagged by checks on end */
    buf_putstr(&g->text, l);
    buf_putc(&g->text, '\n');
    g->lines++;
}

static void drain(struct reader *r, struct got *g)
{
    struct str l;
    int rc;
    while ((rc = reader_next(r, &l)) == 1) got_line(g, l);
    g->end = g->end == 99 ? 99 : rc;
    g->cuts = reader_stats(r)->cut_lines;
    snprintf(g->err, sizeof g->err, "%s", reader_error(r));
}

static void split_all(const char *p, size_t n, struct got *g)
{
    size_t pos = 0;
    struct str l;
    bool cut;
    while (lines_next(p, n, &pos, &l, &cut)) {
        got_line(g, l);
        if (cut) g->cuts++;
    }
}

static int read_path(const char *path, struct got *g, enum reader_comp *comp)
{
    char err[512];
    struct reader *r = reader_open(path, err, sizeof err);
    if (!r) { fprintf(stderr, "  open %s: %s\n", path, err); return -1; }
    if (comp) *comp = reader_compression(r);
    drain(r, g);
    reader_close(r);
    return 0;
}

static int read_fd(int fd, size_t block, struct got *g, enum reader_comp *comp)
{
    char err[512];
    struct reader *r = reader_open_fd(fd, "(test)", block, err, sizeof err);
    if (!r) { fprintf(stderr, "  open fd: %s\n", err); return -1; }
    if (comp) *comp = reader_compression(r);
    drain(r, g);
    reader_close(r);
    return 0;
}

/* A child writes p[0..n) into a pipe in chunks of `chunk` bytes; returns the read end. */
static int feed_pipe(const void *p, size_t n, size_t chunk, pid_t *pid)
{
    int fds[2];
    if (pipe(fds) < 0) abort();
    *pid = fork();
    if (*pid < 0) abort();
    if (*pid == 0) {
        close(fds[0]);
        const char *c = p;
        size_t off = 0;
        while (off < n) {
            size_t k = n - off < chunk ? n - off : chunk;
            ssize_t w = write(fds[1], c + off, k);
            if (w <= 0) _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Read p[0..n) through a pipe (stream path), chunked writes. */
static void read_via_pipe(const void *p, size_t n, size_t chunk, size_t block, struct got *g,
                          enum reader_comp *comp)
{
    pid_t pid;
    int fd = feed_pipe(p, n, chunk, &pid);
    CHECK(read_fd(fd, block, g, comp) == 0);
    close(fd);
    CHECK_INT(wait_child(pid), 0);
}

static void gen_log(struct buf *b, size_t nlines, size_t seed)
{
    for (size_t i = 0; i < nlines; i++)
        buf_printf(b, "Nov 22 21:%02zu:%02zu mx postfix/smtpd[%zu]: %08zX: client=unknown[10.%zu.%zu.%zu] n=%zu\n",
                   (i / 60) % 60, i % 60, 1000 + (i * 7 + seed) % 9000, i * 2654435761u + seed,
                   i % 256, (i / 256) % 256, seed % 256, i);
}

/* ---- compression at test time ------------------------------------------------------------- */

static unsigned char *c_gzip(const void *p, size_t n, size_t *outn)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *o = xmalloc(cap);
    z.next_in = (unsigned char *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *outn = cap - z.avail_out;
    deflateEnd(&z);
    return o;
}

static unsigned char *c_xz(const void *p, size_t n, size_t *outn)
{
    size_t cap = lzma_stream_buffer_bound(n), pos = 0;
    unsigned char *o = xmalloc(cap);
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, p, n, o, &pos, cap) != LZMA_OK) abort();
    *outn = pos;
    return o;
}

static unsigned char *c_zstd(const void *p, size_t n, size_t *outn)
{
    size_t cap = ZSTD_compressBound(n);
    unsigned char *o = xmalloc(cap);
    size_t k = ZSTD_compress(o, cap, p, n, 3);
    if (ZSTD_isError(k)) abort();
    *outn = k;
    return o;
}

static unsigned char *c_bzip2(const void *p, size_t n, size_t *outn)
{
    unsigned cap = (unsigned)(n + n / 100 + 600);
    unsigned char *o = xmalloc(cap);
    if (BZ2_bzBuffToBuffCompress((char *)o, &cap, (char *)(uintptr_t)p, (unsigned)n, 9, 0, 0) != BZ_OK) abort();
    *outn = cap;
    return o;
}

typedef unsigned char *(*compress_fn)(const void *, size_t, size_t *);
static const struct { const char *name; compress_fn fn; enum reader_comp comp; } codecs[] = {
    { "gzip", c_gzip, RD_GZIP }, { "xz", c_xz, RD_XZ },
    { "zstd", c_zstd, RD_ZSTD }, { "bzip2", c_bzip2, RD_BZIP2 },
};
#define NCODECS (sizeof codecs / sizeof codecs[0])

/* ---- hostile input ------------------------------------------------------------------------ */

static void hostile(struct buf *b)
{
    static const char head[] =
        "plain\n" "crlf\r\n" "bare\rcr inside\n" "\r\n" "\n" "nul\0byte\n"
        "bad \xff\xfe utf8 \xc3\x28 \xed\xa0\x80\n" "\r\r\n" "\x1f\x8b not gzip mid-file\n";
    buf_append(b, head, sizeof head - 1);
    struct { char c; size_t n; const char *end; } longs[] = {
        { 'a', MAXL, "\n" },        /* exactly the limit: kept */
        { 'b', MAXL + 1, "\n" },    /* one over: cut */
        { 'c', MAXL, "\r\n" },      /* limit + CR: kept (CR stripped first) */
        { 'd', MAXL + 1, "\r\n" },  /* cut */
        { 'e', MAXL + 2, "\n" },    /* cut */
        { 'f', 200000, "\r\n" },    /* cut, crosses many blocks */
    };
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        for (size_t k = 0; k < longs[i].n; k++) buf_putc(b, longs[i].c);
        buf_puts(b, longs[i].end);
        buf_puts(b, "after\n");
    }
    buf_puts(b, "tail without newline\r");
}
#define HOSTILE_CUTS 4

/* ---- plain files -------------------------------------------------------------------------- */

static void t_plain_file(void)
{
    const char text[] = "Nov 22 21:30:00 mx postfix/smtpd[1]: connect\nline two\n\nlast\n";
    char *path = write_tmp("plain.log", text, sizeof text - 1);
    struct timespec ts[2] = { { 1700000000, 0 }, { 1700000000, 0 } };
    CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
    char err[256];
    struct reader *r = reader_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(reader_compression(r), RD_PLAIN);
        CHECK_STR(reader_path(r), path);
        CHECK_INT(reader_mtime(r), 1700000000);
        size_t ml = 99;
        const char *m = reader_map(r, &ml);
        CHECK(m != NULL);
        CHECK_INT(ml, sizeof text - 1);
        if (m) CHECK(memcmp(m, text, ml) == 0);
        struct str l;
        CHECK_INT(reader_next(r, &l), 1); CHECK_SLICE(l, "Nov 22 21:30:00 mx postfix/smtpd[1]: connect");
        CHECK_INT(reader_next(r, &l), 1); CHECK_SLICE(l, "line two");
        CHECK_INT(reader_next(r, &l), 1); CHECK_SLICE(l, "");
        CHECK_INT(reader_next(r, &l), 1); CHECK_SLICE(l, "last");
        CHECK_INT(reader_next(r, &l), 0);
        CHECK_INT(reader_next(r, &l), 0);
        CHECK_INT(reader_stats(r)->lines, 4);
        CHECK_INT(reader_stats(r)->bytes, sizeof text - 1);
        CHECK_INT(reader_stats(r)->cut_lines, 0);
        CHECK_STR(reader_error(r), "");
        reader_close(r);
    }
    free(path);
}

/* One check per line rule, on the map path and the stream path. */
static void check_rules(const char *name, const char *data, size_t n, const char *expect, size_t nlines)
{
    char *path = write_tmp(name, data, n);
    struct got a, b;
    got_init(&a); got_init(&b);
    CHECK(read_path(path, &a, NULL) == 0);
    int fd = open(path, O_RDONLY);
    CHECK(read_fd(fd, 7, &b, NULL) == 0);
    close(fd);
    CHECK_SLICE(buf_str(&a.text), expect);
    CHECK_INT(a.lines, nlines);
    CHECK_INT(a.end, 0);
    CHECK(str_eq(buf_str(&a.text), buf_str(&b.text)));
    CHECK_INT(b.lines, nlines);
    CHECK_INT(b.end, 0);
    got_free(&a); got_free(&b);
    free(path);
}

static void t_crlf(void)
{
    check_rules("crlf.log", "one\r\ntwo\r\n\r\nthree\rx\r\n", 20, "one\ntwo\n\nthree\rx\n", 4);
}

static void t_nul_bytes(void)
{
    static const char in[] = "a\0b\n\0\n\0\0\0";
    static const char out[] = "a\0b\n\0\n\0\0\0\n";
    char *path = write_tmp("nul.log", in, sizeof in - 1);
    struct got g;
    got_init(&g);
    CHECK(read_path(path, &g, NULL) == 0);
    CHECK_INT(g.lines, 3);
    CHECK_INT(g.text.len, sizeof out - 1);
    CHECK(g.text.len == sizeof out - 1 && memcmp(g.text.p, out, sizeof out - 1) == 0);
    got_free(&g);
    free(path);
}

static void t_invalid_utf8(void)
{
    check_rules("utf8.log", "\xff\xfe\xfd\n\xc3\x28 \xe2\x82\n\xf0\x9f\x98\x80 ok\n", 18,
                "\xff\xfe\xfd\n\xc3\x28 \xe2\x82\n\xf0\x9f\x98\x80 ok\n", 3);
}

static void t_last_line_no_newline(void)
{
    check_rules("nonl.log", "first\nsecond", 12, "first\nsecond\n", 2);
    check_rules("nonl-cr.log", "first\nsecond\r", 13, "first\nsecond\n", 2);
    check_rules("one-byte.log", "x", 1, "x\n", 1);
    check_rules("one-nl.log", "\n", 1, "\n", 1);
    check_rules("short-magic.log", "\x1f", 1, "\x1f\n", 1);
}

static void t_empty_file(void)
{
    char *path = write_tmp("empty.log", "", 0);
    char err[256];
    struct reader *r = reader_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        size_t ml = 99;
        CHECK(reader_map(r, &ml) != NULL);
        CHECK_INT(ml, 0);
        CHECK_INT(reader_compression(r), RD_PLAIN);
        struct str l;
        CHECK_INT(reader_next(r, &l), 0);
        CHECK_INT(reader_stats(r)->lines, 0);
        reader_close(r);
    }
    struct got g;
    got_init(&g);
    read_via_pipe("", 0, 1, 0, &g, NULL);
    CHECK_INT(g.lines, 0);
    CHECK_INT(g.end, 0);
    got_free(&g);
    free(path);
}

/* 10 MB in one line, then a normal line: cut to the limit, counted once, no desync. */
#define BIG (10u * 1024 * 1024)
static char *big_line_input(size_t *n)
{
    char *p = xmalloc(BIG + 64);
    memcpy(p, "start\n", 6);
    memset(p + 6, 'x', BIG);
    memcpy(p + 6 + BIG, "\nnext line\n", 11);
    *n = 6 + BIG + 11;
    return p;
}

static void check_big(const struct got *g)
{
    CHECK_INT(g->lines, 3);
    CHECK_INT(g->cuts, 1);
    CHECK_INT(g->end, 0);
    CHECK_INT(g->text.len, 6 + MAXL + 1 + 10);
    if (g->text.len == 6 + MAXL + 1 + 10) {
        CHECK(memcmp(g->text.p, "start\n", 6) == 0);
        size_t x = 0;
        while (x < MAXL && g->text.p[6 + x] == 'x') x++;
        CHECK_INT(x, MAXL);
        CHECK(memcmp(g->text.p + 6 + MAXL, "\nnext line\n", 11) == 0);
    }
}

static void t_long_line_file(void)
{
    size_t n;
    char *p = big_line_input(&n);
    char *path = write_tmp("big.log", p, n);
    struct got g;
    got_init(&g);
    CHECK(read_path(path, &g, NULL) == 0);
    check_big(&g);
    got_free(&g);
    /* stream path over the same file, default and small blocks */
    size_t blocks[] = { 0, 4096 };
    for (size_t i = 0; i < 2; i++) {
        got_init(&g);
        int fd = open(path, O_RDONLY);
        CHECK(read_fd(fd, blocks[i], &g, NULL) == 0);
        close(fd);
        check_big(&g);
        got_free(&g);
    }
    unlink(path);
    free(path);
    free(p);
}

/* Like feed_pipe() with big_line_input(), but generated in the writer: the reading process
 * never holds 10 MB, so its peak RSS shows what the reader itself needs. */
static int feed_big_pipe(pid_t *pid)
{
    int fds[2];
    if (pipe(fds) < 0) abort();
    *pid = fork();
    if (*pid < 0) abort();
    if (*pid == 0) {
        static char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        close(fds[0]);
        if (write(fds[1], "start\n", 6) != 6) _exit(1);
        for (size_t off = 0; off < BIG; off += sizeof chunk)
            for (size_t done = 0; done < sizeof chunk;) {
                ssize_t w = write(fds[1], chunk + done, sizeof chunk - done);
                if (w <= 0) _exit(1);
                done += (size_t)w;
            }
        if (write(fds[1], "\nnext line\n", 11) != 11) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

/* Heap bytes in use now (malloc'd and mmap'd chunks). Not RSS: a forked child inherits the
 * parent's freed-but-resident heap, which hides growth. Whatever the reader grew would still be
 * allocated before reader_close(). ASan's malloc reports zeros here, which makes the check
 * vacuous under ASan; the normal build and valgrind do the checking. */
static long heap_kb(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
}

/* In a forked child: stdin is a pipe fed by a grandchild writing `n` bytes of a 10 MB line
 * in 64 KiB chunks; reader_open("-") must cut it without growing memory by megabytes
 * (it needs about 1 MiB of block plus 64 KiB of line). */
static void t_long_line_stdin(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        check_failed_now = 0;
        pid_t w;
        int fd = feed_big_pipe(&w);
        dup2(fd, STDIN_FILENO);
        close(fd);
        long before = heap_kb(), grew = 0;
        char err[256];
        struct reader *r = reader_open("-", err, sizeof err);
        CHECK(r != NULL);
        if (r) {
            CHECK_STR(reader_path(r), "(stdin)");
            CHECK(reader_map(r, NULL) == NULL);
            time_t now = time(NULL);
            CHECK(reader_mtime(r) >= now - 5 && reader_mtime(r) <= now + 5);
            struct got g;
            got_init(&g);
            drain(r, &g);
            check_big(&g);
            CHECK_INT(reader_stats(r)->bytes, 6 + BIG + 11);
            grew = heap_kb() - before;
            got_free(&g);
            reader_close(r);
        }
        if (grew > 4 * 1024 || getenv("MW_TEST_VERBOSE")) fprintf(stderr, "  reader heap grew by %ld KiB\n", grew);
        CHECK(grew <= 4 * 1024);
        CHECK_INT(wait_child(w), 0);
        _exit(check_failed_now ? 1 : 0);
    }
    CHECK_INT(wait_child(pid), 0);
}

/* ---- equivalence ---------------------------------------------------------------------------- */

static void t_equivalence_hostile(void)
{
    struct buf in = BUF_INIT((size_t)1 << 28);
    hostile(&in);
    struct got ref;
    got_init(&ref);
    split_all(in.p, in.len, &ref);
    CHECK_INT(ref.cuts, HOSTILE_CUTS);
    CHECK_INT(ref.lines, 9 + 12 + 1);
    /* spot checks on the reference itself */
    CHECK(str_startswith(buf_str(&ref.text), "plain\ncrlf\nbare\rcr inside\n\n\nnul\0byte\n"));
    CHECK(str_endswith(buf_str(&ref.text), "after\ntail without newline\n"));

    char *path = write_tmp("hostile.log", in.p, in.len);
    struct got g;
    got_init(&g);
    CHECK(read_path(path, &g, NULL) == 0);
    CHECK(str_eq(buf_str(&ref.text), buf_str(&g.text)));
    CHECK_INT(g.lines, ref.lines);
    CHECK_INT(g.cuts, ref.cuts);
    CHECK_INT(g.end, 0);
    got_free(&g);

    size_t blocks[] = { 1, 6, 7, 13, 4096, MAXL - 1, MAXL, MAXL + 1, MAXL + 2, 0 };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        got_init(&g);
        int fd = open(path, O_RDONLY);
        CHECK(read_fd(fd, blocks[i], &g, NULL) == 0);
        close(fd);
        if (!str_eq(buf_str(&ref.text), buf_str(&g.text)))
            fprintf(stderr, "  block %zu differs\n", blocks[i]);
        CHECK(str_eq(buf_str(&ref.text), buf_str(&g.text)));
        CHECK_INT(g.lines, ref.lines);
        CHECK_INT(g.cuts, ref.cuts);
        got_free(&g);
    }
    size_t chunks[] = { 1000, 65537 };
    for (size_t i = 0; i < 2; i++) {
        got_init(&g);
        read_via_pipe(in.p, in.len, chunks[i], 0, &g, NULL);
        CHECK(str_eq(buf_str(&ref.text), buf_str(&g.text)));
        CHECK_INT(g.cuts, ref.cuts);
        got_free(&g);
    }
    /* and decompressed: the same lines */
    for (size_t c = 0; c < NCODECS; c++) {
        size_t zn;
        unsigned char *z = codecs[c].fn(in.p, in.len, &zn);
        char *zp = write_tmp("hostile.z", z, zn);
        enum reader_comp comp = RD_PLAIN;
        got_init(&g);
        CHECK(read_path(zp, &g, &comp) == 0);
        CHECK_INT(comp, codecs[c].comp);
        CHECK(str_eq(buf_str(&ref.text), buf_str(&g.text)));
        CHECK_INT(g.cuts, ref.cuts);
        CHECK_INT(g.end, 0);
        got_free(&g);
        got_init(&g);
        int fd = open(zp, O_RDONLY);
        CHECK(read_fd(fd, 100, &g, NULL) == 0);
        close(fd);
        CHECK(str_eq(buf_str(&ref.text), buf_str(&g.text)));
        got_free(&g);
        free(zp);
        free(z);
    }
    free(path);
    got_free(&ref);
    buf_free(&in);
}

/* ---- compressed ------------------------------------------------------------------------------ */

static void t_compressed_formats(void)
{
    struct buf text = BUF_INIT((size_t)1 << 28);
    gen_log(&text, 40000, 1);   /* ~3.5 MB: several output blocks */
    for (size_t c = 0; c < NCODECS; c++) {
        size_t zn;
        unsigned char *z = codecs[c].fn(text.p, text.len, &zn);
        /* a name that says nothing: detection is by magic */
        char *path = write_tmp("blob.log", z, zn);
        struct timespec ts[2] = { { 1600000000, 0 }, { 1600000000, 0 } };
        utimensat(AT_FDCWD, path, ts, 0);
        char err[256];
        struct reader *r = reader_open(path, err, sizeof err);
        CHECK(r != NULL);
        if (r) {
            CHECK_INT(reader_compression(r), codecs[c].comp);
            CHECK(reader_map(r, NULL) == NULL);
            CHECK_INT(reader_mtime(r), 1600000000);
            struct got g;
            got_init(&g);
            drain(r, &g);
            if (!str_eq(buf_str(&text), buf_str(&g.text)))
                fprintf(stderr, "  %s: content differs (%zu vs %zu bytes)\n", codecs[c].name,
                        g.text.len, text.len);
            CHECK(str_eq(buf_str(&text), buf_str(&g.text)));
            CHECK_INT(g.lines, 40000);
            CHECK_INT(g.end, 0);
            CHECK_INT(reader_stats(r)->bytes, text.len);
            got_free(&g);
            reader_close(r);
        }
        free(path);
        free(z);
    }
    buf_free(&text);
}

/* A: gen(seed 1), B: gen(seed 2); compressed separately and concatenated (cat a.gz b.gz). */
static void t_concatenated(void)
{
    struct buf a = BUF_INIT((size_t)1 << 26), b = BUF_INIT((size_t)1 << 26), ab = BUF_INIT((size_t)1 << 27);
    gen_log(&a, 3000, 1);
    gen_log(&b, 2000, 2);
    buf_putstr(&ab, buf_str(&a));
    buf_putstr(&ab, buf_str(&b));
    for (size_t c = 0; c < NCODECS; c++) {
        size_t an, bn;
        unsigned char *za = codecs[c].fn(a.p, a.len, &an), *zb = codecs[c].fn(b.p, b.len, &bn);
        struct buf cat = BUF_INIT((size_t)1 << 27);
        buf_append(&cat, za, an);
        buf_append(&cat, zb, bn);
        char *path = write_tmp("cat.z", cat.p, cat.len);
        struct got g;
        got_init(&g);
        enum reader_comp comp = RD_PLAIN;
        CHECK(read_path(path, &g, &comp) == 0);
        CHECK_INT(comp, codecs[c].comp);
        if (!str_eq(buf_str(&ab), buf_str(&g.text)))
            fprintf(stderr, "  %s: concatenation differs (%zu vs %zu bytes)\n", codecs[c].name,
                    g.text.len, ab.len);
        CHECK(str_eq(buf_str(&ab), buf_str(&g.text)));
        CHECK_INT(g.lines, 5000);
        CHECK_INT(g.end, 0);
        got_free(&g);
        free(path);
        buf_free(&cat);
        free(za);
        free(zb);
    }
    /* gzip with zero padding after the members (some tape/dd tools pad): ignored */
    size_t an;
    unsigned char *za = c_gzip(a.p, a.len, &an);
    struct buf pad = BUF_INIT((size_t)1 << 27);
    buf_append(&pad, za, an);
    for (int i = 0; i < 512; i++) buf_putc(&pad, 0);
    char *path = write_tmp("padded.gz", pad.p, pad.len);
    struct got g;
    got_init(&g);
    CHECK(read_path(path, &g, NULL) == 0);
    CHECK(str_eq(buf_str(&a), buf_str(&g.text)));
    CHECK_INT(g.end, 0);
    got_free(&g);
    /* gzip member followed by garbage: lines delivered, then an error */
    buf_reset(&pad);
    buf_append(&pad, za, an);
    buf_puts(&pad, "garbage");
    write_file(path, pad.p, pad.len);
    got_init(&g);
    CHECK(read_path(path, &g, NULL) == 0);
    CHECK(str_eq(buf_str(&a), buf_str(&g.text)));
    CHECK_INT(g.end, -1);
    CHECK(strstr(g.err, "padded.gz: corrupt gzip stream") != NULL);
    got_free(&g);
    free(path);
    free(za);
    buf_free(&pad);
    buf_free(&a); buf_free(&b); buf_free(&ab);
}

/* Truncated in the middle: whole lines before are delivered in order (a last partial line
 * may follow), then -1 once with "<path>: truncated <fmt> stream", then 0. */
static void t_truncated(void)
{
    struct buf text = BUF_INIT((size_t)1 << 28);
    gen_log(&text, 30000, 3);
    for (size_t c = 0; c < NCODECS; c++) {
        size_t zn;
        unsigned char *z = codecs[c].fn(text.p, text.len, &zn);
        char *path = write_tmp("mail.log.2.gz", z, zn / 2);
        char err[256];
        struct reader *r = reader_open(path, err, sizeof err);
        CHECK(r != NULL);
        if (!r) { free(path); free(z); continue; }
        struct got g;
        got_init(&g);
        drain(r, &g);
        CHECK_INT(g.end, -1);
        CHECK(g.lines > 100);
        CHECK(g.lines < 30000);
        /* every delivered line but the last equals the original; the last is a prefix */
        size_t full = 0;
        while (full < g.text.len && full < text.len) {
            const char *nl = memchr(g.text.p + full, '\n', g.text.len - full);
            if (!nl) break;
            size_t k = (size_t)(nl - g.text.p) + 1;
            if (k > text.len || memcmp(g.text.p + full, text.p + full, k - full) != 0) break;
            full = k;
        }
        if (full != g.text.len) {
            /* the last delivered line must be a prefix of the original line there */
            CHECK(g.text.len - full <= text.len - full);
            CHECK(memcmp(g.text.p + full, text.p + full, g.text.len - full - 1) == 0);
            CHECK(memchr(g.text.p + full, '\n', g.text.len - full - 1) == NULL);
        }
        char want[512];
        snprintf(want, sizeof want, "%s: truncated %s stream (unexpected end of file)", path,
                 codecs[c].name);
        CHECK_STR(reader_error(r), want);
        struct str l;
        CHECK_INT(reader_next(r, &l), 0);
        CHECK_INT(reader_next(r, &l), 0);
        got_free(&g);
        reader_close(r);
        /* cut right after the magic / inside the header */
        for (size_t cutn = 6; cutn <= 11; cutn += 5) {
            write_file(path, z, cutn);
            got_init(&g);
            CHECK(read_path(path, &g, NULL) == 0);
            CHECK_INT(g.end, -1);
            CHECK_INT(g.lines, 0);
            CHECK(strncmp(g.err, path, strlen(path)) == 0);
            got_free(&g);
        }
        free(path);
        free(z);
    }
    buf_free(&text);
}

static void t_corrupt(void)
{
    static const struct { const char *magic; size_t n; const char *want; } cases[] = {
        { "\x1f\x8b", 2, "corrupt gzip stream" },
        { "\xfd" "7zXZ\0", 6, "corrupt xz stream" },
        { "\x28\xb5\x2f\xfd", 4, "corrupt zstd stream" },
        { "BZh91", 5, "corrupt bzip2 stream" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b = BUF_INIT(1 << 20);
        buf_append(&b, cases[i].magic, cases[i].n);
        for (int k = 0; k < 200; k++) buf_puts(&b, "this is not compressed data at all\n");
        char *path = write_tmp("mail.log.3.gz", b.p, b.len);
        char err[256];
        struct reader *r = reader_open(path, err, sizeof err);
        CHECK(r != NULL);
        if (r) {
            struct str l;
            int rc;
            size_t n = 0;
            while ((rc = reader_next(r, &l)) == 1) n++;
            CHECK_INT(rc, -1);
            CHECK(n <= 1);
            char want[512];
            snprintf(want, sizeof want, "%s: %s", path, cases[i].want);
            if (strncmp(reader_error(r), want, strlen(want)) != 0)
                fprintf(stderr, "  got \"%s\"\n", reader_error(r));
            CHECK(strncmp(reader_error(r), want, strlen(want)) == 0);
            CHECK_INT(reader_next(r, &l), 0);
            reader_close(r);
        }
        free(path);
        buf_free(&b);
    }
}

static void t_stdin_compressed(void)
{
    struct buf text = BUF_INIT((size_t)1 << 26);
    gen_log(&text, 5000, 4);
    for (size_t c = 0; c < NCODECS; c++) {
        size_t zn;
        unsigned char *z = codecs[c].fn(text.p, text.len, &zn);
        child_keep = z;
        /* through a pipe, written in odd chunk sizes; magic arrives in pieces when chunk is 1 */
        size_t chunks[] = { 1, 777, 1 << 20 };
        for (size_t k = 0; k < 3; k++) {
            struct got g;
            got_init(&g);
            enum reader_comp comp = RD_PLAIN;
            read_via_pipe(z, chunks[k] == 1 ? 64 : zn, chunks[k], 0, &g, &comp);
            CHECK_INT(comp, codecs[c].comp);
            if (chunks[k] == 1) {
                CHECK_INT(g.end, -1);   /* 64 bytes: truncated, but detected byte by byte */
            } else {
                CHECK(str_eq(buf_str(&text), buf_str(&g.text)));
                CHECK_INT(g.end, 0);
            }
            got_free(&g);
        }
        /* and as stdin proper, in a child */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            check_failed_now = 0;
            pid_t w;
            int fd = feed_pipe(z, zn, 4096, &w);
            dup2(fd, STDIN_FILENO);
            close(fd);
            struct got g;
            got_init(&g);
            enum reader_comp comp = RD_PLAIN;
            CHECK(read_path("-", &g, &comp) == 0);
            CHECK_INT(comp, codecs[c].comp);
            CHECK(str_eq(buf_str(&text), buf_str(&g.text)));
            CHECK_INT(g.end, 0);
            got_free(&g);
            CHECK_INT(wait_child(w), 0);
            _exit(check_failed_now ? 1 : 0);
        }
        CHECK_INT(wait_child(pid), 0);
        child_keep = NULL;
        free(z);
    }
    buf_free(&text);
}

/* Interop with the real tools, when installed: `tool -c file > file.z`. */
static int run_to_file(const char *const argv[], const char *out)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) _exit(126);
        dup2(fd, STDOUT_FILENO);
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return wait_child(pid);
}

static void t_real_tools(void)
{
    struct buf text = BUF_INIT((size_t)1 << 26);
    gen_log(&text, 3000, 5);
    char *src = write_tmp("tools.log", text.p, text.len);
    static const struct { const char *tool; enum reader_comp comp; } tools[] = {
        { "gzip", RD_GZIP }, { "xz", RD_XZ }, { "zstd", RD_ZSTD }, { "bzip2", RD_BZIP2 },
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char *out = tp("tools.out");
        const char *argv[] = { tools[i].tool, "-c", "-q", src, NULL };
        int rc = run_to_file(argv, out);
        if (rc == 127) { free(out); continue; }
        CHECK_INT(rc, 0);
        ran++;
        struct got g;
        got_init(&g);
        enum reader_comp comp = RD_PLAIN;
        CHECK(read_path(out, &g, &comp) == 0);
        CHECK_INT(comp, tools[i].comp);
        CHECK(str_eq(buf_str(&text), buf_str(&g.text)));
        CHECK_INT(g.end, 0);
        got_free(&g);
        free(out);
    }
    CHECK(ran > 0);
    free(src);
    buf_free(&text);
}

/* ---- open errors, paths -------------------------------------------------------------------- */

static void t_open_errors(void)
{
    char err[512], want[512];
    char *missing = tp("does-not-exist.log");
    CHECK(reader_open(missing, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    CHECK_STR(err, want);
    free(missing);

    CHECK(reader_open(tmpdir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s: Is a directory", tmpdir);
    CHECK_STR(err, want);

    char *secret = write_tmp("secret.log", "x\n", 2);
    chmod(secret, 0);
    struct reader *r = reader_open(secret, err, sizeof err);
    if (geteuid() != 0) {
        CHECK(r == NULL);
        snprintf(want, sizeof want, "%s: Permission denied", secret);
        CHECK_STR(err, want);
    }
    reader_close(r);   /* root reads it anyway; NULL is fine too */
    free(secret);

    /* err may be NULL / tiny */
    CHECK(reader_open("/nonexistent/x", NULL, 0) == NULL);
    char tiny[4];
    CHECK(reader_open("/nonexistent/x", tiny, sizeof tiny) == NULL);
    CHECK_STR(tiny, "/no");
}

/* ---- lines_split ---------------------------------------------------------------------------- */

static void check_split(const char *buf, size_t len, size_t n)
{
    size_t starts[17];
    size_t k = lines_split(buf, len, n, starts);
    CHECK(k >= 1 && k <= n);
    CHECK_INT(starts[0], 0);
    CHECK_INT(starts[k], len);
    for (size_t i = 1; i <= k; i++) {
        if (i < k) CHECK(starts[i] > starts[i - 1]);
        if (i < k) CHECK(buf[starts[i] - 1] == '\n');
    }
    struct got whole, parts;
    got_init(&whole); got_init(&parts);
    split_all(buf, len, &whole);
    for (size_t i = 0; i < k; i++) split_all(buf + starts[i], starts[i + 1] - starts[i], &parts);
    CHECK(str_eq(buf_str(&whole.text), buf_str(&parts.text)));
    CHECK_INT(whole.lines, parts.lines);
    CHECK_INT(whole.cuts, parts.cuts);
    got_free(&whole); got_free(&parts);
}

static void t_lines_split(void)
{
    struct buf b = BUF_INIT((size_t)1 << 26);
    gen_log(&b, 20000, 6);
    for (size_t n = 1; n <= 16; n++) check_split(b.p, b.len, n);
    /* even shares on uniform lines: no part larger than 1/n + one line */
    size_t starts[9];
    size_t k = lines_split(b.p, b.len, 8, starts);
    CHECK_INT(k, 8);
    for (size_t i = 0; i < k; i++) CHECK(starts[i + 1] - starts[i] <= b.len / 8 + 200);

    check_split("a\nb\n", 4, 4);
    k = lines_split("a\nb\n", 4, 4, starts);
    CHECK_INT(k, 2);
    CHECK_INT(starts[1], 2);
    k = lines_split("no newline at all", 17, 4, starts);
    CHECK_INT(k, 1);
    CHECK_INT(starts[1], 17);
    k = lines_split("x\n", 2, 3, starts);   /* never an empty last part */
    CHECK_INT(k, 1);
    k = lines_split("", 0, 4, starts);
    CHECK_INT(k, 1);
    CHECK_INT(starts[0], 0);
    CHECK_INT(starts[1], 0);
    starts[0] = 77;
    CHECK_INT(lines_split("a\n", 2, 0, starts), 0);
    CHECK_INT(starts[0], 77);

    struct buf h = BUF_INIT((size_t)1 << 28);
    hostile(&h);
    for (size_t n = 1; n <= 16; n++) check_split(h.p, h.len, n);
    buf_free(&h);
    buf_free(&b);
}

/* ---- lines_iter: the block-mask splitter yields exactly what lines_next yields ---------- */

static void iter_vs_next(const char *buf, size_t len, size_t start, int *bad)
{
    struct lines_iter it;
    lines_iter_init(&it, buf, len, start);
    size_t pos = start;
    struct str a, b;
    bool ca = false, cb = false;
    for (;;) {
        bool ha = lines_next(buf, len, &pos, &a, &ca);
        bool hb = lines_iter_next(&it, &b, &cb);
        if (ha != hb) { (*bad)++; return; }
        if (!ha) break;
        if (a.p != b.p || a.len != b.len || ca != cb || pos != it.pos) { (*bad)++; return; }
    }
}

static void t_lines_iter(void)
{
    /* random buffers of 0..400 bytes from an alphabet rich in '\n' and '\r', each split
     * from every start offset; exact-size heap copies so ASan sees any over-read */
    unsigned seed = 12345;
    int bad = 0;
    for (int round = 0; round < 3000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 401;
        char *p = xmalloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 16) % 100;
            p[i] = r < 8 ? '\n' : r < 11 ? '\r' : r < 13 ? '\0' : (char)('a' + r % 26);
        }
        for (size_t st = 0; st <= len; st += 1 + (len > 100 ? 7 : 0)) iter_vs_next(p, len, st, &bad);
        free(p);
    }
    CHECK_INT(bad, 0);
    /* a line longer than READER_MAX_LINE is cut the same way */
    struct buf h = BUF_INIT((size_t)1 << 28);
    hostile(&h);
    for (size_t st = 0; st < 200; st += 13) iter_vs_next(h.p, h.len, st, &bad);
    CHECK_INT(bad, 0);
    size_t big = READER_MAX_LINE * 2 + 100;
    char *p = xmalloc(big);
    memset(p, 'x', big);
    p[10] = '\n';
    p[big - 1] = '\n';
    iter_vs_next(p, big, 0, &bad);
    iter_vs_next(p, big - 1, 3, &bad);
    CHECK_INT(bad, 0);
    free(p);
    buf_free(&h);
}

/* ---- rotate_expand ---------------------------------------------------------------------------- */

static void touch(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    write_file(p, "x\n", 2);
    free(p);
}

static void t_rotate_order(void)
{
    char *dir = tp("rot");
    CHECK(mkdir(dir, 0700) == 0);
    const char *files[] = {
        "mail.log", "mail.log.1", "mail.log.1.gz", "mail.log.2.gz", "mail.log.3.xz",
        "mail.log.4.bz2", "mail.log.10.zst", "mail.log-20261120.gz", "mail.log-20261119",
        "mail.log-20261121", "mail.log-2026112105.bz2",
        /* not members */
        "mail.log.bak", "mail.log-foo", "mail.log.1x", "mail.log.2.gz.tmp", "mail.log-20261340",
        "mail.log-2026", "mail.log.01", "mail.logx", "other.log", "xmail.log.1", "mail.log.",
        "mail.log-20261122.Z",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(dir, files[i]);
    char *sub = xasprintf("%s/mail.log.5", dir);
    CHECK(mkdir(sub, 0700) == 0);      /* a directory is not a member */
    free(sub);

    const char *want[] = {
        "mail.log-20261119", "mail.log-20261120.gz", "mail.log-20261121", "mail.log-2026112105.bz2",
        "mail.log.10.zst", "mail.log.4.bz2", "mail.log.3.xz", "mail.log.2.gz", "mail.log.1",
        "mail.log",
    };
    size_t nw = sizeof want / sizeof want[0];
    char *base = xasprintf("%s/mail.log", dir);
    char **v = NULL;
    char err[256] = "untouched";
    size_t n = rotate_expand(base, &v, err, sizeof err);
    CHECK_INT(n, nw);
    for (size_t i = 0; i < n && i < nw; i++) {
        char *w = xasprintf("%s/%s", dir, want[i]);
        CHECK_STR(v[i], w);
        free(w);
    }
    rotate_free(v, n);

    /* base gone: the members still expand */
    CHECK(unlink(base) == 0);
    n = rotate_expand(base, &v, err, sizeof err);
    CHECK_INT(n, nw - 1);
    if (n) {
        char *w = xasprintf("%s/mail.log.1", dir);
        CHECK_STR(v[n - 1], w);
        free(w);
    }
    rotate_free(v, n);

    /* nothing at all */
    char *none = xasprintf("%s/nothing.log", dir);
    v = (char **)1;
    n = rotate_expand(none, &v, err, sizeof err);
    CHECK_INT(n, 0);
    CHECK(v == NULL);
    CHECK(strncmp(err, none, strlen(none)) == 0);
    CHECK(strstr(err, "No such file") != NULL);
    free(none);
    none = xasprintf("%s/no-dir/mail.log", dir);
    n = rotate_expand(none, &v, err, sizeof err);
    CHECK_INT(n, 0);
    CHECK(strncmp(err, none, strlen(none)) == 0);
    free(none);

    n = rotate_expand("-", &v, err, sizeof err);
    CHECK_INT(n, 1);
    if (n) CHECK_STR(v[0], "-");
    rotate_free(v, n);

    /* a family read end to end through readers: oldest line first */
    char *fam = tp("fam");
    CHECK(mkdir(fam, 0700) == 0);
    const char *lines[] = { "three\n", "two\n", "one\n", "now\n" };
    const char *names[] = { "m.log.3.gz", "m.log.2.zst", "m.log.1", "m.log" };
    for (size_t i = 0; i < 4; i++) {
        char *p = xasprintf("%s/%s", fam, names[i]);
        size_t zn = strlen(lines[i]);
        unsigned char *z = i == 0 ? c_gzip(lines[i], zn, &zn) : i == 1 ? c_zstd(lines[i], zn, &zn) : NULL;
        write_file(p, z ? (const void *)z : lines[i], zn);
        free(z);
        free(p);
    }
    char *mbase = xasprintf("%s/m.log", fam);
    n = rotate_expand(mbase, &v, err, sizeof err);
    CHECK_INT(n, 4);
    struct got g;
    got_init(&g);
    for (size_t i = 0; i < n; i++) CHECK(read_path(v[i], &g, NULL) == 0);
    CHECK_SLICE(buf_str(&g.text), "three\ntwo\none\nnow\n");
    got_free(&g);
    rotate_free(v, n);
    free(mbase);
    free(fam);
    free(base);
    free(dir);
}

/* ---- main --------------------------------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    RUN(t_plain_file);
    RUN(t_crlf);
    RUN(t_nul_bytes);
    RUN(t_invalid_utf8);
    RUN(t_last_line_no_newline);
    RUN(t_empty_file);
    RUN(t_long_line_stdin);
    RUN(t_long_line_file);
    RUN(t_equivalence_hostile);
    RUN(t_compressed_formats);
    RUN(t_concatenated);
    RUN(t_truncated);
    RUN(t_corrupt);
    RUN(t_stdin_compressed);
    RUN(t_real_tools);
    RUN(t_open_errors);
    RUN(t_lines_split);
    RUN(t_lines_iter);
    RUN(t_rotate_order);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
