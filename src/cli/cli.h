/*
 * cli - the command table and what every subcommand shares.
 *
 * Exit codes (documented in `mailwarden help` and README):
 *   0  success (also when some input had problems that were reported as warnings)
 *   1  the work could not be done: no input could be read, daemon unreachable, I/O failure
 *   2  usage error or invalid configuration
 * Conventions: -h/--help on every command, --json for machine output, --since/--until/--now
 * in the one time syntax (util/timeparse.h), -c DIR for configuration, --db PATH for the
 * database.
 */
#ifndef MW_CLI_H
#define MW_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the command name */
    const char *summary;                 /* one line for `mailwarden help` */
    const char *usage;                   /* full help text for `help CMD` / CMD --help */
};

/* Every command, in the order `help` lists them (cli/main.c). */
extern const struct command cmd_offenders;
extern const struct command cmd_trace;
extern const struct command cmd_queue;
extern const struct command cmd_logins;
extern const struct command cmd_postlogin;
extern const struct command cmd_summary;
extern const struct command cmd_regex;
extern const struct command cmd_guard, cmd_status, cmd_ban, cmd_unban, cmd_banned, cmd_reload,
    cmd_block, cmd_unblock, cmd_ping, cmd_version, cmd_stop, cmd_metrics, cmd_simulate, cmd_explain;

/* Print a command's help text to f. */
void cli_help(const struct command *c, FILE *f);
/* For getopt error paths: "try 'mailwarden CMD --help'". Returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The time window shared by report commands. Filled by cli_time_opt(); `now` is --now or the
 * current time; since/until are INT64_MIN/INT64_MAX when not given. ref_given tells whether
 * --now was given (then it is also the reference for year-less stamps; otherwise each file's
 * mtime is).
 */
struct timewin {
    int64_t now, since, until;
    bool ref_given;
    const char *since_s, *until_s;
};
void timewin_init(struct timewin *w);
/* Handle --since/--until/--now values; returns 0 or prints an error and returns -1. Call
 * timewin_finish() after all options were seen (relative times need the final --now). */
int timewin_set(struct timewin *w, const char *opt, const char *val);
int timewin_finish(struct timewin *w);

/* The default log when no file is given: /var/log/mail.log, else /var/log/maillog. */
const char *cli_default_log(void);

/*
 * Options every log-reading report command shares. Use CLI_COMMON_LONGOPTS inside the
 * command's getopt_long table and pass unknown option codes to cli_common_opt().
 */
enum {
    OPT_SINCE = 0x1000, OPT_UNTIL, OPT_NOW, OPT_JSON, OPT_ROTATED, OPT_THREADS, OPT_DB,
    OPT_SYSLOG_NAME, OPT_STATS, OPT_JOURNAL, OPT_JOURNAL_FILE, OPT_JOURNAL_MATCH, OPT_COMMON_END
};
#define CLI_COMMON_LONGOPTS \
    { "since", required_argument, NULL, OPT_SINCE }, \
    { "until", required_argument, NULL, OPT_UNTIL }, \
    { "now", required_argument, NULL, OPT_NOW }, \
    { "json", no_argument, NULL, OPT_JSON }, \
    { "rotated", no_argument, NULL, OPT_ROTATED }, \
    { "threads", required_argument, NULL, OPT_THREADS }, \
    { "syslog-name", required_argument, NULL, OPT_SYSLOG_NAME }, \
    { "stats", no_argument, NULL, OPT_STATS }, \
    { "journal", no_argument, NULL, OPT_JOURNAL }, \
    { "journal-file", required_argument, NULL, OPT_JOURNAL_FILE }, \
    { "journal-match", required_argument, NULL, OPT_JOURNAL_MATCH }

struct cli_common {
    struct timewin tw;
    bool json, rotated;
    int threads;
    const char *syslog_name;
    bool stats;            /* --stats: input statistics on stderr after the report */
    bool journal;          /* --journal / --journal-file PATH */
    const char *journal_file;
    const char *matches[17];   /* --journal-match (up to 16), NULL-terminated */
    int nmatches;
};
/* Help text for the input options every log-reading command shares. */
#define CLI_INPUT_HELP \
    "  --rotated        read each LOG's logrotate family (LOG.N, LOG.N.gz, LOG-DATE...), oldest first\n" \
    "  --journal        read the systemd journal instead of files (with --since: from then on)\n" \
    "  --journal-file P a journal file or a directory of them (e.g. copied from another host)\n" \
    "  --journal-match M  journalctl-style match, e.g. _SYSTEMD_UNIT=postfix@-.service; '+' for OR\n" \
    "  --threads N      worker threads (default: CPUs)\n" \
    "  --stats          input statistics on stderr (lines, unparsed, other programs)\n"
void cli_common_init(struct cli_common *c);
/* 1: handled, 0: not a common option, -1: bad value (message printed). */
int cli_common_opt(struct cli_common *c, int opt, const char *arg);
/* Fill scan options from the common options and the remaining arguments (the logs). */
struct scan_opts;
int cli_scan_opts(struct cli_common *c, int argc, char **argv, struct scan_opts *so);
/* With --stats: lines, bytes, cut lines, lines without a syslog envelope, and lines of
 * programs no parser models, per program (the top 20). */
struct scan_stats;
void cli_print_stats(const struct cli_common *c, const struct scan_stats *st);

#endif
