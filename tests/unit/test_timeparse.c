/* test_timeparse - month names, calendar arithmetic, the hour cache across DST, the year
 * rule, the --since/--until syntax, durations and formatting. */
#include "check.h"
#include "util/timeparse.h"
#include <stdint.h>
#include <time.h>

#define CET "CET-01CEST-02,M3.5.0,M10.5.0/3"
#define T_NOW 1795383000        /* 2026-11-22T21:30:00Z */
#define T_DAY 1795305600        /* 2026-11-22T00:00:00Z */

static void tz(const char *z)
{
    setenv("TZ", z, 1);
    tzset();
}

static int64_t P(const char *s, int64_t now)
{
    int64_t out = INT64_MIN;
    char err[256];
    if (mwtime_parse(s, now, &out, err, sizeof err) < 0) return INT64_MIN;
    return out;
}

static int64_t D(const char *s, bool neg)
{
    int64_t out = INT64_MIN;
    return mwtime_duration(str_c(s), neg, &out) < 0 ? INT64_MIN : out;
}

static void t_month(void)
{
    static const char *m[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                               "Oct", "Nov", "Dec" };
    for (int i = 0; i < 12; i++) CHECK_INT(mwtime_month(str_c(m[i])), i + 1);
    CHECK_INT(mwtime_month(str_c("nov")), 11);
    CHECK_INT(mwtime_month(str_c("DEC")), 12);
    CHECK_INT(mwtime_month(str_c("Foo")), 0);
    CHECK_INT(mwtime_month(str_c("No")), 0);
    CHECK_INT(mwtime_month(str_c("Nove")), 0);
    CHECK_INT(mwtime_month(str_make("N\0v", 3)), 0);
    CHECK_INT(mwtime_month(str_c("N@V")), 0);
    CHECK_INT(mwtime_month(STR_NULL), 0);
}

static void t_utc_mdays(void)
{
    CHECK_INT(mwtime_utc(1970, 1, 1, 0, 0, 0), 0);
    CHECK_INT(mwtime_utc(2026, 11, 22, 21, 30, 0), T_NOW);
    CHECK_INT(mwtime_utc(2024, 2, 29, 12, 0, 0), 1709208000);
    CHECK_INT(mwtime_utc(2025, 13, 1, 0, 0, 0), 1767225600);      /* normalised month */
    CHECK_INT(mwtime_utc(2026, 0, 1, 0, 0, 0), mwtime_utc(2025, 12, 1, 0, 0, 0));
    CHECK_INT(mwtime_utc(1969, 12, 31, 23, 59, 59), -1);
    CHECK_INT(mwtime_mdays(2026, 2), 28);
    CHECK_INT(mwtime_mdays(2024, 2), 29);
    CHECK_INT(mwtime_mdays(2000, 2), 29);
    CHECK_INT(mwtime_mdays(1900, 2), 28);
    CHECK_INT(mwtime_mdays(2026, 4), 30);
    CHECK_INT(mwtime_mdays(2026, 12), 31);
    CHECK_INT(mwtime_mdays(2026, 13), 0);
    CHECK_INT(mwtime_mdays(2026, 0), 0);
}

static void t_local_utc(void)
{
    struct tcache c = { 0 };
    tz("UTC");
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 21, 30, 0), T_NOW);
    CHECK(c.key[0] != 0);
    CHECK_INT(c.base[0], 1795381200);
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 21, 12, 7), 1795381927);   /* hit */
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 20, 0, 0), 1795377600);    /* miss */
    CHECK_INT(c.base[1], 1795377600);
    CHECK_INT(c.base[0], 1795381200);                                   /* both hours kept */
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 20, 59, 60), 1795381200);  /* leap second */
    CHECK_INT(mwtime_local(NULL, 2026, 11, 22, 21, 30, 0), T_NOW);
    /* out of range: normalised like mktime, no crash on extremes */
    CHECK_INT(mwtime_local(&c, 2026, 2, 30, 0, 0, 0), mwtime_utc(2026, 3, 2, 0, 0, 0));
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 21, 90, 0), T_NOW + 3600);
    (void)mwtime_local(&c, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN);
    (void)mwtime_local(&c, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX);
}

