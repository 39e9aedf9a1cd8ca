/*
 * f2b_filter - fail2ban filters: loading a filter (a filter.d file with its includes,
 * .local files and arguments, or a bare regex) and running it over lines exactly as
 * fail2ban's Filter.processLine/findFailure do: date detection and cut, prefregex with
 * <F-CONTENT>, failregex/ignoreregex, <F-ID>/<HOST>/... failure ids, <F-USER>/<F-ALT_*>/
 * <F-TUPLE_*> captures, multi-line failures by <F-MLFID> (<F-NOFAIL>, <F-MLFFORGET>,
 * <F-MLFGAINED>, a cache of 100 connections), maxlines buffers with <SKIPLINES>.
 *
 * Two layers:
 *   struct f2b_def     the compiled filter (immutable once loaded; shareable by threads);
 *   struct f2b_engine  one input stream's state (line buffer, connection cache, date
 *                      detector, statistics). f2b_engine_feed() takes a batch of lines; for
 *                      single-line filters with large batches the pure per-line work (date
 *                      detection, regex matching) runs on several threads and the stateful
 *                      part (fail2ban's merge logic) then runs in line order, so results do
 *                      not depend on the thread count (except the date template ordering
 *                      heuristics, which each thread keeps for its own lines).
 *
 * Hostile input: every regex runs under PCRE2 limits (a line hitting one is counted in
 * stats.limit_hits and treated as not matching); captured text is copied with its length;
 * the connection cache is capped (100, FIFO, as fail2ban).
 * Ownership: f2b_def_free(), f2b_engine_free(). Callback data is valid during the callback.
 */
#ifndef MW_F2B_FILTER_H
#define MW_F2B_FILTER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "guard/filter.h"
#include "guard/f2b_regex.h"
#include "guard/datedetect.h"
#include "guard/ini.h"

struct f2b_load {
    const char *const *dirs;      /* filter.d directories searched for a filter name, in order */
    size_t ndirs;
    const struct ini_vars *args;  /* filter arguments (override FILTER[k=v] ones) */
    const char *datepattern;      /* overrides the filter's (fail2ban-regex -d) */
    int maxlines;                 /* > 0 overrides the filter's (-L) */
    const char *usedns;           /* "yes" (default, as fail2ban's "warn"), "no", "raw" */
    const char *logtype;          /* default for the filter's logtype ("file"; "journal") */
    const char *timezone;         /* --timezone, NULL: local time */
    bool journal;                 /* lines have no date (time = now): no date detection */
    bool file_only;               /* spec must name a filter file, never a regex (jails) */
};

struct f2b_def {
    char *name;                   /* filter name or "regex" */
    char *file;                   /* main file, NULL for a regex from the command line */
    struct f2b_re *pref;          /* NULL: none */
    struct f2b_re **fail;
    size_t nfail;
    struct f2b_re **ign;
    size_t nign;
    int maxlines;
    char *datepattern;            /* as configured (NULL: defaults) */
    struct dd_set *dates;         /* NULL: no date detection */
    char **journalmatch;
    size_t njournalmatch;
    bool usedns_no;
    struct f2b_ac *ac;            /* literal prefilters of the fail/ignore regexes, one pass */
    struct f2b_ac *ac_pre;        /* and of the prefregex */
    uint64_t fail_anymask;        /* literals of all failregexes (0: some has none) */
};

/*
 * Load FILTER|REGEX the way fail2ban-regex does: a name (optionally "name[k=v,...]") found
 * as DIR/name.conf|.local in one of o->dirs, a path to a filter file, else a failregex.
 * ignore: an IGNOREREGEX from the command line or NULL. Returns 0, or -1 with a message.
 */
int f2b_def_load(struct f2b_def **out, const char *spec, const char *ignore, const struct f2b_load *o,
                 char *err, size_t errlen);
void f2b_def_free(struct f2b_def *d);
/* Does spec look like a filter name/path (fail2ban-regex's test)? */
bool f2b_spec_is_filter(const char *spec);

struct f2b_opts {
    bool check_all;               /* try every failregex on a line (fail2ban-regex default) */
    bool ignore_pending;          /* do not keep pending multi-line failures (fail2ban-regex -o) */
    int64_t now;                  /* reference time (--now) */
    int threads;                  /* worker threads for big batches (1: sequential) */
};

struct f2b_stats {
    uint64_t *fail_hits;          /* per failregex */
    uint64_t *ign_hits;           /* per ignoreregex */
    uint64_t pref_hits;
    uint64_t lines, matched, ignored, missed;
    uint64_t limit_hits;          /* lines abandoned at a PCRE2 limit */
};

struct f2b_cbs {
    /* each reported failure (fid known, not F-NOFAIL), in line order */
    void (*failure)(void *ud, const struct failure *f);
    /* every line with its verdict */
    void (*line)(void *ud, uint64_t lineno, struct str text, enum filter_verdict v);
    /* multi-line: an earlier line, counted as missed, turned out to be part of a match */
    void (*rematched)(void *ud, struct str text);
};

struct f2b_engine;
struct f2b_engine *f2b_engine_new(const struct f2b_def *def, const struct f2b_opts *o);
void f2b_engine_free(struct f2b_engine *e);
/* Process lines[0..n) in order (line numbers and known times in struct filter_line). */
void f2b_engine_feed(struct f2b_engine *e, const struct filter_line *lines, size_t n,
                     const struct f2b_cbs *cb, void *ud);
/*
 * Process a buffer of whole lines (a mapped file's region ending at a line end): the threads
 * also split the lines, each its share of the buffer. first: line number of the first line.
 * Returns the number of lines in text (skipped ones included).
 */
#define F2B_FEED_SKIP_COMMENTS 0x1     /* skip empty lines and lines starting with '#' */
#define F2B_FEED_JOURNAL       0x2     /* the lines carry no date: time = now */
uint64_t f2b_engine_feed_text(struct f2b_engine *e, const char *text, size_t len, uint64_t first,
                              unsigned flags, const struct f2b_cbs *cb, void *ud);
/* Change the reference time (year-less and time-only dates, lines without a date). */
void f2b_engine_set_now(struct f2b_engine *e, int64_t now);
const struct f2b_stats *f2b_engine_stats(const struct f2b_engine *e);
/* Date template hits (winner counts) for template i of def->dates. */
uint64_t f2b_engine_date_hits(const struct f2b_engine *e, size_t i);

/* A fail2ban filter behind the generic interface of filter.h, with the daemon's semantics
 * (fail2ban's Filter defaults: sequential, first matching failregex only, pending
 * multi-line failures without an id not reported). */
struct filter *f2b_filter_open(const char *spec, const struct f2b_load *o, int64_t now,
                               char *err, size_t errlen);
/* Its reference time (see f2b_engine_set_now); f must come from f2b_filter_open. */
void f2b_filter_set_now(struct filter *f, int64_t now);

#endif
