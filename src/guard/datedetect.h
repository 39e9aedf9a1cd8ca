/*
 * datedetect - fail2ban's date detection (server/datedetector.py, datetemplate.py,
 * strptime.py), so that a filter finds the same date in the same place of a line:
 *   - the default template list (ISO 8601, asctime/syslog, Apache, Epoch, TAI64N, ...), each
 *     also as a {^LN-BEG} line-anchored copy tried first;
 *   - datepattern values: "%"-formats with fail2ban's extensions (%ExY %Exy %Exm %Exd %ExH
 *     %ExM %ExS %Exk %Exl %ExZ %Exz %k %l %f %z %Z ...), {^LN-BEG}, {UNB}, {DATE}, {NONE},
 *     {DEFAULT}, EPOCH/LEPOCH/{EPOCH}, TAI64N, plain regexes;
 *   - the template search heuristics (last template first, distance collisions, bubbling
 *     often used templates up), per detector;
 *   - strptime semantics: year-less dates get now's year unless that puts them more than a
 *     day after now (then the year before), time-only dates get today (yesterday if in the
 *     future), zone-less dates are local time per TZ (mktime), %z/%Z offsets, fractions of
 *     seconds ignored except for epoch stamps.
 *
 * A dd_set (the compiled templates of one datepattern) is immutable after dd_set_new() and
 * may be shared by threads; each thread uses its own struct datedetect (state + hit counts).
 * Ownership: dd_set_free(), dd_free(). Errors: dd_set_new() returns NULL with a message.
 */
#ifndef MW_DATEDETECT_H
#define MW_DATEDETECT_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "guard/f2b_regex.h"

struct dd_template;

struct dd_set {
    struct dd_template **t;    /* in detector order */
    size_t n;
    int default_tz;            /* minutes east of UTC when set (--timezone) */
    bool has_default_tz;
};

/* One template in a detector (DateDetectorTemplate): shared template + own statistics. */
struct dd_entry {
    const struct dd_template *t;
    uint64_t hits;             /* lines whose date this template supplied */
    uint64_t mhits;            /* successful searches (template.hits in fail2ban) */
    double last_used;
    long distance;
};

struct datedetect {
    const struct dd_set *set;
    struct dd_entry *e;
    size_t n;
    long last_pos, last_end;           /* position of the last date */
    int last_pos_c1, last_pos_c2;      /* char before / at the start (-1: none, -2: never) */
    int last_end_c1, last_end_c2;      /* char before / at the end */
    size_t last_idx;                   /* SIZE_MAX: none yet */
    size_t first_unused;
    struct tcache_dd { int64_t key; int64_t base; bool ok; } tc;
};

struct dd_now {                 /* "now" for year/day completion */
    int64_t t;                  /* epoch seconds */
    int y, mo, d, h, mi, s;     /* broken down, local time */
};

/*
 * Build the templates for a datepattern value (several patterns separated by newlines);
 * NULL or "" means fail2ban's defaults. tz: NULL or a --timezone value ("UTC", "UTC+0200",
 * "CET"...). NULL on error with a message in err.
 */
struct dd_set *dd_set_new(const char *datepattern, const char *tz, char *err, size_t errlen);
void dd_set_free(struct dd_set *s);
/* Template name as fail2ban-regex prints it. */
const char *dd_template_name(const struct dd_template *t);

void dd_init(struct datedetect *dd, const struct dd_set *set);
void dd_free(struct datedetect *dd);
void dd_now_set(struct dd_now *now, int64_t t);

/*
 * Find the date in line[0..len). Returns 0 when no template matched; 1 when one did: the
 * date text is line[*s .. *e) (may be empty), *date is set and *has_date true if it could be
 * converted (a template can match text that is not a valid date, e.g. Feb 30).
 * *tpl is the index into dd->e of the template used.
 */
int dd_match(struct datedetect *dd, struct f2b_mctx *mx, const struct dd_now *now,
             const char *line, size_t len, size_t *s, size_t *e, double *date, bool *has_date,
             size_t *tpl);

/* Helpers shared with the tests: a naive local date-time through mktime (cached per hour). */
int64_t dd_mktime(struct datedetect *dd, int y, int mo, int d, int h, int mi, int s);

#endif
