/* common - option handling shared by the report commands (see cli.h). */
#include "cli/cli.h"
#include "parse/scan.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

void cli_common_init(struct cli_common *c)
{
    memset(c, 0, sizeof *c);
    timewin_init(&c->tw);
}

int cli_common_opt(struct cli_common *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_SINCE: return timewin_set(&c->tw, "since", arg) < 0 ? -1 : 1;
    case OPT_UNTIL: return timewin_set(&c->tw, "until", arg) < 0 ? -1 : 1;
    case OPT_NOW: return timewin_set(&c->tw, "now", arg) < 0 ? -1 : 1;
    case OPT_JSON: c->json = true; return 1;
    case OPT_ROTATED: c->rotated = true; return 1;
    case OPT_SYSLOG_NAME: c->syslog_name = arg; return 1;
    case OPT_STATS: c->stats = true; return 1;
    case OPT_JOURNAL: c->journal = true; return 1;
    case OPT_JOURNAL_FILE: c->journal = true; c->journal_file = arg; return 1;
    case OPT_JOURNAL_MATCH:
        if (c->nmatches >= 16) { msg_error("at most 16 --journal-match options"); return -1; }
        c->matches[c->nmatches++] = arg;
        c->journal = true;
        return 1;
    case OPT_THREADS: {
        char *end;
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 64) {
            msg_error("--threads %s: expected a number from 1 to 64", arg);
            return -1;
        }
        c->threads = (int)v;
        return 1;
    }
    }
    return 0;
}

int cli_scan_opts(struct cli_common *c, int argc, char **argv, struct scan_opts *so)
{
    static char *deflt[1];
    if (timewin_finish(&c->tw) < 0) return -1;
    memset(so, 0, sizeof *so);
    if (c->journal && argc > 0) {
        msg_error("--journal/--journal-file and LOG files exclude each other");
        return -1;
    }
    so->journal = c->journal;
    so->journal_path = c->journal_file;
    so->journal_matches = c->nmatches ? c->matches : NULL;
    if (argc > 0) {
        so->paths = argv;
        so->npaths = (size_t)argc;
    } else {
        deflt[0] = (char *)cli_default_log();
        so->paths = deflt;
        so->npaths = 1;
    }
    so->rotated = c->rotated;
    so->since = c->tw.since;
    so->until = c->tw.until;
    so->ref = c->tw.ref_given ? c->tw.now : 0;
    so->threads = c->threads;
    so->parse.syslog_name = c->syslog_name ? str_c(c->syslog_name) : STR_NULL;
    so->progress = true;
    return 0;
}

struct progcount { struct str prog; uint64_t n; };

static int progcount_cmp(const void *a, const void *b)
{
    const struct progcount *x = a, *y = b;
    return x->n != y->n ? (x->n > y->n ? -1 : 1) : 0;
}

void cli_print_stats(const struct cli_common *c, const struct scan_stats *st)
{
    if (!c->stats) return;
    fprintf(stderr, "input: %llu file(s) (%llu unreadable), %llu lines, %llu bytes, %llu cut at %d KiB\n",
            (unsigned long long)st->files, (unsigned long long)st->files_failed,
            (unsigned long long)st->lines, (unsigned long long)st->bytes,
            (unsigned long long)st->cut_lines, 64);
    fprintf(stderr, "input: %llu lines without a syslog envelope, %llu outside --since/--until\n",
            (unsigned long long)st->unparsed, (unsigned long long)st->out_of_window);
    size_t n = hmap_count(&st->other_progs), i = 0, it = 0;
    struct progcount *pc = xcalloc(n + 1, sizeof *pc);
    struct str k;
    void *v;
    while (hmap_next(&st->other_progs, &it, &k, &v)) pc[i++] = (struct progcount){ k, *(uint64_t *)v };
    qsort(pc, n, sizeof *pc, progcount_cmp);
    for (i = 0; i < n && i < 20; i++)
        fprintf(stderr, "input: %10llu lines of %.*s (not modelled)\n", (unsigned long long)pc[i].n, STR_FMT(pc[i].prog));
    free(pc);
}

void cli_help(const struct command *c, FILE *f)
{
    fputs(c->usage, f);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mailwarden %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'mailwarden %s --help'\n", cmd);
    return EXIT_USAGE;
}

void timewin_init(struct timewin *w)
{
    memset(w, 0, sizeof *w);
    w->now = (int64_t)time(NULL);
    w->since = INT64_MIN;
    w->until = INT64_MAX;
}

int timewin_set(struct timewin *w, const char *opt, const char *val)
{
    if (strcmp(opt, "now") == 0) {
        char err[256];
        if (mwtime_parse(val, (int64_t)time(NULL), &w->now, err, sizeof err) < 0) {
            msg_error("--now %s: %s", val, err);
            return -1;
        }
        w->ref_given = true;
    } else if (strcmp(opt, "since") == 0) {
        w->since_s = val;
    } else if (strcmp(opt, "until") == 0) {
        w->until_s = val;
    }
    return 0;
}

int timewin_finish(struct timewin *w)
{
    char err[256];
    if (w->since_s && mwtime_parse(w->since_s, w->now, &w->since, err, sizeof err) < 0) {
        msg_error("--since %s: %s", w->since_s, err);
        return -1;
    }
    if (w->until_s && mwtime_parse(w->until_s, w->now, &w->until, err, sizeof err) < 0) {
        msg_error("--until %s: %s", w->until_s, err);
        return -1;
    }
    return 0;
}

const char *cli_default_log(void)
{
    if (access("/var/log/mail.log", F_OK) == 0) return "/var/log/mail.log";
    if (access("/var/log/maillog", F_OK) == 0) return "/var/log/maillog";
    return "/var/log/mail.log";
}