/* The cache must give what mktime gives, for every minute of both DST change days. */
static void t_local_dst_cache(void)
{
    static const char *zones[] = { CET, "Europe/Berlin", "America/New_York", "Australia/Lord_Howe" };
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        tz(zones[z]);
        struct tcache c = { 0 };
        static const int days[][3] = { { 2026, 3, 29 }, { 2026, 10, 25 }, { 2026, 3, 8 },
                                       { 2026, 11, 1 }, { 2026, 4, 5 }, { 2026, 10, 4 } };
        int bad = 0;
        for (size_t d = 0; d < sizeof days / sizeof days[0]; d++)
            for (int h = 0; h < 24; h++)
                for (int m = 0; m < 60; m += 7)
                    for (int s = 0; s < 60; s += 29) {
                        int64_t a = mwtime_local(&c, days[d][0], days[d][1], days[d][2], h, m, s);
                        int64_t b = mwtime_local(NULL, days[d][0], days[d][1], days[d][2], h, m, s);
                        if (a != b && bad++ < 3)
                            fprintf(stderr, "  %s %d-%d-%d %02d:%02d:%02d cache %lld mktime %lld\n",
                                    zones[z], days[d][0], days[d][1], days[d][2], h, m, s,
                                    (long long)a, (long long)b);
                    }
        CHECK_INT(bad, 0);
    }
    tz(CET);
    struct tcache c = { 0 };
    CHECK_INT(mwtime_local(&c, 2026, 11, 22, 22, 30, 0), T_NOW);
    CHECK_INT(mwtime_local(&c, 2026, 7, 1, 12, 0, 0), mwtime_utc(2026, 7, 1, 10, 0, 0));
    /* spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z) */
    CHECK_INT(mwtime_local(&c, 2026, 3, 29, 1, 59, 59), 1774745999);
    CHECK_INT(mwtime_local(&c, 2026, 3, 29, 3, 0, 0), 1774746000);
    int64_t skipped = mwtime_local(&c, 2026, 3, 29, 2, 30, 0);
    CHECK(skipped == 1774746000 - 1800 || skipped == 1774746000 + 1800);
    /* fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z): 02:30 is ambiguous */
    CHECK_INT(mwtime_local(&c, 2026, 10, 25, 1, 59, 59), 1792886399);
    CHECK_INT(mwtime_local(&c, 2026, 10, 25, 3, 0, 0), 1792893600);
    int64_t rep = mwtime_local(&c, 2026, 10, 25, 2, 30, 0);
    CHECK(rep == 1792890000 - 1800 || rep == 1792890000 + 1800);
    tz("UTC");
}

static void t_yearless(void)
{
    struct tcache c = { 0 };
    tz("UTC");
    int64_t newyear = mwtime_utc(2026, 1, 1, 0, 0, 30);
    CHECK_INT(mwtime_yearless(&c, 12, 31, 23, 59, 59, newyear), 1767225599);
    CHECK_INT(mwtime_yearless(NULL, 12, 31, 23, 59, 59, newyear), 1767225599);
    CHECK_INT(mwtime_yearless(&c, 1, 1, 0, 0, 10, newyear), newyear - 20);
    CHECK_INT(mwtime_yearless(&c, 11, 22, 21, 12, 0, T_NOW), 1795381920);
    /* up to one day after ref stays in ref's year, more goes back a year */
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 30, 0, T_NOW), T_NOW + 86400);
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 30, 1, T_NOW), mwtime_utc(2025, 11, 23, 21, 30, 1));
    /* the same hour again, now cached for 2025: the limit must still be honoured */
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 30, 0, T_NOW), T_NOW + 86400);
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 59, 0, T_NOW), mwtime_utc(2025, 11, 23, 21, 59, 0));
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 0, 0, T_NOW), T_NOW + 86400 - 1800);
    /* a cached hour is reused only for the ref it was decided with */
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 59, 0, T_NOW + 3600), mwtime_utc(2026, 11, 23, 21, 59, 0));
    CHECK_INT(mwtime_yearless(&c, 11, 23, 21, 59, 0, T_NOW - 3600), mwtime_utc(2025, 11, 23, 21, 59, 0));
    CHECK_INT(mwtime_yearless(&c, 12, 24, 0, 0, 0, T_NOW), mwtime_utc(2025, 12, 24, 0, 0, 0));
    CHECK_INT(mwtime_yearless(&c, 1, 5, 0, 0, 0, T_NOW), mwtime_utc(2026, 1, 5, 0, 0, 0));
    /* ref at the end of the year: January lines are this year's (the rule has no "next year") */
    int64_t eoy = mwtime_utc(2026, 12, 31, 23, 0, 0);
    CHECK_INT(mwtime_yearless(&c, 1, 1, 0, 10, 0, eoy), mwtime_utc(2026, 1, 1, 0, 10, 0));
    /* alternating Dec/Jan lines keep giving the right years */
    for (int k = 0; k < 3; k++) {
        CHECK_INT(mwtime_yearless(&c, 12, 31, 23, 59, 59, newyear), 1767225599);
        CHECK_INT(mwtime_yearless(&c, 1, 1, 0, 0, 5, newyear), newyear - 25);
    }
    /* in CET the new year starts at 23:00Z */
    tz(CET);
    struct tcache c2 = { 0 };
    int64_t ny_cet = mwtime_utc(2025, 12, 31, 23, 0, 30);
    CHECK_INT(mwtime_yearless(&c2, 12, 31, 23, 59, 59, ny_cet), mwtime_utc(2025, 12, 31, 22, 59, 59));
    CHECK_INT(mwtime_yearless(&c2, 1, 1, 0, 0, 10, ny_cet), ny_cet - 20);
    /* exactly at the 86400 s limit across a DST change (ref in March, date after the switch) */
    int64_t mref = mwtime_utc(2026, 3, 28, 12, 0, 0);       /* 13:00 CET */
    CHECK_INT(mwtime_yearless(&c2, 3, 29, 14, 0, 0, mref), mref + 86400);  /* 14:00 CEST */
    CHECK_INT(mwtime_yearless(&c2, 3, 29, 14, 0, 1, mref),
              mwtime_utc(2025, 3, 29, 13, 0, 1));            /* 2025-03-29 was CET */
    /* hostile ref / fields must not crash */
    (void)mwtime_yearless(&c2, 1, 1, 0, 0, 0, INT64_MIN);
    (void)mwtime_yearless(&c2, 1, 1, 0, 0, 0, INT64_MAX);
    (void)mwtime_yearless(&c2, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 0, T_NOW);
    tz("UTC");
}

