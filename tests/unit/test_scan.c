/* Unit tests for parse/scan's plain-file driver: however a file is cut into jobs (job size,
 * thread count) and each job into reads, every line reaches the consumer exactly once, cut
 * where the reader cuts it: no line is lost, doubled or split at a job or read boundary. */
#include "check.h"
#include "parse/scan.h"
#include "util/buf.h"
#include "util/reader.h"
#include "util/xalloc.h"
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* What the consumer saw: order-free sums over the lines (jobs end in any order). */
struct seen {
    pthread_mutex_t mu;
    uint64_t lines, sum, mix;
};

static uint64_t line_hash(struct str l)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ l.len;
    for (size_t i = 0; i < l.len; i++) h = (h ^ (unsigned char)l.p[i]) * 0x100000001b3ULL;
    return h;
}

static void seen_add(struct seen *s, struct str l)
{
    uint64_t h = line_hash(l);
    s->lines++;
    s->sum += h;
    s->mix ^= h * 0x9e3779b97f4a7c15ULL + (h >> 7);
}

/* want_line sees every line the driver splits off, before any parsing */
static bool want(void *global, struct str line)
{
    struct seen *s = global;
    pthread_mutex_lock(&s->mu);
    seen_add(s, line);
    pthread_mutex_unlock(&s->mu);
    return false;
}
static void *chunk_new(void *global) { return global; }
static void feed(void *chunk, const struct event *ev, struct str line) { (void)chunk; (void)ev; (void)line; }
static void merge(void *global, void *chunk) { (void)global; (void)chunk; }

/* A deterministic mix: ordinary lines of many lengths, empty lines, CR, NUL bytes, lines
 * longer than READER_MAX_LINE (cut), one longer than the driver's read block, and a last
 * line without a newline. */
static void make_input(struct buf *b)
{
    uint32_t r = 7;
    for (int i = 0; i < 40000; i++) {
        r = r * 1103515245u + 12345u;
        unsigned kind = (r >> 16) % 100;
        size_t len;
        if (kind < 85) len = 20 + (r >> 8) % 300;
        else if (kind < 93) len = 0;
        else len = 1 + (r >> 4) % 5000;
        if (i % 1000 == 999) len = READER_MAX_LINE - 2 + (r >> 6) % 5;      /* around the cut */
        if (i % 2000 == 1333) len = READER_MAX_LINE + 1 + (r >> 3) % 100000; /* cut */
        if (i == 30000) len = 300 * 1024;                                   /* > the read block */
        for (size_t k = 0; k < len; k++) {
            char ch = (char)('a' + (k + (size_t)i) % 26);
            if (k % 97 == 5 && kind % 3 == 0) ch = '\0';
            if (k + 1 == len && kind % 5 == 0) ch = '\r';
            buf_putc(b, ch);
        }
        buf_putc(b, '\n');
    }
    buf_puts(b, "the last line has no newline");
}

/* Every job size and thread count against lines_next() over the whole input. */
static void check_all_cuts(const struct buf *in, uint64_t min_cuts)
{
    struct seen ref = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };
    uint64_t ref_cuts = 0;
    struct str line;
    bool cut;
    for (size_t pos = 0; lines_next(in->p, in->len, &pos, &line, &cut);) {
        seen_add(&ref, line);
        ref_cuts += cut;
    }
    CHECK(ref_cuts >= min_cuts);
    char path[] = "/tmp/mw-scan.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    CHECK((size_t)write(fd, in->p, in->len) == in->len);
    close(fd);
    char *paths[] = { path };
    /* 100000 and 300000 are multiples of the uniform input's line length: jobs then start
     * exactly at a line start, the case where a line could be fed by two jobs */
    size_t sizes[] = { 64u << 10, 100000, 300000, 1u << 20, 0 };
    int threads[] = { 1, 2, 3 };
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            struct seen s = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };
            struct scan_consumer c = { .chunk_new = chunk_new, .feed = feed, .merge = merge,
                                       .want_line = want, .global = &s, .chunk_bytes = sizes[z] };
            struct scan_opts o = { .paths = paths, .npaths = 1, .since = INT64_MIN, .until = INT64_MAX,
                                   .ref = 1795000000, .threads = threads[t] };
            struct scan_stats st;
            CHECK_INT(scan_run(&o, &c, &st), 0);
            if (s.lines != ref.lines || s.sum != ref.sum || s.mix != ref.mix || st.cut_lines != ref_cuts)
                fprintf(stderr, "  job size %zu, %d threads: %" PRIu64 " lines (%" PRIu64 " expected), %" PRIu64
                        " cut (%" PRIu64 ")\n", sizes[z], threads[t], s.lines, ref.lines, st.cut_lines, ref_cuts);
            CHECK_INT(s.lines, ref.lines);
            CHECK(s.sum == ref.sum && s.mix == ref.mix);
            CHECK_INT(st.lines, ref.lines);
            CHECK_INT(st.cut_lines, ref_cuts);
            scan_stats_free(&st);
        }
    unlink(path);
}

static void t_jobs_and_reads(void)
{
    struct buf in = BUF_INIT((size_t)1 << 28);
    make_input(&in);
    check_all_cuts(&in, 30);
    buf_free(&in);
}

/* lines of exactly 100 bytes: job boundaries fall on line starts */
static void t_boundary_on_line_start(void)
{
    struct buf in = BUF_INIT((size_t)1 << 28);
    for (int i = 0; i < 30000; i++) buf_printf(&in, "%-98d|\n", i);
    CHECK_INT(in.len, 3000000);
    check_all_cuts(&in, 0);
    buf_free(&in);
}

int main(void)
{
    RUN(t_jobs_and_reads);
    RUN(t_boundary_on_line_start);
    return check_done();
}
