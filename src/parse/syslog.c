/*
 * syslog - split a log line into time, host, program, pid and message. See syslog.h for the
 * accepted formats.
 *
 * Ownership: no allocation; the slices in struct syslog_hdr borrow from the caller's line.
 * Limits: host and program at most 255 bytes, pid at most 9 digits, fractions at most 9.
 * Errors: -1 for a line without the syslog shape (or with an impossible date); the caller
 * counts it. Speed: hand-rolled digit checks and the tcache of timeparse; no sscanf, no
 * strptime, no locale.
 */
#include "parse/syslog.h"
#include <string.h>
#include <stdbool.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define FIELD_MAX 255

/* Two ASCII digits -> 0..99, or -1. */
static inline int dig2(const char *p)
{
    unsigned a = (unsigned)(unsigned char)p[0] - '0', b = (unsigned)(unsigned char)p[1] - '0';
    return a > 9 || b > 9 ? -1 : (int)(a * 10 + b);
}

static inline bool isdig(char c) { return (unsigned)(unsigned char)c - '0' <= 9; }

/* "HH:MM:SS" at p (8 bytes available). */
static inline bool hms(const char *p, int *hh, int *mm, int *ss)
{
    *hh = dig2(p);
    *mm = dig2(p + 3);
    *ss = dig2(p + 6);
    return p[2] == ':' && p[5] == ':' && *hh >= 0 && *hh <= 23 && *mm >= 0 && *mm <= 59 &&
           *ss >= 0 && *ss <= 60;
}

/* Optional ".fraction" at p[*i]: 1..9 digits -> usec (or -1 when absent); false if bad. */
static inline bool fraction(const char *p, size_t n, size_t *i, int32_t *usec)
{
    *usec = -1;
    if (*i >= n || p[*i] != '.') return true;
    size_t s = ++*i;
    int32_t v = 0;
    while (*i < n && isdig(p[*i])) {
        if (*i - s < 6) v = v * 10 + (p[*i] - '0');
        ++*i;
    }
    size_t nd = *i - s;
    if (nd == 0 || nd > 9) return false;
    for (; nd < 6; nd++) v *= 10;
    *usec = v;
    return true;
}

/* Seconds, optional fraction and the space after "Mon DD HH:MM" of the cached minute. */
static size_t stamp_cached(struct syslog_ctx *ctx, const char *p, size_t n, struct syslog_hdr *h)
{
    int ss = dig2(p + 13);
    if (p[12] != ':' || ss < 0 || ss > 60) return 0;
    size_t i = 15;
    if (!fraction(p, n, &i, &h->usec)) return 0;
    if (i >= n || p[i] != ' ') return 0;
    h->fmt = h->usec < 0 ? SYSLOG_RFC3164 : SYSLOG_PRECISE;
    h->lz_mon = 0;
    h->t = ctx->mbase + ss;
    return i + 1;
}

/* Remember a validated "Mon DD HH:MM" (the two-digit or space-padded day layout) when the
 * year rule and the zone give every second of that minute the same year and offset. */
static void stamp_remember(struct syslog_ctx *ctx, const char *p, int mon, int d, int hh, int mm)
{
    int64_t t0 = mwtime_yearless(&ctx->tc, mon, d, hh, mm, 0, ctx->ref);
    int64_t t60 = mwtime_yearless(&ctx->tc, mon, d, hh, mm, 60, ctx->ref);
    if (t60 != t0 + 60) {
        ctx->mkey[0] = 0;
        return;
    }
    memcpy(ctx->mkey, p, sizeof ctx->mkey);
    ctx->mbase = t0;
    ctx->mref = ctx->ref;
}

/* 12 bytes equal (inline: a memcmp call per line cost more than the compare) */
static inline bool same12(const char *a, const char *b)
{
    uint64_t a8, b8;
    uint32_t a4, b4;
    memcpy(&a8, a, 8);
    memcpy(&b8, b, 8);
    memcpy(&a4, a + 8, 4);
    memcpy(&b4, b + 8, 4);
    return ((a8 ^ b8) | (a4 ^ b4)) == 0;
}

/* Up to 9 ASCII digits at p[0..avail): their value in *v, their count returned (0: none).
 * Eight at a time (SWAR) when 8 bytes are readable: a pid loop of a compare and a branch
 * per digit was a fifth of the envelope's cost. */