/* The year rule written out naively, to check the cached and shortcut paths against. */
static int64_t yearless_naive(int mon, int mday, int hh, int mm, int ss, int64_t ref)
{
    struct tm tm;
    time_t r = (time_t)ref;
    localtime_r(&r, &tm);
    int64_t t = mwtime_local(NULL, tm.tm_year + 1900, mon, mday, hh, mm, ss);
    if (t > ref + 86400) t = mwtime_local(NULL, tm.tm_year + 1900 - 1, mon, mday, hh, mm, ss);
    return t;
}

static void t_yearless_random(void)
{
    static const char *zones[] = { "UTC", CET, "America/New_York", "Australia/Lord_Howe",
                                   "Pacific/Apia" };
    static const int64_t refs[] = {
        1767225630,             /* 2026-01-01T00:00:30Z */
        1767222000,             /* 2025-12-31T23:00:00Z */
        1774746000,             /* 2026-03-29T01:00:00Z (EU DST start) */
        1792890000,             /* 2026-10-25T01:00:00Z (EU DST end) */
        T_NOW,
    };
    uint32_t seed = 12345;
    int bad = 0;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        tz(zones[z]);
        for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++) {
            struct tcache c = { 0 };
            int mon = 1, mday = 1, hh = 0;
            for (int i = 0; i < 4000; i++) {
                seed = seed * 1103515245u + 12345u;
                uint32_t x = seed >> 8;
                /* mostly small steps (log order), sometimes a jump */
                if (x % 16 == 0) { mon = 1 + (int)(x / 16 % 12); mday = 1 + (int)(x / 200 % 28); }
                if (x % 4 == 0) hh = (int)(x / 7 % 24);
                if (x % 64 == 1) { mon = (x & 128) ? 12 : 1; mday = (x & 256) ? 31 : 1; }
                if (x % 64 == 2) { mon = mon == 12 ? 1 : 12; }
                int mm = (int)(x / 3 % 60), ss = (int)(x / 5 % 61);
                int64_t ref = refs[r] + (int64_t)(x % 5) * 1800 - 3600;
                int64_t a = mwtime_yearless(&c, mon, mday, hh, mm, ss, ref);
                int64_t b = yearless_naive(mon, mday, hh, mm, ss, ref);
                if (a != b && bad++ < 3)
                    fprintf(stderr, "  %s ref %lld %02d-%02d %02d:%02d:%02d: %lld, naive %lld\n",
                            zones[z], (long long)ref, mon, mday, hh, mm, ss, (long long)a, (long long)b);
                if (mwtime_yearless(NULL, mon, mday, hh, mm, ss, ref) != b) bad++;
            }
        }
    }
    CHECK_INT(bad, 0);
    tz("UTC");
}

