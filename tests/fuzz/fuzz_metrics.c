/* fuzz_metrics - the metrics writer on hostile label values (program names come from log
 * lines). The input is split at NUL bytes into label values, each counted in a family capped
 * at 64 values, then written. The exposition must stay well formed whatever the values: every
 * line a comment or `name{program="..."} value`, label values holding only the escapes \\ \"
 * \n and no raw newline, the whole text valid UTF-8, at most 65 series, nothing lost. */
#include "guard/metrics.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* valid UTF-8, no raw control byte other than the line ends */
static void check_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!k || i + k > n) abort();
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xC0) != 0x80) abort();
        if (k == 1 && ((c < 0x20 && c != '\n') || c == 0x7f)) abort();
        i += k;
    }
}

static const char *check_sample(const char *p, const char *eol, double *sum)
{
    static const char name[] = "mailwarden_unparsed_lines_total{program=\"";
    if ((size_t)(eol - p) < sizeof name || memcmp(p, name, sizeof name - 1)) abort();
    p += sizeof name - 1;
    while (*p != '"') {
        if (p >= eol) abort();
        if (*p == '\\') {
            p++;
            if (*p != '\\' && *p != '"' && *p != 'n') abort();
        }
        p++;
    }
    if (p[1] != '}' || p[2] != ' ') abort();
    char *end;
    double v = strtod(p + 3, &end);
    if (end != eol || v < 1) abort();
    *sum += v;
    return eol + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mx *m = mx_new();
    struct mx_fam *f = mx_family(m, "mailwarden_unparsed_lines_total", "by program", MX_COUNTER, "program",
                                 GM_PROGRAM_CAP);
    size_t nvals = 0, start = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size || data[i] == 0) {
            mx_add(mx_get(f, (struct str){ (const char *)data + start, i - start }), 1);
            nvals++;
            start = i + 1;
        }
    if (mx_count(f) > GM_PROGRAM_CAP + 1) abort();
    struct buf o = BUF_INIT(1 << 22);
    if (mx_write(m, &o) < 0) abort();
    check_utf8((const unsigned char *)o.p, o.len);
    const char *p = o.p, *end = o.p + o.len;
    double sum = 0;
    size_t series = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) abort();
        if (*p == '#') { p = eol + 1; continue; }
        p = check_sample(p, eol, &sum);
        series++;
    }
    if (series != mx_count(f) || sum != (double)nvals) abort();
    buf_free(&o);
    mx_free(m);
    return 0;
}