static inline size_t digits9(const char *p, size_t avail, long *v)
{
    if (avail >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        /* a byte is a digit when its high nibble is 3 and (low nibble + 6) does not carry */
        /* per byte, no carry between bytes: the low nibble + 6 reaches 16 from 10 up */
        uint64_t nondig = (w & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL;
        nondig |= ((w & 0x0F0F0F0F0F0F0F0FULL) + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL;
        size_t nd = nondig ? (size_t)__builtin_ctzll(nondig) / 8 : 8;
        if (nd < 8) {
            if (nd == 0) { *v = 0; return 0; }
            /* the nd digits moved to the top bytes, '0's shifted in below: eight digits
             * with leading zeros, combined pairwise (x10, x100, x10000) */
            unsigned sh = 8 * (unsigned)(8 - nd);
            uint64_t d = sh ? (w << sh) | (0x3030303030303030ULL >> (64 - sh)) : w;
            d -= 0x3030303030303030ULL;
            d = (d * 10 + (d >> 8)) & 0x00FF00FF00FF00FFULL;
            d = (d * 100 + (d >> 16)) & 0x0000FFFF0000FFFFULL;
            d = (d * 10000 + (d >> 32)) & 0xFFFFFFFFULL;
            *v = (long)d;
            return nd;
        }
    }
    long x = 0;
    size_t k = 0, lim = avail < 9 ? avail : 9;
    for (unsigned dg; k < lim && (dg = (unsigned)(unsigned char)p[k] - '0') <= 9; k++) x = x * 10 + (long)dg;
    *v = x;
    return k;
}

/* "Mon DD HH:MM:SS[.frac] " -> returns offset of the host, or 0. */
static size_t stamp_3164(struct syslog_ctx *ctx, const char *p, size_t n, struct syslog_hdr *h, bool lazy)
{
    if (n < 16 || p[3] != ' ') return 0;
    if (ctx->mkey[0] && ctx->mref == ctx->ref && same12(p, ctx->mkey))
        return stamp_cached(ctx, p, n, h);
    int mon = mwtime_month(str_make(p, 3));
    if (!mon) return 0;
    int d;
    size_t i;
    if (p[4] == ' ') {                      /* "Nov  2" */
        d = isdig(p[5]) ? p[5] - '0' : -1;
        i = 6;
    } else if (p[5] == ' ') {               /* "Nov 2" */
        d = isdig(p[4]) ? p[4] - '0' : -1;
        i = 5;
    } else {                                /* "Nov 22" */
        d = dig2(p + 4);
        i = 6;
    }
    if (d < 1 || d > mwtime_mdays(2000, mon) || p[i] != ' ') return 0;
    i++;
    int hh, mm, ss;
    if (n - i < 9 || !hms(p + i, &hh, &mm, &ss)) return 0;
    i += 8;
    if (i == 15) stamp_remember(ctx, p, mon, d, hh, mm);   /* "Mon DD HH:MM:SS": SS at 13 */
    if (!fraction(p, n, &i, &h->usec)) return 0;
    if (i >= n || p[i] != ' ') return 0;
    h->fmt = h->usec < 0 ? SYSLOG_RFC3164 : SYSLOG_PRECISE;
    if (lazy) {
        h->lz_mon = (int8_t)mon; h->lz_mday = (int8_t)d; h->lz_hh = (int8_t)hh;
        h->lz_mm = (int8_t)mm; h->lz_ss = (int8_t)ss;
        h->t = 0;
    } else {
        h->lz_mon = 0;
        h->t = mwtime_yearless(&ctx->tc, mon, d, hh, mm, ss, ctx->ref);
    }
    return i + 1;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|+HHMM] " -> offset of the host, or 0. */
static size_t stamp_iso(struct syslog_ctx *ctx, const char *p, size_t n, struct syslog_hdr *h)
{
    if (n < 21 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't')) return 0;
    int yh = dig2(p), yl = dig2(p + 2), mon = dig2(p + 5), d = dig2(p + 8), hh, mm, ss;
    if (yh < 0 || yl < 0 || mon < 1 || mon > 12) return 0;
    int y = yh * 100 + yl;
    if (y < 1 || d < 1 || d > mwtime_mdays(y, mon) || !hms(p + 11, &hh, &mm, &ss)) return 0;
    size_t i = 19;
    if (!fraction(p, n, &i, &h->usec)) return 0;
    if (i >= n) return 0;
    if (p[i] == ' ') {                      /* no zone: local time */
        h->fmt = SYSLOG_ISO;
        h->t = mwtime_local(&ctx->tc, y, mon, d, hh, mm, ss);
        return i + 1;
    }
    int off = 0;
    if (p[i] == 'Z' || p[i] == 'z') {
        h->fmt = SYSLOG_RFC3339;
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        int sign = p[i] == '-' ? -1 : 1, oh, om;
        if (n - i < 6) return 0;
        oh = dig2(p + i + 1);
        if (p[i + 3] == ':') {
            if (n - i < 7) return 0;
            om = dig2(p + i + 4);
            h->fmt = SYSLOG_RFC3339;
            i += 6;
        } else {
            om = dig2(p + i + 3);
            h->fmt = SYSLOG_ISO;
            i += 5;
        }
        if (oh < 0 || oh > 23 || om < 0 || om > 59) return 0;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return 0;
    }
    if (i >= n || p[i] != ' ') return 0;
    h->t = mwtime_utc(y, mon, d, hh, mm, ss) - off;
    return i + 1;
}

/* Offset of the first c in p[i, lim), or lim. */
static inline size_t find1(const char *p, size_t i, size_t lim, char c)
{
#ifdef __SSE2__
    const __m128i vc = _mm_set1_epi8(c);
    for (; i + 16 <= lim; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), vc));
        if (m) return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < lim; i++)
        if (p[i] == c) return i;
    return lim;
}

