/*
 * str - borrowed byte slices. A `struct str` points into memory owned by someone else (a
 * line buffer, a mapped file); it is never NUL-terminated and never freed. Copy with
 * str_dup() to keep it beyond the owner's lifetime. All functions accept len == 0.
 */
#ifndef MW_STR_H
#define MW_STR_H
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct str {
    const char *p;
    size_t len;
};

#define STR_NULL ((struct str){ NULL, 0 })
#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })
/* printf("%.*s", STR_FMT(s)) */
#define STR_FMT(s) (int)((s).len > 0x7fffffff ? 0x7fffffff : (s).len), ((s).p ? (s).p : "")

static inline struct str str_make(const char *p, size_t len) { return (struct str){ p, len }; }
static inline struct str str_c(const char *s) { return (struct str){ s, s ? strlen(s) : 0 }; }

static inline bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
/* p[0..n) == lit[0..n): the first byte inline, since most calls (a parser trying shapes)
 * fail there and a memcmp call costs far more */
static inline bool str_mem_eq(const char *p, const char *lit, size_t n)
{
    return n == 0 || (p[0] == lit[0] && memcmp(p + 1, lit + 1, n - 1) == 0);
}
static inline bool str_eqc(struct str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && str_mem_eq(a.p, lit, n);
}
static inline bool str_startswith(struct str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len >= n && str_mem_eq(a.p, lit, n);
}
static inline bool str_endswith(struct str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len >= n && str_mem_eq(a.p + a.len - n, lit, n);
}
/* a[off..] (clamped) */
static inline struct str str_from(struct str a, size_t off)
{
    if (off > a.len) off = a.len;
    return (struct str){ a.p + off, a.len - off };
}
/* a[off..off+n) (clamped) */
static inline struct str str_sub(struct str a, size_t off, size_t n)
{
    if (off > a.len) off = a.len;
    if (n > a.len - off) n = a.len - off;
    return (struct str){ a.p + off, n };
}

/* Offset of the first/last occurrence of needle in hay, or -1. */
ptrdiff_t str_find(struct str hay, const char *needle, size_t nlen);
ptrdiff_t str_rfind(struct str hay, const char *needle, size_t nlen);
static inline ptrdiff_t str_findc(struct str hay, const char *needle) { return str_find(hay, needle, strlen(needle)); }
static inline ptrdiff_t str_rfindc(struct str hay, const char *needle) { return str_rfind(hay, needle, strlen(needle)); }
ptrdiff_t str_chr(struct str s, char c);
/* str_chr within the first `win` (<= 48) bytes: the "QID: " colon of a Postfix message, on
 * every line; three SSE2 compares instead of a memchr call when 48 bytes are there. */
static inline ptrdiff_t str_chr_head(struct str s, char c, size_t win)
{
#ifdef __SSE2__
    if (s.len >= 48) {
        const __m128i v = _mm_set1_epi8(c);
        uint64_t m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s.p), v)) |
                     (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s.p + 16)), v)) << 16 |
                     (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s.p + 32)), v)) << 32;
        m &= win >= 48 ? ~(uint64_t)0 : ((uint64_t)1 << win) - 1;
        return m ? (ptrdiff_t)__builtin_ctzll(m) : -1;
    }
#endif
    return str_chr(s.len > win ? (struct str){ s.p, win } : s, c);
}
ptrdiff_t str_rchr(struct str s, char c);
struct str str_trim(struct str s);
/* Case-insensitive (ASCII) equality. */
bool str_eqi(struct str a, const char *lit);

/* Parse an unsigned decimal number that fills all of s (no sign, no spaces). At most
 * 18 digits. Returns false on anything else. */
bool str_to_u64(struct str s, uint64_t *out);
/* Parse a leading unsigned decimal number; returns digits consumed (0 if none). */
size_t str_lead_u64(struct str s, uint64_t *out);

/* The decimal digits of v (with a leading '-' when neg), right-aligned at the end of
 * buf[STR_DEC_MAX]; returns their count (the text is buf + STR_DEC_MAX - count). For writers
 * of many numbers, where printf's format parsing costs more than the digits. */
#define STR_DEC_MAX 24
size_t str_dec(char *buf, uint64_t v, bool neg);

/* Copy into a NUL-terminated heap string (caller frees). */
char *str_dup(struct str s);
/* Copy into buf of size cap (cap >= 1), truncating; always NUL-terminates. Returns buf. */
char *str_copy(char *buf, size_t cap, struct str s);

/* 64-bit FNV-1a-style hash (fast, not cryptographic; tables that attackers can grow also
 * have caps, see hash.h). */
uint64_t str_hash(struct str s);

#endif
