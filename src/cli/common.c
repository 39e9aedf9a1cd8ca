/* common - option handling shared by the report commands (see cli.h). */
#include "cli/cli.h"
#include "parse/scan.h"
#include "util/msg.h"
#include <stdlib.h>
#include <string.h>

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
