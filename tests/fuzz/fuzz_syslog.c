/* fuzz_syslog - syslog_parse on arbitrary lines (slices must stay inside the input, fields
 * in range), and mwtime_parse / mwtime_duration / the formatters on arbitrary text. */
#include "parse/syslog.h"
#include "util/timeparse.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool inside(struct str s, const uint8_t *d, size_t n)
{
    return s.len == 0 || ((const uint8_t *)s.p >= d && (const uint8_t *)s.p + s.len <= d + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct syslog_ctx ctx;
    static bool init;
    if (!init) {
        setenv("TZ", "CET-01CEST-02,M3.5.0,M10.5.0/3", 1);
        tzset();
        ctx.ref = 1795383000;
        init = true;
    }
    /* the line is an exact-size heap copy so that ASan sees over-reads */
    uint8_t *line = malloc(size ? size : 1);
    if (size) memcpy(line, data, size);
    struct syslog_hdr h;
    if (syslog_parse(&ctx, str_make((const char *)line, size), &h) == 0) {
        if (!inside(h.host, line, size) || !inside(h.prog, line, size) ||
            !inside(h.msg, line, size) || h.host.len == 0 || h.prog.len == 0 ||
            h.host.len > 255 || h.prog.len > 255 || h.pid < -1 || h.pid > 999999999 ||
            h.usec < -1 || h.usec > 999999 || h.fmt == SYSLOG_NONE)
            abort();
        /* the year rule: a year-less stamp lies within (ref - ~1 year, ref + 1 day] */
        if ((h.fmt == SYSLOG_RFC3164 || h.fmt == SYSLOG_PRECISE) &&
            (h.t > ctx.ref + 86400 || h.t < ctx.ref - 368 * 86400))
            abort();
        char b[64];
        mwtime_rfc3339(h.t, h.usec, b, sizeof b);
    }
    free(line);

    /* the first bytes double as a reference time for the year rule */
    if (size >= 8) {
        int64_t ref;
        memcpy(&ref, data, 8);
        struct syslog_ctx c2;
        memset(&c2, 0, sizeof c2);
        c2.ref = ref;
        (void)syslog_parse(&c2, str_make((const char *)data + 8, size - 8), &h);
    }

    char text[300];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    int64_t out, now = 1795383000;
    char err[128];
    if (mwtime_parse(text, now, &out, err, sizeof err) < 0 && err[0] == 0) abort();
    int64_t d;
    if (mwtime_duration(str_make((const char *)data, size), true, &d) == 0 && (d < -1 || d > (int64_t)1000 * 31557600))
        abort();
    char b[80];
    int64_t t;
    if (size >= 8) {
        memcpy(&t, data, 8);
        if (mwtime_ago(t, now, b, sizeof b) >= sizeof b) abort();
        if (mwtime_rfc3339(t, (int32_t)(size * 7919), b, sizeof b) >= sizeof b) abort();
        mwtime_human(t, b, sizeof b);
    }
    return 0;
}
