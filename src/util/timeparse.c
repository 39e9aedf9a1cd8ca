/*
 * timeparse - time syntax, the year rule, fast local-time conversion, time formatting.
 * See timeparse.h for the syntax and the DST behaviour.
 *
 * Ownership: nothing is allocated; callers own the cache and every output buffer.
 * Limits: epochs have at most 18 digits, durations at most 1000 years, error messages quote
 * at most 64 bytes of the input.
 * Errors: -1 and a message in the caller's buffer; nothing exits.
 */
#include "util/timeparse.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DUR_MAX ((int64_t)1000 * 31557600)

static const char expect_msg[] =
    "expected EPOCH, @EPOCH, YYYY-MM-DD[THH:MM[:SS][Z|+HH:MM]], 'Mon DD [HH:MM[:SS]]', "
    "a duration before now (30s, 30m, 2h, 1d, 2w), now, today or yesterday";

/* ---- calendar arithmetic ---------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Year of a day count since 1970-01-01 (inverse of days_from_civil, year only). */
static int64_t year_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (m <= 2);
}

int64_t mwtime_utc(int year, int mon, int mday, int hh, int mm, int ss)
{
    if (year >= 1 && mon >= 1 && mon <= 12) {
        /* the common case, in unsigned arithmetic (constant divisions become multiplies) */
        uint32_t y = (uint32_t)year - (mon <= 2), m = (uint32_t)mon;
        uint32_t era = y / 400, yoe = y - era * 400;
        uint32_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
        uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        int64_t days = (int64_t)era * 146097 + doe - 719468 + ((int64_t)mday - 1);
        return days * 86400 + (int64_t)hh * 3600 + (int64_t)mm * 60 + ss;
    }
    /* Normalise the month so that days_from_civil sees 1..12. */
    int64_t y = year, m = (int64_t)mon - 1;
    y += m >= 0 ? m / 12 : (m - 11) / 12;
    m = m - ((m >= 0 ? m / 12 : (m - 11) / 12) * 12) + 1;
    return days_from_civil(y, m, 1) * 86400 + ((int64_t)mday - 1) * 86400 +
           (int64_t)hh * 3600 + (int64_t)mm * 60 + ss;
}

int mwtime_mdays(int year, int mon)
{
    static const unsigned char md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mon < 1 || mon > 12) return 0;
    if (mon == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) return 29;
    return md[mon - 1];
}

int mwtime_month(struct str s)
{
    if (s.len != 3) return 0;
    /* |0x20 lower-cases ASCII letters and maps no other byte onto a letter. */
    uint32_t k = (uint32_t)((unsigned char)s.p[0] | 0x20) << 16 |
                 (uint32_t)((unsigned char)s.p[1] | 0x20) << 8 |
                 (uint32_t)((unsigned char)s.p[2] | 0x20);
#define M3(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
    switch (k) {
    case M3('j', 'a', 'n'): return 1;
    case M3('f', 'e', 'b'): return 2;
    case M3('m', 'a', 'r'): return 3;
    case M3('a', 'p', 'r'): return 4;
    case M3('m', 'a', 'y'): return 5;
    case M3('j', 'u', 'n'): return 6;
    case M3('j', 'u', 'l'): return 7;
    case M3('a', 'u', 'g'): return 8;
    case M3('s', 'e', 'p'): return 9;
    case M3('o', 'c', 't'): return 10;
    case M3('n', 'o', 'v'): return 11;
    case M3('d', 'e', 'c'): return 12;
    default: return 0;
    }
#undef M3
}

