/* cmd_trace - `mailwarden trace`: where did a message go (report/trace.h). */
#include "cli/cli.h"
#include "report/trace.h"
#include "util/msg.h"
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mailwarden trace WHAT [-v] [--json] [--since T] [--until T] [--now T]\n"
    "                        [--max N] [--rotated] [LOG...]\n"
    "\n"
    "The story of a message from the mail log: the smtpd session that received it, cleanup,\n"
    "the queue manager, every delivery attempt per recipient (state, DSN explained, remote\n"
    "reply, delays explained), bounce and delay notifications, removal; hops inside the logs\n"
    "given (\"forwarded as\", content filters and relays answering \"queued as NEWID\") are\n"
    "followed, a remote \"queued as\" is printed as the ID to quote to that postmaster.\n"
    "\n"
    "WHAT is one of\n"
    "  a queue ID      4jXhgS3WcNz81xv or 5876D1045C9: that message in full\n"
    "  a Message-ID    '<id@host>' (quote it for the shell): every message carrying it\n"
    "  an address      alice@example.com (sender or recipient, exact bytes) or @domain:\n"
    "                  every matching message, newest first, one line each\n"
    "\n"
    "  -v, --verbose  for a Message-ID or address: the full story of each message\n"
    "  --json         one JSON document per message and line (schema: docs/trace-json.md)\n"
    "  --since T, --until T   only messages with a matching line in this window\n"
    "  --now T        reference time for year-less stamps\n"
    "  --max N        at most N messages, the newest (default 10000)\n"
    CLI_INPUT_HELP
    "  --debug        how the search went (passes, time, lines parsed) on stderr\n"
    "  LOG            files (plain, .gz, .xz, .zst) or - for stdin;\n"
    "                 default /var/log/mail.log (or /var/log/maillog)\n"
    "\n"
    "Only lines whose queue-ID slot is the message's ID belong to it: an ID quoted in a\n"
    "Subject or a remote reply does not pull lines in. Exit: 0 when the logs could be read\n"
    "(also when nothing matched), 1 when no input could be read, 2 usage error.\n";

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "verbose", no_argument, NULL, 'v' },
        { "max", required_argument, NULL, 'm' },
        { "debug", no_argument, NULL, 'd' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct cli_common co;
    cli_common_init(&co);
    struct trace_opts to;
    memset(&to, 0, sizeof to);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'v':
            to.verbose = true;
            break;
        case 'd':
            msg_set_verbose(1);
            break;
        case 'm': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || !*optarg || optarg[0] == '-' || v == 0 || v > 1000000)
                return cli_usage_error("trace", "--max wants a number from 1 to 1000000, not '%s'", optarg);
            to.max_messages = (size_t)v;
            break;
        }
        case '?':
            return cli_usage_error("trace", "unknown option");
        default: {
            int r = cli_common_opt(&co, c, optarg);
            if (r < 0) return EXIT_USAGE;
            if (r == 0) return cli_usage_error("trace", "unknown option");
        }
        }
    }
    if (optind >= argc) return cli_usage_error("trace", "what should I trace? (queue ID, <Message-ID> or address)");
    to.what = argv[optind++];
    struct scan_opts so;
    if (cli_scan_opts(&co, argc - optind, argv + optind, &so) < 0) return EXIT_USAGE;
    to.json = co.json;
    to.since = co.tw.since;
    to.until = co.tw.until;
    char err[256];
    struct trace *t = trace_new(&to, err, sizeof err);
    if (!t) return cli_usage_error("trace", "'%s': %s", to.what, err);
    if (trace_run(t, &so) < 0) {
        msg_error("no input could be read");
        trace_free(t);
        return EXIT_FAIL;
    }
    if (co.json) trace_print_json(t, stdout);
    else trace_print_text(t, stdout);
    if (trace_input_stats(t)) cli_print_stats(&co, trace_input_stats(t));
    trace_free(t);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

const struct command cmd_trace = {
    "trace", run, "where did a message go: its story by queue ID, Message-ID or address", usage,
};