static void t_parse_forms(void)
{
    tz("UTC");
    CHECK_INT(P("1795383000", 0), T_NOW);
    CHECK_INT(P("1795383000.75", 0), T_NOW);
    CHECK_INT(P("@1795383000", 0), T_NOW);
    CHECK_INT(P("@0", 5), 0);
    CHECK_INT(P("2026-11-22", 0), T_DAY);
    CHECK_INT(P("2026-11-22T21:00", 0), 1795381200);
    CHECK_INT(P("2026-11-22 21:00:05", 0), 1795381205);
    CHECK_INT(P("2026-11-22t21:00:05.123", 0), 1795381205);
    CHECK_INT(P("2026-11-22T21:00:05Z", 0), 1795381205);
    CHECK_INT(P("2026-11-22T21:00:05.123+01:00", 0), 1795381205 - 3600);
    CHECK_INT(P("2026-11-22T21:00:05+0100", 0), 1795381205 - 3600);
    CHECK_INT(P("2026-11-22T21:00:05-01", 0), 1795381205 + 3600);
    CHECK_INT(P("2026-11-22T21:00-05:30", 0), 1795381200 + 5 * 3600 + 1800);
    CHECK_INT(P("2026-11-22 21:00:05 +00:00", 0), 1795381205);
    CHECK_INT(P("2024-02-29", 0), mwtime_utc(2024, 2, 29, 0, 0, 0));
    CHECK_INT(P("Nov 22 21:00", T_NOW), 1795381200);
    CHECK_INT(P("Nov 22 21:00:05", T_NOW), 1795381205);
    CHECK_INT(P("nov  2 20:51:08", T_NOW), 1793652668);
    CHECK_INT(P("Nov 22", T_NOW), T_DAY);
    CHECK_INT(P("Dec 1", T_NOW), mwtime_utc(2025, 12, 1, 0, 0, 0));     /* year rule */
    CHECK_INT(P("30s", T_NOW), T_NOW - 30);
    CHECK_INT(P("30m", T_NOW), T_NOW - 1800);
    CHECK_INT(P("2h", T_NOW), T_NOW - 7200);
    CHECK_INT(P("1d", T_NOW), T_NOW - 86400);
    CHECK_INT(P("2w", T_NOW), T_NOW - 14 * 86400);
    CHECK_INT(P("1h30m", T_NOW), T_NOW - 5400);
    CHECK_INT(P("30m ago", T_NOW), T_NOW - 1800);
    CHECK_INT(P("2 days", T_NOW), T_NOW - 2 * 86400);
    CHECK_INT(P("now", T_NOW), T_NOW);
    CHECK_INT(P("  NOW \t", T_NOW), T_NOW);
    CHECK_INT(P("today", T_NOW), T_DAY);
    CHECK_INT(P("yesterday", T_NOW), T_DAY - 86400);
    CHECK_INT(P("yesterday", mwtime_utc(2026, 3, 1, 5, 0, 0)), mwtime_utc(2026, 2, 28, 0, 0, 0));
    /* local time */
    tz(CET);
    CHECK_INT(P("2026-11-22T22:30", 0), T_NOW);
    CHECK_INT(P("2026-07-01 12:00", 0), mwtime_utc(2026, 7, 1, 10, 0, 0));
    CHECK_INT(P("2026-11-22T22:30Z", 0), T_NOW + 3600);
    CHECK_INT(P("Nov 22 22:30", T_NOW), T_NOW);
    CHECK_INT(P("today", T_NOW), T_DAY - 3600);
    CHECK_INT(P("today", T_DAY - 1800), T_DAY - 3600);      /* 23:30Z is 00:30 CET */
    CHECK_INT(P("yesterday", T_NOW), T_DAY - 3600 - 86400);
    /* yesterday of the day after the spring change: 23 h day */
    CHECK_INT(P("yesterday", mwtime_utc(2026, 3, 30, 12, 0, 0)), mwtime_utc(2026, 3, 28, 23, 0, 0));
    tz("UTC");
}

