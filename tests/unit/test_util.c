/* Unit tests for the util containers: slices, bounded buffers, the hash map (incl. deletion
 * with backward shift), the arena and the JSON writer's escaping of hostile text. */
#include "check.h"
#include "util/str.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/par.h"
#include "util/xalloc.h"
#include <stdlib.h>

static void t_str(void)
{
    struct str s = STR_LIT("connect from unknown[1.2.3.4]: x, y");
    CHECK(str_startswith(s, "connect"));
    CHECK(!str_startswith(STR_LIT("con"), "connect"));
    CHECK_INT(str_findc(s, "["), 20);
    CHECK_INT(str_rfindc(s, ", "), 32);
    CHECK_INT(str_rfindc(s, "nothere"), -1);
    CHECK_INT(str_rfindc(STR_LIT("aXaXa"), "a"), 4);
    CHECK_INT(str_rfindc(STR_LIT("abcabc"), "abc"), 3);
    CHECK_INT(str_findc(STR_NULL, "x"), -1);
    CHECK_SLICE(str_trim(STR_LIT("  a b \t")), "a b");
    uint64_t v;
    CHECK(str_to_u64(STR_LIT("12345"), &v) && v == 12345);
    CHECK(!str_to_u64(STR_LIT("12a"), &v));
    CHECK(!str_to_u64(STR_LIT(""), &v));
    CHECK(!str_to_u64(STR_LIT("9999999999999999999999"), &v));
    char buf[4];
    CHECK_STR(str_copy(buf, sizeof buf, STR_LIT("abcdef")), "abc");
    CHECK(str_eqi(STR_LIT("HeLLo"), "hello"));
}

/* str_find's SIMD filter (and str_rfind) against a naive search: every needle length 1..20, matches at
 * each alignment, near the end (the scalar tail), repeated first/last bytes, NULs. The
 * haystack is an exact-size heap copy, so ASan sees any read past its end. */
static ptrdiff_t naive_find(const char *h, size_t hl, const char *n, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0) return (ptrdiff_t)i;
    return -1;
}

