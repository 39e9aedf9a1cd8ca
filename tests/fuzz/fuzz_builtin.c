/* libFuzzer target: the built-in mail filters (line model + their stateful counting:
 * Dovecot sessions and per-address tallies, sshd pids) on arbitrary lines, fed line by line
 * and as a text batch. Invariants: both give the same failures; every failure has an
 * address; attempts are at least 1. */
#include "guard/filter.h"
#include "guard/ini.h"
#include "util/reader.h"
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct acc {
    uint64_t n, sum;
};

static void on_fail(void *ud, const struct failure *f)
{
    struct acc *a = ud;
    assert(f->ip.family == 4 || f->ip.family == 6);
    assert(f->attempts >= 1);
    a->n++;
    a->sum = a->sum * 31 + f->line * 7 + f->attempts + f->ip.b[15];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);   /* exact-size copy so ASan sees overreads */
    memcpy(buf, data, size);
    static const char *const names[] = { "mailwarden-postfix", "mailwarden-dovecot", "mailwarden-sshd" };
    static const char *const modes[] = { "normal", "aggressive" };
    for (size_t k = 0; k < 3; k++)
        for (size_t m = 0; m < 2; m++) {
            struct ini_vars o = { 0 };
            ini_vars_setn(&o, "mode", 4, modes[m], strlen(modes[m]));
            char err[256];
            const struct filter_builtin *bi = filter_builtin_find(names[k]);
            struct filter *f1 = bi->open(&o, 1795383000, err, sizeof err);
            struct filter *f2 = bi->open(&o, 1795383000, err, sizeof err);
            ini_vars_free(&o);
            assert(f1 && f2);
            struct acc a1 = { 0, 0 }, a2 = { 0, 0 };
            uint64_t no = 0;
            for (size_t pos = 0; pos < size;) {
                const char *nl = memchr(buf + pos, '\n', size - pos);
                size_t len = nl ? (size_t)(nl - (buf + pos)) : size - pos;
                bool cut;   /* the reader's line rules, as feed_text applies them: '\r' off, cut */
                size_t ll = line_finish(buf + pos, len, &cut);
                struct filter_line ln = { { buf + pos, ll }, ++no, false, 0 };
                if (ll && buf[pos] != '#') filter_feed(f1, &ln, on_fail, &a1);
                pos += len + (nl ? 1 : 0);
            }
            struct filter_batch fb = { on_fail, NULL, &a2, 1 };
            f2->ops->feed_text(f2, buf, size, 1, FILTER_SKIP_COMMENTS, &fb);
            assert(a1.n == a2.n && a1.sum == a2.sum);
            filter_close(f1);
            filter_close(f2);
        }
    free(buf);
    return 0;
}