static void t_parse_errors(void)
{
    char err[256];
    int64_t out = 42;
    tz("UTC");
    CHECK_INT(mwtime_parse("xyz", T_NOW, &out, err, sizeof err), -1);
    CHECK(strncmp(err, "unrecognised time 'xyz': expected", 33) == 0);
    CHECK_INT(out, 42);
    CHECK_INT(mwtime_parse("2026-13-45", T_NOW, &out, err, sizeof err), -1);
    CHECK(strstr(err, "invalid date '2026-13-45'") != NULL);
    static const char *bad[] = {
        "", "   ", "@", "@abc", "@-5", "-5m", "2026-02-29", "2026-11-31", "2026-00-10",
        "0000-01-01", "2026-11-22T24:00", "2026-11-22T21:60", "2026-11-22T21:00:61",
        "2026-11-22T21:00+24:00", "2026-11-22T21:00+01:60", "2026-11-22T21:00:05junk",
        "2026-11-22T", "2026-11-22T21", "2026-11-22X21:00", "2026-1-22", "Nov 31", "Nov 0",
        "Nov 99 10:00", "Feb 30", "Foo 22", "Nov", "Nov 22 25:00", "Nov 22 21:00 2026",
        "Nov22", "November 22", "99999999999999999999", "1795383000.", "1795383000.x",
        "10x", "1e5", "h", "now now", "tomorrow", "1000000000000000000000s",
        "2026-11-22T21:00:05.+01:00", "\xff\xfe", "Nov 22 21:00:5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = 42;
        int r = mwtime_parse(bad[i], T_NOW, &out, err, sizeof err);
        if (r != -1 || err[0] == 0) fprintf(stderr, "  accepted '%s' -> %lld\n", bad[i], (long long)out);
        CHECK_INT(r, -1);
        CHECK(err[0] != 0);
    }
    /* long input is quoted truncated; tiny buffers are respected */
    char longin[300];
    memset(longin, 'a', sizeof longin - 1);
    longin[sizeof longin - 1] = 0;
    CHECK_INT(mwtime_parse(longin, T_NOW, &out, err, sizeof err), -1);
    CHECK(strstr(err, "...'") != NULL);
    CHECK(strlen(err) < 255);
    char tiny[8];
    memset(tiny, 'X', sizeof tiny);
    CHECK_INT(mwtime_parse("xyz", T_NOW, &out, tiny, sizeof tiny), -1);
    CHECK_INT((int)strlen(tiny), 7);
    CHECK_INT(mwtime_parse("xyz", T_NOW, &out, NULL, 0), -1);
}

static void t_duration(void)
{
    CHECK_INT(D("600", false), 600);
    CHECK_INT(D("0", false), 0);
    CHECK_INT(D("10m", false), 600);
    CHECK_INT(D("4d", false), 4 * 86400);
    CHECK_INT(D("1w", false), 604800);
    CHECK_INT(D("1h30m", false), 5400);
    CHECK_INT(D("1h 30m", false), 5400);
    CHECK_INT(D("1h+30m", false), 5400);
    CHECK_INT(D("10 minutes", false), 600);
    CHECK_INT(D("1 hour 30 min", false), 5400);
    CHECK_INT(D("1.5h", false), 5400);
    CHECK_INT(D("0.5", false), 0);
    CHECK_INT(D("1d12h", false), 129600);
    CHECK_INT(D("2 Weeks", false), 2 * 604800);
    CHECK_INT(D("1mo", false), 2629800);
    CHECK_INT(D("1 month", false), 2629800);
    CHECK_INT(D("1y", false), 31557600);
    CHECK_INT(D("1000years", false), 1000LL * 31557600);
    CHECK_INT(D(" 5s ", false), 5);
    CHECK_INT(D("-1", true), -1);
    CHECK_INT(D("-1", false), INT64_MIN);
    CHECK_INT(D("-5", true), INT64_MIN);
    CHECK_INT(D("-1h", true), INT64_MIN);
    CHECK_INT(D("", true), INT64_MIN);
    CHECK_INT(D("10x", false), INT64_MIN);
    CHECK_INT(D("h", false), INT64_MIN);
    CHECK_INT(D("1e5", false), INT64_MIN);
    CHECK_INT(D("1.h", false), INT64_MIN);
    CHECK_INT(D("1001y", false), INT64_MIN);
    CHECK_INT(D("999999999999y", false), INT64_MIN);
    CHECK_INT(D("9999999999999", false), INT64_MIN);
    CHECK_INT(D("99999999999999999999", false), INT64_MIN);
    CHECK_INT(D("500y 500y 500y", false), INT64_MIN);
    CHECK_INT(D("1h;", false), INT64_MIN);
    int64_t out;
    CHECK_INT(mwtime_duration(str_make("10m\0", 4), false, &out), -1);
    CHECK_INT(mwtime_duration(STR_NULL, false, &out), -1);
}