/* ---- local time ------------------------------------------------------------------------- */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static int64_t local_mktime(int year, int mon, int mday, int hh, int mm, int ss)
{
    /* Clamp so that tm arithmetic inside mktime cannot overflow on hostile values. */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = clampi(year, 1, 9999) - 1900;
    tm.tm_mon = clampi(mon, -100000, 100000) - 1;
    tm.tm_mday = clampi(mday, -1000000, 1000000);
    tm.tm_hour = clampi(hh, -10000000, 10000000);
    tm.tm_min = clampi(mm, -100000000, 100000000);
    tm.tm_sec = clampi(ss, -1000000000, 1000000000);
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

int64_t mwtime_local(struct tcache *c, int year, int mon, int mday, int hh, int mm, int ss)
{
    year = clampi(year, 1, 9999);
    if (!c || mon < 1 || mon > 12 || mday < 1 || mday > 31 || hh < 0 || hh > 23 ||
        mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return local_mktime(year, mon, mday, hh, mm, ss);
    int64_t key = (int64_t)year << 20 | (int64_t)mon << 16 | (int64_t)mday << 8 | hh;
    for (int i = 0; i < 4; i++)
        if (c->key[i] == key) return c->base[i] + mm * 60 + ss;
    int64_t base = local_mktime(year, mon, mday, hh, 0, 0);
    int64_t end = local_mktime(year, mon, mday, hh, 59, 59);
    if (end - base != 3599) /* an offset change inside this hour: no shortcut */
        return local_mktime(year, mon, mday, hh, mm, ss);
    unsigned slot = c->next++ & 3;
    c->key[slot] = key;
    c->base[slot] = base;
    return base + mm * 60 + ss;
}

/* Local year and UTC offset of t (falls back to UTC when localtime_r cannot represent it). */
static void local_year_off(int64_t t, int *year, int *off)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if ((int64_t)tt == t && localtime_r(&tt, &tm)) {
        *year = tm.tm_year + 1900;
        *off = (int)tm.tm_gmtoff;
        return;
    }
    int64_t y = year_from_days(t / 86400 - (t % 86400 < 0));
    *year = y < 1 ? 1 : y > 9999 ? 9999 : (int)y;
    *off = 0;
}

int64_t mwtime_yearless(struct tcache *c, int mon, int mday, int hh, int mm, int ss, int64_t ref)
{
    int ry, off;
    /* Keep the arithmetic below far from overflow; real references are near now. */
    const int64_t rmax = (int64_t)1 << 50;
    ref = ref < -rmax ? -rmax : ref > rmax ? rmax : ref;
    if (c && c->ref_year && c->ref == ref) {
        ry = c->ref_year;
        off = c->ref_off;
    } else {
        local_year_off(ref, &ry, &off);
        if (c) {
            c->ref = ref;
            c->ref_year = ry;
            c->ref_off = off;
        }
    }
    ry = clampi(ry, 2, 9999);
    int64_t lim = ref + 86400;
    /* Fast path: the cached hour belongs to this date in ref's year or the year before. */
    if (c && mon >= 1 && mon <= 12 && mday >= 1 && mday <= 31 && hh >= 0 && hh <= 23 &&
        mm >= 0 && mm <= 59 && ss >= 0 && ss <= 60) {
        int64_t k = (int64_t)mon << 16 | (int64_t)mday << 8 | hh;
        int64_t kthis = (int64_t)ry << 20 | k, kprev = (int64_t)(ry - 1) << 20 | k;
        int64_t tthis = INT64_MIN, tprev = INT64_MIN;
        for (int i = 0; i < 4; i++) {
            if (c->key[i] == kthis) tthis = c->base[i] + mm * 60 + ss;
            else if (c->key[i] == kprev) tprev = c->base[i] + mm * 60 + ss;
        }
        if (tthis != INT64_MIN && tthis <= lim) return tthis;
        /* the same date a year later is at least 365 days minus an offset change later */
        if (tprev != INT64_MIN && (tthis != INT64_MIN || tprev + 364 * 86400 > lim)) return tprev;
    }
    /* Decide the year with UTC arithmetic and ref's offset; only near the limit (offset
     * changes between the two dates) ask mktime, so a Dec/Jan file does not thrash the
     * one-hour cache between two years. */
    int64_t approx = mwtime_utc(ry, clampi(mon, -100000, 100000), clampi(mday, -1000000, 1000000),
                                clampi(hh, -1000000, 1000000), clampi(mm, -1000000, 1000000),
                                clampi(ss, -1000000, 1000000)) - off;
    const int64_t margin = 2 * 86400;
    if (approx > lim - margin && approx < lim + margin) {
        int64_t t = mwtime_local(c, ry, mon, mday, hh, mm, ss);
        if (t <= lim) return t;
        return mwtime_local(c, ry - 1, mon, mday, hh, mm, ss);
    }
    return mwtime_local(c, approx > lim ? ry - 1 : ry, mon, mday, hh, mm, ss);
}

/* ---- parsing helpers -------------------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* Exactly n digits at s[*i]; advances *i. */
static bool take_digits(struct str s, size_t *i, size_t n, int *out)
{
    int v = 0;
    if (s.len - *i < n) return false;
    for (size_t k = 0; k < n; k++) {
        char c = s.p[*i + k];
        if (!is_digit(c)) return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool take_char(struct str s, size_t *i, char c)
{
    if (*i < s.len && s.p[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

static void skip_digits(struct str s, size_t *i)
{
    while (*i < s.len && is_digit(s.p[*i])) (*i)++;
}

static void skip_spaces(struct str s, size_t *i)
{
    while (*i < s.len && is_space(s.p[*i])) (*i)++;
}

static int fail(char *err, size_t errlen, const char *what, struct str in, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s '%.*s%s': %s", what, (int)(in.len > 64 ? 64 : in.len),
                 in.p ? in.p : "", in.len > 64 ? "..." : "", detail);
    return -1;
}

/* Local midnight of the day `days` away from t's local date. */
static int64_t local_midnight(int64_t t, int days)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!localtime_r(&tt, &tm)) return t - (t % 86400 + 86400) % 86400 + (int64_t)days * 86400;
    return mwtime_local(NULL, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday + days, 0, 0, 0);
}

/* ISO date: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][ ][Z|+HH[:MM]|+HHMM]. 1 = ok, 0 = not this
 * shape, -1 = this shape with an invalid value. */
static int parse_iso(struct str s, int64_t *out)
{
    size_t i = 0;
    int y = 0, mo = 0, d = 0, hh = 0, mi = 0, ss = 0;
    if (!take_digits(s, &i, 4, &y) || !take_char(s, &i, '-') || !take_digits(s, &i, 2, &mo) ||
        !take_char(s, &i, '-') || !take_digits(s, &i, 2, &d))
        return 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mwtime_mdays(y, mo)) return -1;
    if (i == s.len) {
        *out = mwtime_local(NULL, y, mo, d, 0, 0, 0);
        return 1;
    }
    if (s.p[i] != 'T' && s.p[i] != 't' && s.p[i] != ' ') return 0;
    i++;
    if (!take_digits(s, &i, 2, &hh) || !take_char(s, &i, ':') || !take_digits(s, &i, 2, &mi))
        return 0;
    if (take_char(s, &i, ':')) {
        if (!take_digits(s, &i, 2, &ss)) return 0;
        if (take_char(s, &i, '.') || take_char(s, &i, ',')) {
            size_t f = i;
            skip_digits(s, &i);
            if (i == f) return 0;
        }
    }
    if (hh > 23 || mi > 59 || ss > 60) return -1;
    skip_spaces(s, &i);
    if (i == s.len) {
        *out = mwtime_local(NULL, y, mo, d, hh, mi, ss);
        return 1;
    }
    int off = 0;
    if (s.p[i] == 'Z' || s.p[i] == 'z') {
        i++;
    } else if (s.p[i] == '+' || s.p[i] == '-') {
        int sign = s.p[i++] == '-' ? -1 : 1, oh, om = 0;
        if (!take_digits(s, &i, 2, &oh)) return 0;
        if (take_char(s, &i, ':')) {
            if (!take_digits(s, &i, 2, &om)) return 0;
        } else if (i < s.len) {
            if (!take_digits(s, &i, 2, &om)) return 0;
        }
        if (oh > 23 || om > 59) return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return 0;
    }
    if (i != s.len) return 0;
    *out = mwtime_utc(y, mo, d, hh, mi, ss) - off;
    return 1;
}

/* Syslog style: Mon DD [HH:MM[:SS]] with the year rule against now. */
static int parse_syslogish(struct str s, int64_t now, int64_t *out)
{
    size_t i = 3;
    int mon = mwtime_month(str_sub(s, 0, 3)), d, hh = 0, mi = 0, ss = 0;
    if (!mon || i >= s.len || !is_space(s.p[i])) return 0;
    skip_spaces(s, &i);
    if (!take_digits(s, &i, 1, &d)) return 0;
    if (i < s.len && is_digit(s.p[i])) d = d * 10 + (s.p[i++] - '0');
    if (i < s.len) {
        if (!is_space(s.p[i])) return 0;
        skip_spaces(s, &i);
        if (!take_digits(s, &i, 2, &hh) || !take_char(s, &i, ':') || !take_digits(s, &i, 2, &mi))
            return 0;
        if (take_char(s, &i, ':') && !take_digits(s, &i, 2, &ss)) return 0;
        if (i != s.len) return 0;
    }
    if (d < 1 || d > mwtime_mdays(2000, mon) || hh > 23 || mi > 59 || ss > 60) return -1;
    *out = mwtime_yearless(NULL, mon, d, hh, mi, ss, now);
    return 1;
}

int mwtime_parse(const char *cs, int64_t now, int64_t *out, char *err, size_t errlen)
{
    struct str in = str_c(cs), s = str_trim(in);
    uint64_t v;
    size_t i;
    if (err && errlen) err[0] = 0;
    if (s.len == 0) return fail(err, errlen, "empty time", s, expect_msg);
    if (str_eqi(s, "now")) return *out = now, 0;
    if (str_eqi(s, "today")) return *out = local_midnight(now, 0), 0;
    if (str_eqi(s, "yesterday")) return *out = local_midnight(now, -1), 0;

    /* EPOCH[.frac] and @EPOCH[.frac] */
    struct str e = s.p[0] == '@' ? str_from(s, 1) : s;
    i = str_lead_u64(e, &v);
    if (i > 0 && (i == e.len || (e.p[i] == '.' && i + 1 < e.len))) {
        size_t j = i + 1;
        if (i < e.len) skip_digits(e, &j);
        if (i == e.len || j == e.len) {
            *out = (int64_t)v;
            return 0;
        }
    }
    if (s.p[0] == '@') return fail(err, errlen, "invalid epoch", s, "expected @ and digits");

    if (s.len >= 10 && is_digit(s.p[0]) && s.p[4] == '-') {
        int r = parse_iso(s, out);
        if (r > 0) return 0;
        if (r < 0) return fail(err, errlen, "invalid date", s, "date or time out of range");
    }
    if (s.len >= 4 && is_alpha(s.p[0])) {
        int r = parse_syslogish(s, now, out);
        if (r > 0) return 0;
        if (r < 0) return fail(err, errlen, "invalid date", s, "day or time out of range");
    }
    if (is_digit(s.p[0])) {
        struct str d = s;
        int64_t secs;
        if (d.len > 3 && str_eqi(str_from(d, d.len - 3), "ago")) d = str_trim(str_sub(d, 0, d.len - 3));
        if (mwtime_duration(d, false, &secs) == 0) {
            *out = now - secs;
            return 0;
        }
    }
    return fail(err, errlen, "unrecognised time", s, expect_msg);
}

/* ---- durations -------------------------------------------------------------------------- */

struct unit {
    const char *name;
    int64_t secs;
};

static const struct unit units[] = {
    { "s", 1 }, { "ss", 1 }, { "se", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 }, { "seconds", 1 },
    { "m", 60 }, { "mm", 60 }, { "mi", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 }, { "minutes", 60 },
    { "h", 3600 }, { "hh", 3600 }, { "ho", 3600 }, { "hour", 3600 }, { "hours", 3600 },
    { "d", 86400 }, { "dd", 86400 }, { "da", 86400 }, { "day", 86400 }, { "days", 86400 },
    { "w", 604800 }, { "ww", 604800 }, { "we", 604800 }, { "wee", 604800 }, { "week", 604800 },
    { "weeks", 604800 },
    { "mo", 2629800 }, { "mon", 2629800 }, { "month", 2629800 }, { "months", 2629800 },
    { "y", 31557600 }, { "yy", 31557600 }, { "ye", 31557600 }, { "yea", 31557600 },
    { "year", 31557600 }, { "years", 31557600 },
};

static int64_t unit_secs(struct str u)
{
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (str_eqi(u, units[k].name)) return units[k].secs;
    return 0;
}

int mwtime_duration(struct str s, bool allow_neg, int64_t *out)
{
    s = str_trim(s);
    if (s.len == 0) return -1;
    if (s.p[0] == '-') {
        if (allow_neg && str_eqc(s, "-1")) return *out = -1, 0;
        return -1;
    }
    int64_t total = 0;
    size_t i = 0;
    while (i < s.len) {
        uint64_t whole;
        size_t nd = str_lead_u64(str_from(s, i), &whole);
        if (nd == 0 || nd > 12) return -1;
        i += nd;
        int64_t frac = 0, scale = 1;
        if (i < s.len && s.p[i] == '.') {
            size_t f = ++i;
            while (i < s.len && is_digit(s.p[i])) {
                if (i - f < 6) {
                    frac = frac * 10 + (s.p[i] - '0');
                    scale *= 10;
                }
                i++;
            }
            if (i == f) return -1;
        }
        skip_spaces(s, &i);
        size_t u = i;
        while (i < s.len && is_alpha(s.p[i])) i++;
        int64_t mult = 1;
        if (i > u && (mult = unit_secs(str_sub(s, u, i - u))) == 0) return -1;
        if ((int64_t)whole > DUR_MAX / mult) return -1;
        int64_t part = (int64_t)whole * mult + frac * mult / scale;
        if (part > DUR_MAX || (total += part) > DUR_MAX) return -1;
        while (i < s.len && (is_space(s.p[i]) || s.p[i] == '+')) i++;
    }
    *out = total;
    return 0;
}

/* ---- formatting ------------------------------------------------------------------------- */

static size_t fit(int n, size_t cap)
{
    if (n < 0 || cap == 0) return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static bool local_tm(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;
    return (int64_t)tt == t && localtime_r(&tt, tm) && tm->tm_year + 1900 >= 0 &&
           tm->tm_year + 1900 <= 9999;
}

size_t mwtime_rfc3339(int64_t t, int32_t usec, char *buf, size_t cap)
{
    struct tm tm;
    if (cap == 0) return 0;
    if (!local_tm(t, &tm)) return fit(snprintf(buf, cap, "@%lld", (long long)t), cap);
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char frac[8] = "";
    if (usec >= 0) snprintf(frac, sizeof frac, ".%06d", (int)(usec % 1000000));
    return fit(snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02ld:%02ld",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, frac, sign, off / 3600, off / 60 % 60), cap);
}

size_t mwtime_human(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    if (cap == 0) return 0;
    if (!local_tm(t, &tm)) return fit(snprintf(buf, cap, "@%lld", (long long)t), cap);
    return fit(snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec), cap);
}

size_t mwtime_ago(int64_t t, int64_t now, char *buf, size_t cap)
{
    if (cap == 0) return 0;
    /* |now - t| without signed overflow */
    bool past = now >= t;
    uint64_t d = past ? (uint64_t)now - (uint64_t)t : (uint64_t)t - (uint64_t)now;
    if (d < 60) return fit(snprintf(buf, cap, "just now"), cap);
    uint64_t n;
    const char *u;
    if (d < 3600) n = d / 60, u = "minute";
    else if (d < 86400) n = d / 3600, u = "hour";
    else n = d / 86400, u = "day";
    const char *pl = n == 1 ? "" : "s";
    if (past) return fit(snprintf(buf, cap, "%llu %s%s ago", (unsigned long long)n, u, pl), cap);
    return fit(snprintf(buf, cap, "in %llu %s%s", (unsigned long long)n, u, pl), cap);
}
