/*
 * jailfilter - what turns a log line into failures for a jail. One interface for the built-in
 * mail filters (builtin_filters.c: mailwarden-postfix, mailwarden-dovecot, mailwarden-sshd,
 * working on the parsed line model of parse/event.h, so the host only ever comes from the
 * structural slot its daemon writes it in) and for fail2ban filters run by the fail2ban
 * filter engine (regexes over the raw line, --fail2ban-compat).
 *
 * A filter instance belongs to one jail and may keep small, capped state across lines
 * (Dovecot sessions, sshd pids) so that one attempt logged twice counts once.
 *
 * Ownership: jfilter_free() releases an instance. Errors: filter_new_*() return NULL with a
 * message; matching never fails (a line that cannot be matched is no failure).
 */
#ifndef MW_JAILFILTER_H
#define MW_JAILFILTER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "parse/event.h"

#define JFILTER_MAXHITS 4

struct jfilter_hit {
    struct ipaddr ip;
    unsigned n;                 /* failures this line stands for (Dovecot "N attempts") */
    int64_t t;                  /* time of the failure (the line's time) */
    const char *rule;           /* static name of what matched, for `explain` */
};

struct jfilter_ops {
    /* Failures on this line (at most max), 0 when none. ev is the parsed line (always
     * given); line the raw text. *why (may be NULL) gets a static reason when there is no
     * failure and the line is of the filter's daemon (for `explain`). */
    size_t (*match)(void *st, const struct event *ev, struct str line, struct jfilter_hit *out,
                    size_t max, const char **why);
    void (*free)(void *st);
    /* Optional: the reference time for dates without a year or day (the daemon's clock, or
     * simulate's --now / the file's mtime), set before the lines it applies to. */
    void (*set_ref)(void *st, int64_t ref);
};

struct jfilter {
    const struct jfilter_ops *ops;
    void *st;
    char *name;                 /* "mailwarden-postfix[mode=aggressive]" */
};

/* Is name one of the built-in filters ("mailwarden-postfix" ...)? */
bool jfilter_is_builtin(const char *name);
/* A built-in filter with its options (mode=normal|auth|aggressive|...). */
struct jfilter *jfilter_new_builtin(const char *name, const char *mode, char *err, size_t errlen);
/* The modes a built-in filter accepts (for messages), "" when unknown. */
const char *jfilter_builtin_modes(const char *name);
/* The default journalmatch of a built-in filter (fail2ban syntax, "+" = OR), NULL if none. */
const char *jfilter_builtin_journalmatch(const char *name);
void jfilter_free(struct jfilter *f);
/* What a built-in filter looks at: the source, the event kinds (EV_BIT mask) whose lines can
 * give failures or change its state, and for Postfix the daemons that write such lines
 * (*services: NULL-terminated names matched after the program's last '/', or NULL: any);
 * other lines need no parsing beyond the envelope (parse_prog_may_be) and may be skipped.
 * false for filters that are not built-in. */
bool jfilter_builtin_interest(const struct jfilter *f, enum ev_src *src, uint64_t *kinds,
                              const char *const **services);
/* A fail2ban filter from confdir/filter.d (spec "name[arg=value, ...]") run by the fail2ban
 * filter engine (multi-line and F-MLFID filters included); f2b_jailfilter.c. */
struct jfilter *jfilter_new_f2b(const char *confdir, const char *spec, char *err, size_t errlen);
/* The journalmatch a fail2ban filter file defines ([Init]/[Definition], several lines joined
 * with " + " as fail2ban adds them as alternatives): malloc'd, caller frees; NULL when it
 * defines none or cannot be read (then *err is set when it cannot be read). */
char *jfilter_f2b_journalmatch(const char *confdir, const char *spec, char *err, size_t errlen);

#endif