static void t_format(void)
{
    char b[64];
    tz("UTC");
    CHECK_INT(mwtime_rfc3339(1795381927, -1, b, sizeof b), 25);
    CHECK_STR(b, "2026-11-22T21:12:07+00:00");
    mwtime_rfc3339(1795381927, 855763, b, sizeof b);
    CHECK_STR(b, "2026-11-22T21:12:07.855763+00:00");
    mwtime_rfc3339(1795381927, 5, b, sizeof b);
    CHECK_STR(b, "2026-11-22T21:12:07.000005+00:00");
    CHECK_INT(mwtime_human(1795381927, b, sizeof b), 19);
    CHECK_STR(b, "2026-11-22 21:12:07");
    CHECK_INT(mwtime_rfc3339(1795381927, -1, b, 5), 4);
    CHECK_STR(b, "2026");
    CHECK_INT(mwtime_rfc3339(1795381927, -1, b, 0), 0);
    tz(CET);
    mwtime_rfc3339(1795381927, -1, b, sizeof b);
    CHECK_STR(b, "2026-11-22T22:12:07+01:00");
    mwtime_rfc3339(mwtime_utc(2026, 7, 1, 10, 0, 0), -1, b, sizeof b);
    CHECK_STR(b, "2026-07-01T12:00:00+02:00");
    mwtime_human(1795381927, b, sizeof b);
    CHECK_STR(b, "2026-11-22 22:12:07");
    tz("EST5");
    mwtime_rfc3339(1795381927, -1, b, sizeof b);
    CHECK_STR(b, "2026-11-22T16:12:07-05:00");
    tz("IST-5:30");
    mwtime_rfc3339(1795381927, -1, b, sizeof b);
    CHECK_STR(b, "2026-11-23T02:42:07+05:30");
    /* round trip through mwtime_parse */
    int64_t back;
    char err[128];
    CHECK_INT(mwtime_parse(b, 0, &back, err, sizeof err), 0);
    CHECK_INT(back, 1795381927);
    tz("UTC");
    CHECK(mwtime_rfc3339(INT64_MAX, -1, b, sizeof b) > 0);   /* unrepresentable: no crash */
    CHECK(mwtime_human(INT64_MIN, b, sizeof b) > 0);
}

static void t_ago(void)
{
    char b[64];
    mwtime_ago(T_NOW - 30, T_NOW, b, sizeof b);
    CHECK_STR(b, "just now");
    mwtime_ago(T_NOW + 59, T_NOW, b, sizeof b);
    CHECK_STR(b, "just now");
    mwtime_ago(T_NOW - 60, T_NOW, b, sizeof b);
    CHECK_STR(b, "1 minute ago");
    mwtime_ago(T_NOW - 300, T_NOW, b, sizeof b);
    CHECK_STR(b, "5 minutes ago");
    mwtime_ago(T_NOW - 3 * 3600 - 5, T_NOW, b, sizeof b);
    CHECK_STR(b, "3 hours ago");
    mwtime_ago(T_NOW - 94 * 86400, T_NOW, b, sizeof b);
    CHECK_STR(b, "94 days ago");
    mwtime_ago(T_NOW + 2 * 86400, T_NOW, b, sizeof b);
    CHECK_STR(b, "in 2 days");
    mwtime_ago(T_NOW + 300, T_NOW, b, sizeof b);
    CHECK_STR(b, "in 5 minutes");
    CHECK_INT(mwtime_ago(T_NOW + 3600, T_NOW, b, sizeof b), 9);
    CHECK_STR(b, "in 1 hour");
    CHECK(mwtime_ago(INT64_MIN, INT64_MAX, b, sizeof b) > 0);
    CHECK(strstr(b, "days ago") != NULL);
    CHECK(mwtime_ago(INT64_MAX, INT64_MIN, b, sizeof b) > 0);
    CHECK_INT(mwtime_ago(0, T_NOW, b, 4), 3);
}

int main(void)
{
    RUN(t_month);
    RUN(t_utc_mdays);
    RUN(t_local_utc);
    RUN(t_local_dst_cache);
    RUN(t_yearless);
    RUN(t_yearless_random);
    RUN(t_parse_forms);
    RUN(t_parse_errors);
    RUN(t_duration);
    RUN(t_format);
    RUN(t_ago);
    return check_done();
}