/* str_dec: digits right-aligned at the end of the buffer */
static void t_str_dec(void)
{
    char b[STR_DEC_MAX], out[STR_DEC_MAX + 1];
    struct { uint64_t v; bool neg; const char *want; } cases[] = {
        { 0, false, "0" }, { 7, true, "-7" }, { 12345, false, "12345" },
        { UINT64_MAX, false, "18446744073709551615" }, { (uint64_t)INT64_MAX + 1, true, "-9223372036854775808" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = str_dec(b, cases[i].v, cases[i].neg);
        memcpy(out, b + STR_DEC_MAX - n, n);
        out[n] = 0;
        CHECK_STR(out, cases[i].want);
    }
}

static void t_str_find(void)
{
    unsigned seed = 12345;
    int bad = 0;
    for (int round = 0; round < 20000 && bad < 3; round++) {
        size_t hl = (size_t)(rand_r(&seed) % 90), nl = 1 + (size_t)(rand_r(&seed) % 20);
        char *h = xmalloc(hl ? hl : 1), n[20];
        const char alpha[] = "ab\0:";
        for (size_t i = 0; i < hl; i++) h[i] = alpha[rand_r(&seed) % 4];
        for (size_t i = 0; i < nl; i++) n[i] = alpha[rand_r(&seed) % 4];
        if (hl >= nl && rand_r(&seed) % 2) memcpy(h + rand_r(&seed) % (hl - nl + 1), n, nl);
        ptrdiff_t want = naive_find(h, hl, n, nl), got = str_find(str_make(h, hl), n, nl);
        if (got != want) { bad++; CHECK_INT(got, want); }
        ptrdiff_t rwant = -1;
        for (size_t i = 0; i + nl <= hl; i++) if (memcmp(h + i, n, nl) == 0) rwant = (ptrdiff_t)i;
        got = str_rfind(str_make(h, hl), n, nl);
        if (got != rwant) { bad++; CHECK_INT(got, rwant); }
        free(h);
    }
    CHECK_INT(str_findc(STR_LIT("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, status=deferred (x"), ", status=deferred ("), 37);
    CHECK_INT(str_findc(STR_LIT("ab"), "abc"), -1);
    CHECK_INT(str_find(STR_LIT("abc"), "", 0), 0);
}

static void t_buf(void)
{
    struct buf b = BUF_INIT(10);
    CHECK_INT(buf_puts(&b, "hello"), 0);
    CHECK_INT(buf_printf(&b, "%d", 12345), 0);
    CHECK_STR(buf_cstr(&b), "hello12345");
    CHECK_INT(buf_putc(&b, 'x'), -1);          /* over the maximum: refused, unchanged */
    CHECK_STR(buf_cstr(&b), "hello12345");
    CHECK_INT(buf_printf(&b, "%s", "y"), -1);
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(buf_cstr(&b), "");
    buf_free(&b);
}

static void t_hash(void)
{
    struct hmap m;
    hmap_init(&m, sizeof(int));
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        bool isnew;
        int *v = hmap_put(&m, str_c(key), &isnew);
        CHECK(isnew);
        *v = i;
    }
    CHECK_INT(hmap_count(&m), 5000);
    /* delete every third key; the rest must still be found (backward shift keeps runs intact) */
    for (int i = 0; i < 5000; i += 3) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(hmap_del(&m, str_c(key)));
        CHECK(!hmap_del(&m, str_c(key)));
    }
    int found = 0, wrong = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        int *v = hmap_get(&m, str_c(key));
        if (i % 3 == 0) { if (v) wrong++; }
        else if (!v || *v != i) wrong++;
        else found++;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(found, 5000 - 1667);
    CHECK_INT(hmap_count(&m), 5000 - 1667);
    /* binary keys with NULs, the empty key */
    int *z = hmap_put(&m, (struct str){ "a\0b", 3 }, NULL);
    *z = 7;
    CHECK(hmap_get(&m, (struct str){ "a\0c", 3 }) == NULL);
    CHECK(hmap_get(&m, (struct str){ "a\0b", 3 }) && *(int *)hmap_get(&m, (struct str){ "a\0b", 3 }) == 7);
    hmap_put(&m, STR_NULL, NULL);
    CHECK(hmap_get(&m, STR_NULL) != NULL);
    size_t it = 0, n = 0;
    while (hmap_next(&m, &it, NULL, NULL)) n++;
    CHECK_INT(n, hmap_count(&m));
    hmap_free(&m);
    CHECK_INT(hmap_count(&m), 0);
    CHECK(hmap_get(&m, STR_LIT("k1")) == NULL);
}

/* hmap_clear: the map is empty and usable again, a small table is kept, a huge one dropped,
 * and an arena map refills from the cleared arena */
static void t_hash_clear(void)
{
    struct arena ar = { 0 };
    struct hmap m;
    hmap_init_arena(&m, sizeof(long), &ar);
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(key, sizeof key, "r%d-%d", round, i);
            long *v = hmap_put(&m, str_c(key), NULL);
            CHECK_INT(*v, 0);                     /* zeroed, not the last round's value */
            *v = i;
        }
        CHECK_INT(hmap_count(&m), 3000);
        snprintf(key, sizeof key, "r%d-%d", round, 2999);
        CHECK(hmap_get(&m, str_c(key)) && *(long *)hmap_get(&m, str_c(key)) == 2999);
        size_t cap = m.cap;
        hmap_clear(&m);
        arena_clear(&ar);
        CHECK_INT(hmap_count(&m), 0);
        CHECK_INT(m.cap, cap);                    /* kept: the next round does not regrow */
        CHECK(hmap_get(&m, str_c(key)) == NULL);
        size_t it = 0;
        CHECK(!hmap_next(&m, &it, NULL, NULL));
    }
    hmap_free(&m);
    arena_free(&ar);
    /* malloc'd nodes are freed; a table over HMAP_KEEP_SLOTS slots is released */
    hmap_init(&m, sizeof(int));
    for (size_t i = 0; i < HMAP_KEEP_SLOTS; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        hmap_put(&m, str_c(key), NULL);
    }
    CHECK(m.cap > HMAP_KEEP_SLOTS);
    hmap_clear(&m);
    CHECK_INT(m.cap, 0);
    CHECK_INT(hmap_count(&m), 0);
    *(int *)hmap_put(&m, STR_LIT("again"), NULL) = 5;
    CHECK(hmap_get(&m, STR_LIT("again")) && *(int *)hmap_get(&m, STR_LIT("again")) == 5);
    hmap_free(&m);
}

