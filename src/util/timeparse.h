/*
 * timeparse - the one time syntax of every command, and the one year rule.
 *
 * Year rule: a date without a year (syslog "Nov  2 20:51:08") gets the year of the reference
 * time `ref`, or the year before if that would put it more than one day after ref. This also
 * handles a Dec -> Jan rollover inside one file. Zone-less times are local time per TZ.
 *
 * --since/--until/--now syntax (mwtime_parse):
 *   EPOCH (all digits, seconds; optional .fraction), @EPOCH
 *   2026-11-22, 2026-11-22T21:00, 2026-11-22 21:00:05, 2026-11-22T21:00:05.123+01:00, ...Z
 *   Nov 22 21:00, Nov 22 21:00:05, Nov 22 (syslog style, year rule against now)
 *   relative: 30s, 30m, 2h, 1d, 2w (that long before now), now, today (00:00 today),
 *   yesterday (00:00 yesterday)
 *   (a relative duration may also be written "30m ago", "1h30m", "2 days"; see mwtime_duration)
 * Fractions of a second are accepted and dropped. Offsets: Z, +01:00, +0100, +01.
 * Returns 0 and the epoch seconds in *out; -1 with a message in err.
 *
 * Local time and DST: mwtime_local caches one local hour (epoch of its start, computed with
 * mktime on a miss); an hour whose last second is not 3599 s after its start (a DST change
 * inside it) is never cached and goes to mktime every time. Inside the repeated hour of a
 * DST fall-back a zone-less stamp is ambiguous; it resolves to whichever occurrence mktime
 * picks (tm_isdst = -1). A time in the skipped hour of a spring-forward is normalised by
 * mktime (02:30 becomes 03:30 DST). A cache belongs to one TZ setting: zero it after
 * changing TZ. Caches are not shared between threads.
 *
 * Out-of-range fields given to mwtime_local/mwtime_yearless (31 Feb, minute 75) are
 * normalised as mktime does; the year is clamped to 1..9999. Parsers validate first.
 *
 * Errors: parse functions return -1 (and mwtime_parse an error message); nothing exits.
 * The formatting functions always NUL-terminate when cap > 0, truncate to fit, and return
 * the length written (excluding the NUL).
 */
#ifndef MW_TIMEPARSE_H
#define MW_TIMEPARSE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

/* Cache for local-time conversion (mktime is slow); one per thread. Zero-initialise. */
struct tcache {
    int64_t key[4];       /* (year, mon, mday, hour) packed; 0 = empty. Four hours, so
                             lines around an hour change or both years of the year rule
                             do not thrash it */
    int64_t base[4];      /* epoch of that hour's start */
    unsigned next;        /* slot to replace next */
    int64_t ref;          /* last ref given to mwtime_yearless ... */
    int32_t ref_year;     /* ... its local year (0 = not computed) */
    int32_t ref_off;      /* ... and its UTC offset in seconds */
};

/* Epoch seconds of a local date-time (mon 1..12). Uses/updates the cache (may be NULL). */
int64_t mwtime_local(struct tcache *c, int year, int mon, int mday, int hh, int mm, int ss);
/* Year-less local date-time resolved by the year rule against ref. */
int64_t mwtime_yearless(struct tcache *c, int mon, int mday, int hh, int mm, int ss, int64_t ref);
/* Month name "Jan".."Dec" (case-insensitive, 3 letters) -> 1..12, or 0. */
int mwtime_month(struct str s);
/* Epoch seconds of a UTC date-time (proleptic Gregorian, no libc, no validation). */
int64_t mwtime_utc(int year, int mon, int mday, int hh, int mm, int ss);
/* Days in month mon (1..12) of year; 0 for a month out of range. */
int mwtime_mdays(int year, int mon);

int mwtime_parse(const char *s, int64_t now, int64_t *out, char *err, size_t errlen);
/* Duration for config and options: 600, 10m, 4d, 1w, 1h30m; -1 (permanent) allowed when
 * allow_neg. Returns 0 and seconds in *out, or -1.
 * fail2ban's bantime words are accepted, case-insensitive, with optional spaces between
 * terms ("1h 30m", "10 minutes", "1.5h", "1d12h"): s|ss|se|sec|second(s), m|mm|mi|min|
 * minute(s), h|hh|ho|hour(s), d|dd|da|day(s), w|ww|we|wee|week(s), mo|mon|month(s)
 * (= year/12), y|yy|ye|yea|year(s) (= 365.25 days). A number without unit is seconds.
 * fail2ban's arithmetic ("1year-6mo") is not. Only the exact string "-1" is negative.
 * Results above 1000 years are rejected. */
int mwtime_duration(struct str s, bool allow_neg, int64_t *out);

/* RFC 3339 in local time with offset: 2026-11-22T21:12:13+00:00 (usec < 0: no fraction). */
size_t mwtime_rfc3339(int64_t t, int32_t usec, char *buf, size_t cap);
/* "2026-11-22 21:12:13" local time. */
size_t mwtime_human(int64_t t, char *buf, size_t cap);
/* "94 days ago", "3 hours ago", "in 5 minutes" relative to now. */
size_t mwtime_ago(int64_t t, int64_t now, char *buf, size_t cap);

#endif