/* Offset of the first of a, b, c in p[i, lim), or lim. */
static inline size_t find3(const char *p, size_t i, size_t lim, char a, char b, char c)
{
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c);
    for (; i + 16 <= lim; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i e = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                 _mm_cmpeq_epi8(x, vc));
        unsigned m = (unsigned)_mm_movemask_epi8(e);
        if (m) return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < lim; i++)
        if (p[i] == a || p[i] == b || p[i] == c) return i;
    return lim;
}

static int parse(struct syslog_ctx *ctx, struct str line, struct syslog_hdr *h, bool lazy)
{
    const char *p = line.p;
    size_t n = line.len, i;
    if (!p || n < 16) return -1;
    h->lz_mon = 0;
    if (ctx->mkey[0] && p[15] == ' ' && p[12] == ':' && ctx->mref == ctx->ref && same12(p, ctx->mkey)) {
        /* the commonest line: the cached minute and whole seconds (stamp_cached without a
         * fraction), checked here without the calls */
        int ss = dig2(p + 13);
        if (ss < 0 || ss > 60) return -1;
        h->usec = -1;
        h->fmt = SYSLOG_RFC3164;
        h->t = ctx->mbase + ss;
        i = 16;
    } else {
        if (isdig(p[0])) i = stamp_iso(ctx, p, n, h);
        else i = stamp_3164(ctx, p, n, h, lazy);
        if (i == 0) return -1;
    }

    /* host */
    size_t hs = i, lim = n - i > FIELD_MAX ? i + FIELD_MAX + 1 : n;
    i = find1(p, i, lim, ' ');
    if (i == lim || i == hs) return -1;
    h->host = str_make(p + hs, i - hs);
    i++;

    /* program, up to '[' or ':'; a space before it means the line has another shape */
    size_t ps = i;
    lim = n - i > FIELD_MAX ? i + FIELD_MAX + 1 : n;
    i = find3(p, i, lim, ':', '[', ' ');
    if (i == lim || i == ps || p[i] == ' ') return -1;
    h->prog = str_make(p + ps, i - ps);
    h->pid = -1;
    if (p[i] == '[') {
        long pid = 0;
        i++;
        size_t nd = digits9(p + i, n - i, &pid);
        i += nd;
        /* the ':' must lie within the program's FIELD_MAX bound too */
        if (nd == 0 || i + 1 >= lim || p[i] != ']' || p[i + 1] != ':') return -1;
        h->pid = pid;
        i++;
    }
    i++;                                    /* the ':' */
    if (i < n && p[i] == ' ') i++;
    h->msg = str_make(p + i, n - i);
    return 0;
}

int syslog_parse(struct syslog_ctx *ctx, struct str line, struct syslog_hdr *h)
{
    return parse(ctx, line, h, false);
}

int syslog_parse_lazy(struct syslog_ctx *ctx, struct str line, struct syslog_hdr *h)
{
    return parse(ctx, line, h, true);
}