/* par_for: every task runs exactly once, whatever the thread count (1: the caller alone) */
static void count_task(void *ctx, size_t i)
{
    int *hits = ctx;
    hits[i]++;
}

static void t_par(void)
{
    enum { N = 1000 };
    static int hits[N];
    int threads[] = { 1, 2, 3, 8, 64 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        memset(hits, 0, sizeof hits);
        par_for(N, count_task, hits, threads[t]);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += hits[i] != 1;
        CHECK_INT(bad, 0);
    }
    par_for(0, count_task, hits, 4);             /* nothing to do: returns */
    memset(hits, 0, sizeof hits);
    par_for(1, count_task, hits, 0);             /* 0 threads: the caller runs it */
    CHECK_INT(hits[0], 1);
    CHECK(par_cpus() >= 1 && par_cpus() <= 8);
}

static void t_arena(void)
{
    struct arena a = { 0 };
    char *p = arena_strdup(&a, STR_LIT("hello"));
    CHECK_STR(p, "hello");
    void *big = arena_alloc(&a, 200000);           /* larger than a block */
    CHECK(big != NULL && ((uintptr_t)big & 15) == 0);
    char *q = arena_strdup(&a, STR_LIT("after"));  /* still fits the current block */
    CHECK_STR(q, "after");
    CHECK_STR(p, "hello");
    arena_free(&a);
    CHECK(a.head == NULL);
}

/* What build() writes through a JSON writer, as a string (caller frees). */
static char *json_of(void (*build)(struct jw *), bool pretty)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    struct jw w;
    jw_init(&w, f, pretty);
    build(&w);
    fclose(f);
    return out;
}

static void build_basic(struct jw *w)
{
    jw_obj(w);
    jw_key(w, "s");
    jw_str(w, (struct str){ "a\"b\\c\n\x01\xff\xc3\xa9", 10 });
    jw_key(w, "n"); jw_int(w, -5);
    jw_key(w, "a"); jw_arr(w); jw_uint(w, 1); jw_bool(w, true); jw_null(w); jw_arr_end(w);
    jw_key(w, "e"); jw_obj(w); jw_obj_end(w);
    jw_obj_end(w);
}

static void t_json(void)
{
    char *out = json_of(build_basic, false);
    /* control bytes escaped, invalid UTF-8 replaced by U+FFFD, valid UTF-8 kept */
    CHECK_STR(out, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc3\xa9\",\"n\":-5,\"a\":[1,true,null],\"e\":{}}");
    free(out);
}

static void build_edges(struct jw *w)
{
    jw_arr(w);
    jw_int(w, INT64_MIN); jw_int(w, INT64_MAX); jw_int(w, 0); jw_uint(w, UINT64_MAX);
    jw_str(w, (struct str){ "plain\x7f\"x\xe2\x82", 10 });     /* DEL, quote, truncated UTF-8 at the end */
    jw_str(w, STR_LIT("\tstart and end\r"));
    jw_str(w, STR_NULL);
    jw_arr_end(w);
}

static void build_nested(struct jw *w)
{
    jw_obj(w);
    jw_key(w, "a");
    jw_obj(w);
    jw_key(w, "b");
    jw_arr(w);
    jw_int(w, 1);
    jw_arr_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
}

/* the writer's own number formatting, escapes between plain runs, and pretty indentation */
static void t_json_edges(void)
{
    char *out = json_of(build_edges, false);
    CHECK_STR(out, "[-9223372036854775808,9223372036854775807,0,18446744073709551615,"
                   "\"plain\\u007f\\\"x\xef\xbf\xbd\xef\xbf\xbd\",\"\\tstart and end\\r\",\"\"]");
    free(out);
    out = json_of(build_nested, true);
    CHECK_STR(out, "{\n  \"a\": {\n    \"b\": [\n      1\n    ]\n  }\n}");
    free(out);
}

int main(void)
{
    RUN(t_str);
    RUN(t_str_find);
    RUN(t_str_dec);
    RUN(t_buf);
    RUN(t_hash);
    RUN(t_hash_clear);
    RUN(t_par);
    RUN(t_arena);
    RUN(t_json);
    RUN(t_json_edges);
    return check_done();
}
