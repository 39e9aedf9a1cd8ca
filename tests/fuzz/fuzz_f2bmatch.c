/* fuzz_f2bmatch - fail2ban filters on hostile log lines: a single-line filter with
 * connection ids (prefregex, F-MLFID, F-NOFAIL, F-MLFFORGET), a multi-line filter with
 * <SKIPLINES>, default date templates, and a failregex taken from the input's first line.
 * Failures must carry a non-empty host; nothing may crash, hang or leak. */
#include "guard/f2b_filter.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct f2b_def *defs[2];

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/mw-fuzz-f2b.XXXXXX";
    if (!mkdtemp(dir)) abort();
    put(dir, "conn.conf",
        "[Definition]\n"
        "prefregex = ^\\s*(?:\\S+ )?<F-MLFID>\\w+\\[\\d+\\]</F-MLFID>: <F-CONTENT>.+</F-CONTENT>$\n"
        "failregex = ^<F-NOFAIL>connect from</F-NOFAIL> <HOST>$\n"
        "            ^(?:auth|login) failed(?: for <F-USER>.*?</F-USER>)? from <ADDR>(?: port \\d+)?$\n"
        "            ^user <F-ALT_USER>\\S+</F-ALT_USER> failed$\n"
        "            ^<F-MLFFORGET><F-MLFGAINED>accepted</F-MLFGAINED></F-MLFFORGET> <F-USER>\\S+</F-USER>\n"
        "            ^<F-MLFFORGET>disconnect</F-MLFFORGET>\n"
        "            ^id <F-ID>\\S+</F-ID> <SUBNET>\n"
        "ignoreregex = from 127\\.0\\.0\\.1\n");
    put(dir, "multi.conf",
        "[Definition]\n"
        "failregex = ^.*c(?P<c>\\d+) start<SKIPLINES>^.*c(?P=c) fail <HOST>$\n"
        "            ^.*single fail <IP4>\n"
        "maxlines = 5\n");
    const char *dirs[1] = { dir };
    struct f2b_load lo = { dirs, 1, NULL, NULL, 0, NULL, "file", NULL, false, false };
    char err[512];
    if (f2b_def_load(&defs[0], "conn", NULL, &lo, err, sizeof err) < 0) abort();
    if (f2b_def_load(&defs[1], "multi", NULL, &lo, err, sizeof err) < 0) abort();
    return 0;
}

static void on_fail(void *ud, const struct failure *f)
{
    if (f->host.len == 0 && f->ip.family) abort();
    if (f->attempts > 100000) abort();
}

static void run(const struct f2b_def *d, const struct filter_line *l, size_t n, int threads)
{
    struct f2b_opts o = { true, false, 1124013600, threads };
    struct f2b_engine *e = f2b_engine_new(d, &o);
    struct f2b_cbs cbs = { on_fail, NULL, NULL };
    f2b_engine_feed(e, l, n, &cbs, NULL);
    f2b_engine_feed(e, l, n, &cbs, NULL);          /* state carried across batches */
    f2b_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char *text = malloc(size + 1);
    if (size) memcpy(text, data, size);
    text[size] = 0;
    struct filter_line l[512];
    size_t n = 0;
    for (size_t p = 0; p <= size && n < 512;) {
        const char *nl = memchr(text + p, '\n', size - p);
        size_t e = nl ? (size_t)(nl - text) : size;
        l[n] = (struct filter_line){ str_make(text + p, e - p), n + 1, n % 7 == 6, 1124013000 };
        n++;
        p = e + 1;
    }
    run(defs[0], l, n, 1);
    run(defs[1], l, n, 1);
    /* the first line as a failregex over the rest */
    if (n > 1 && l[0].text.len < 300) {
        char *re = strndup(l[0].text.p, l[0].text.len);
        struct f2b_load lo = { NULL, 0, NULL, NULL, 0, NULL, "file", NULL, false, false };
        struct f2b_def *d;
        char err[512];
        if (f2b_def_load(&d, re, NULL, &lo, err, sizeof err) == 0) {
            run(d, l + 1, n - 1, 1);
            f2b_def_free(d);
        }
        free(re);
    }
    free(text);
    return 0;
}
