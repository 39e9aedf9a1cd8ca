/* libFuzzer target: trace's parsers (what to search, delivery replies, DSN, delays, the
 * substring finder against memmem) and the whole trace on arbitrary bytes: the first line is
 * WHAT, the rest a log. An in-memory scanner drives the consumer's hooks like the scan
 * driver does (find/skip over a "plain file", or want_line line by line as for a stream),
 * then the story is built and printed as text and JSON. Invariants: no crash, no leak, the
 * finder agrees with memmem, skip never goes backwards. */
#include "report/trace.h"
#include "util/reader.h"
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_log;
static size_t g_len;
static bool g_stream;

static int mem_scan(const struct scan_opts *so, const struct scan_consumer *c, struct scan_stats *st)
{
    memset(st, 0, sizeof *st);
    hmap_init(&st->other_progs, sizeof(uint64_t));
    if (c->file_begin) c->file_begin(c->global, 0, "fuzz", g_stream ? NULL : g_log, g_stream ? 0 : g_len);
    void *state = c->chunk_new(c->global);
    struct syslog_ctx ctx = { .ref = 1795383000 };
    size_t pos = 0;
    while (pos < g_len) {
        if (!g_stream) {
            uint64_t nx = c->skip ? c->skip(state, pos) : pos;
            assert(nx >= pos);
            if (nx >= g_len) break;
            const char *h = c->find(state, g_log + pos, g_log + g_len, pos);
            if (!h) break;
            assert(h >= g_log + pos && h < g_log + g_len);
            size_t hp = (size_t)(h - g_log);
            if (hp > pos) {
                const char *nl = memrchr(g_log + pos, '\n', hp - pos);
                if (nl) pos = (size_t)(nl - g_log) + 1;
            }
        }
        size_t at = pos;
        struct str line;
        if (!lines_next(g_log, g_len, &pos, &line, NULL)) break;
        if (c->want_line && !c->want_line(c->global, line)) continue;
        struct event ev;
        parse_line(&ctx, &so->parse, line, &ev);
        if (ev.kind == EV_UNPARSED) continue;
        c->feed_at(state, &ev, line, at);
    }
    c->merge(c->global, state);
    return 0;
}

static void helpers(const char *buf, size_t size)
{
    struct str s = { buf, size }, id, who, stage, n;
    char err[128], mb[160];
    double d[4];
    trace_classify(str_sub(s, 0, 600), &n, err, sizeof err);
    trace_reply_queued_as(s, &id);
    trace_reply_forwarded_as(s, &id);
    id = trace_remote_id(s);
    assert(!id.len || (id.p >= buf && id.p + id.len <= buf + size));
    trace_reply_core(s, &who, &stage);
    trace_dsn_class(str_sub(s, 0, 12));
    trace_dsn_meaning(str_sub(s, 0, 12), mb, sizeof mb);
    trace_delays_parse(str_sub(s, 0, 64), d);
    if (size > 2) {
        size_t nl = 1 + (unsigned char)buf[0] % 8;
        if (nl < size) {
            struct finder f;
            finder_init(&f, str_make(buf + 1, nl));
            assert(finder_find(&f, buf + 1 + nl, size - 1 - nl) == memmem(buf + 1 + nl, size - 1 - nl, buf + 1, nl));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    helpers(buf, size);
    const char *nl = memchr(buf, '\n', size);
    if (!nl || nl == buf) { free(buf); return 0; }
    char *what = strndup(buf, (size_t)(nl - buf));
    g_log = nl + 1;
    g_len = size - (size_t)(nl + 1 - buf);
    g_stream = size & 1;
    struct trace_opts o = { .what = what, .json = (size & 2) != 0, .verbose = (size & 4) != 0,
                            .since = INT64_MIN, .until = INT64_MAX, .max_messages = 50,
                            .scan_fn = mem_scan };
    char err[128];
    struct trace *t = trace_new(&o, err, sizeof err);
    if (t) {
        char *paths[1] = { "fuzz" };
        struct scan_opts so = { .paths = paths, .npaths = 1, .since = INT64_MIN, .until = INT64_MAX };
        trace_run(t, &so);
        FILE *f = fopen("/dev/null", "w");
        trace_print_text(t, f);
        trace_print_json(t, f);
        fclose(f);
        trace_free(t);
    }
    free(what);
    free(buf);
    return 0;
}
