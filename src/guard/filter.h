/*
 * filter - what every filter yields: failures. A filter turns log lines into failure
 * records (who failed, when, as whom); the jail/ban engine and `mailwarden regex` consume
 * them and never care how a filter works.
 *
 * Two kinds implement this interface:
 *   - fail2ban filter files (guard/f2b_filter.h): failregex/ignoreregex/prefregex...;
 *   - built-in filters (e.g. "mailwarden-postfix"), registered in filter_builtins[]
 *     (guard/filter.c): structural parsers that take the host only from the slot its writer
 *     puts it in.
 * filter_open() looks a name up among the built-ins first, then among filter files.
 *
 * Ownership: a struct failure and everything it points to is borrowed and valid only during
 * the callback; copy what you keep. A struct filter is released with filter_close().
 * Not thread-safe: one filter instance per input stream (filters keep state across lines:
 * multi-line buffers, connection ids).
 */
#ifndef MW_FILTER_H
#define MW_FILTER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/ipaddr.h"
#include "util/str.h"

struct ini_vars;

struct failure_field {
    const char *key;          /* capture name, e.g. "ip4", "fid", "user" */
    struct str val;
};

struct failure {
    uint64_t line;            /* 1-based line of the input where the failure is reported */
    bool has_time;
    double time;              /* epoch seconds (fractions possible) */
    struct str host;          /* the failure id: canonical IP, else hostname as written, else F-ID */
    struct ipaddr ip;         /* family 0 when host is not an address */
    bool has_user;
    struct str user;
    const struct str *users;  /* multi-line failures: every user of that connection */
    size_t nusers;
    unsigned attempts;        /* log lines that make up this failure */
    const struct str *lines;  /* those lines (fail2ban's <matches>) */
    size_t nlines;
    int regex;                /* index of the failregex (fail2ban filters), -1 otherwise */
    const struct failure_field *fields;   /* the other captures */
    size_t nfields;
};

typedef void (*failure_cb)(void *ud, const struct failure *f);

/* What a line was, for statistics. */
enum filter_verdict { FV_MISSED, FV_MATCHED, FV_IGNORED };

struct filter_line {
    struct str text;
    uint64_t lineno;
    bool has_time;            /* the time is known (journal entries): no date detection */
    double time;
};

/* Every line fed, with its verdict (batch interfaces). */
typedef void (*verdict_cb)(void *ud, uint64_t lineno, struct str text, enum filter_verdict v);

struct filter_batch {
    failure_cb failure;       /* each failure, in line order */
    verdict_cb line;          /* each line fed, in order, after its failures */
    void *ud;
    int threads;              /* threads the filter may use (1: the caller's only) */
};

#define FILTER_SKIP_COMMENTS 0x1   /* feed_text: skip empty lines and lines starting with '#' */

struct filter;
struct filter_ops {
    const char *kind;                                   /* "fail2ban", "builtin" */
    /* Feed one line: calls cb for each failure (0..n), returns the verdict. */
    enum filter_verdict (*feed)(struct filter *f, const struct filter_line *ln, failure_cb cb, void *ud);
    void (*close)(struct filter *f);
    /* Optional batch forms, with the results of feed() on each line in order (the stateless
     * per-line work may run on several threads):
     * feed_lines: lines[0..n);
     * feed_text: the lines of a buffer of whole lines (split as lines_next() does), numbered
     * from first; returns the number of lines in text, skipped ones included. */
    void (*feed_lines)(struct filter *f, const struct filter_line *lines, size_t n, const struct filter_batch *b);
    uint64_t (*feed_text)(struct filter *f, const char *text, size_t len, uint64_t first, unsigned flags,
                          const struct filter_batch *b);
};

struct filter {
    const struct filter_ops *ops;
    char *name;
    void *impl;
};

struct filter_builtin {
    const char *name;                                   /* "mailwarden-postfix" */
    const char *summary;
    /* Create an instance with the given options (mode=aggressive ...); now is the reference
     * time for year-less stamps; NULL + message. */
    struct filter *(*open)(const struct ini_vars *opts, int64_t now, char *err, size_t errlen);
};

/* The built-in filters, terminated by an entry with name NULL. */
extern const struct filter_builtin filter_builtins[];
const struct filter_builtin *filter_builtin_find(const char *name);

static inline enum filter_verdict filter_feed(struct filter *f, const struct filter_line *ln,
                                              failure_cb cb, void *ud)
{
    return f->ops->feed(f, ln, cb, ud);
}
void filter_close(struct filter *f);

#endif
