/* cmd_offenders - `mailwarden offenders`: which client IPs keep failing. */
#include "cli/cli.h"
#include "report/offenders.h"
#include "util/msg.h"
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mailwarden offenders [--min N] [--last N] [--since T] [--until T] [--now T]\n"
    "                            [--json] [--rotated] [LOG...|--journal|--journal-file P]\n"
    "\n"
    "Every client IP (IPv4 and IPv6) in reject, authentication-failure and SASL-failure\n"
    "lines, with the number of failed attempts, a breakdown by category, and first and last\n"
    "seen; sorted by count, then IP. Each failed attempt counts once however many lines\n"
    "report it (see README: 'Counting rule').\n"
    "\n"
    "  --min N       only IPs with at least N failures (default 2)\n"
    "  --last N      only the last N lines of the input, like tail -n\n"
    "  --since T, --until T   time window;  --now T  reference time (year-less stamps)\n"
    "  --json        a JSON array of {\"ip\", \"count\", \"categories\", \"first\", \"last\"}\n"
    CLI_INPUT_HELP
    "  LOG           files (plain, .gz, .xz, .zst) or - for stdin;\n"
    "                default /var/log/mail.log (or /var/log/maillog)\n"
    "\n"
    "Categories: reject, content, postscreen, sasl, imap, pop3, submission, managesieve,\n"
    "dovecot, ssh.  Exit: 0 when the logs could be read (also when nobody qualifies),\n"
    "1 when no input could be read, 2 usage error.\n";

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "min", required_argument, NULL, 'm' },
        { "last", required_argument, NULL, 'l' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct cli_common co;
    cli_common_init(&co);
    unsigned long long min = 2, last = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm':
            min = strtoull(optarg, &end, 10);
            if (*end || !*optarg || optarg[0] == '-') return cli_usage_error("offenders", "--min wants a number, not '%s'", optarg);
            break;
        case 'l':
            last = strtoull(optarg, &end, 10);
            if (*end || !*optarg || optarg[0] == '-' || last == 0) return cli_usage_error("offenders", "--last wants a positive number, not '%s'", optarg);
            break;
        case '?':
            return cli_usage_error("offenders", "unknown option");
        default: {
            int r = cli_common_opt(&co, c, optarg);
            if (r < 0) return EXIT_USAGE;
            if (r == 0) return cli_usage_error("offenders", "unknown option");
        }
        }
    }
    struct scan_opts so;
    if (cli_scan_opts(&co, argc - optind, argv + optind, &so) < 0) return EXIT_USAGE;
    so.last_lines = last;
    so.parse.kinds = offenders_kinds();

    struct offenders *o = offenders_new();
    struct scan_consumer cons = offenders_consumer(o, !co.stats);
    struct scan_stats st;
    int rc = scan_run(&so, &cons, &st);
    if (rc < 0) {
        msg_error("no input could be read");
        scan_stats_free(&st);
        offenders_free(o);
        return EXIT_FAIL;
    }
    size_t n;
    const struct offender *rows = offenders_result(o, min, &n);
    if (co.json) offenders_print_json(stdout, rows, n);
    else offenders_print_text(stdout, rows, n);
    cli_print_stats(&co, &st);
    scan_stats_free(&st);
    offenders_free(o);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

const struct command cmd_offenders = {
    "offenders", run, "which client IPs keep failing (rejects, AUTH failures, logins, ssh)", usage,
};
