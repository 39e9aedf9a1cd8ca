/* str - see str.h. */
#include "util/str.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Substring search. glibc's memmem is scalar for short needles and was the largest single
 * cost of `summary`; this is the SIMD "first and last byte" filter (two compares per 16
 * candidate positions, full compare only where both bytes match). */
ptrdiff_t str_find(struct str hay, const char *needle, size_t nlen)
{
    if (nlen == 0) return 0;
    if (!hay.p || hay.len < nlen) return -1;
    const char *h = hay.p;
    if (nlen == 1) {
        const char *r = memchr(h, needle[0], hay.len);
        return r ? r - h : -1;
    }
    size_t last = hay.len - nlen;             /* the last possible start */
    size_t i = 0;
#ifdef __SSE2__
    const __m128i f = _mm_set1_epi8(needle[0]), l = _mm_set1_epi8(needle[nlen - 1]);
    /* candidates i..i+15 are all <= last, so both loads stay inside hay */
    for (;;) {
        if (i + 15 > last) {
            /* the rest: one last block ending at `last`, overlapping positions already
             * checked (masked off), when the haystack is long enough for one */
            if (i > last || last < 15) break;
            size_t seen = i - (last - 15);
            i = last - 15;
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + nlen - 1));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
            m &= ~((1u << seen) - 1);
            for (; m; m &= m - 1) {
                unsigned k = (unsigned)__builtin_ctz(m);
                if (memcmp(h + i + k + 1, needle + 1, nlen - 2) == 0) return (ptrdiff_t)(i + k);
            }
            return -1;
        }
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + nlen - 1));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
        for (; m; m &= m - 1) {
            unsigned k = (unsigned)__builtin_ctz(m);
            if (memcmp(h + i + k + 1, needle + 1, nlen - 2) == 0) return (ptrdiff_t)(i + k);
        }
        i += 16;
    }
#endif
    for (; i <= last; i++)
        if (h[i] == needle[0] && h[i + nlen - 1] == needle[nlen - 1] && memcmp(h + i, needle, nlen) == 0)
            return (ptrdiff_t)i;
    return -1;
}

ptrdiff_t str_rfind(struct str hay, const char *needle, size_t nlen)
{
    if (nlen == 0) return (ptrdiff_t)hay.len;
    if (!hay.p || hay.len < nlen) return -1;
    /* anchor the search on the needle's first non-space byte: spaces are frequent in log
     * text (" said: ", " connect to "), and each false candidate costs a memrchr call */
    size_t k = 0;
    while (k + 1 < nlen && needle[k] == ' ') k++;
    size_t end = hay.len - nlen + 1;          /* candidates start in [0, end) */
    while (end > 0) {
        const char *c = memrchr(hay.p + k, needle[k], end);   /* anchor of a candidate i: i + k */
        if (!c) return -1;
        size_t i = (size_t)(c - hay.p) - k;
        if (hay.p[i + nlen - 1] == needle[nlen - 1] && memcmp(hay.p + i, needle, nlen) == 0) return (ptrdiff_t)i;
        end = i;
    }
    return -1;
}

ptrdiff_t str_chr(struct str s, char c)
{
    if (!s.len) return -1;
    const char *r = memchr(s.p, c, s.len);
    return r ? r - s.p : -1;
}

ptrdiff_t str_rchr(struct str s, char c)
{
    if (!s.len) return -1;
    const char *r = memrchr(s.p, c, s.len);
    return r ? r - s.p : -1;
}

struct str str_trim(struct str s)
{
    while (s.len && isspace((unsigned char)s.p[0])) { s.p++; s.len--; }
    while (s.len && isspace((unsigned char)s.p[s.len - 1])) s.len--;
    return s;
}

bool str_eqi(struct str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && strncasecmp(a.p, lit, n) == 0;
}

size_t str_dec(char *buf, uint64_t v, bool neg)
{
    size_t i = STR_DEC_MAX;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg) buf[--i] = '-';
    return STR_DEC_MAX - i;
}

bool str_to_u64(struct str s, uint64_t *out)
{
    uint64_t v;
    return s.len > 0 && str_lead_u64(s, &v) == s.len && (*out = v, true);
}

size_t str_lead_u64(struct str s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < s.len && i < 18 && s.p[i] >= '0' && s.p[i] <= '9')
        v = v * 10 + (uint64_t)(s.p[i++] - '0');
    if (i < s.len && i == 18 && s.p[i] >= '0' && s.p[i] <= '9') return 0; /* too long */
    *out = v;
    return i;
}

char *str_dup(struct str s) { return xstrndup(s.p ? s.p : "", s.len); }

char *str_copy(char *buf, size_t cap, struct str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n) memcpy(buf, s.p, n);
    buf[n] = 0;
    return buf;
}

uint64_t str_hash(struct str s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}
