/* cmd_summary - `mailwarden summary`: pflogsumm's report and more (report/summary.h). */
#include "cli/cli.h"
#include "report/summary.h"
#include "util/msg.h"
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: mailwarden summary [-d today|yesterday] [--detail N] [--top-hosts N] [--top-users N]\n"
    "                          [--problems-first] [--zero-fill] [--verbose-msg-detail]\n"
    "                          [-i|--ignore-case] [--iso-date-time] [--smtpd-stats] [--by-host]\n"
    "                          [--syslog-name NAME] [--since T] [--until T] [--now T]\n"
    "                          [--json] [--html FILE] [--rotated] [--threads N] [--stats]\n"
    "                          [LOG...|--journal|--journal-file P]\n"
    "\n"
    "What the mail server did: pflogsumm's report with pflogsumm's counting rules (Grand\n"
    "Totals, per-day and per-hour traffic, per-domain delivery and reception, senders and\n"
    "recipients, deferral/bounce/reject detail, warnings, fatal errors, panics, master\n"
    "messages, SMTPD connection statistics), then what pflogsumm leaves out: expired mail,\n"
    "content-filter re-injection counted once, SMTP AUTH, postscreen, TLS, IPv6 clients,\n"
    "Dovecot logins, auth failures and LMTP deliveries.\n"
    "\n"
    "  -d today|yesterday   only that calendar day (relative to --now); year-less stamps\n"
    "                       take their year from each file's modification time\n"
    "  --detail N           limit every detail list and top list to N rows (0: suppress)\n"
    "  --top-hosts N        rows of the host/domain summaries (pflogsumm -h; 0: none)\n"
    "  --top-users N        rows of the sender/recipient lists (pflogsumm -u; 0: none)\n"
    "  --problems-first     problem reports before the traffic tables\n"
    "  --zero-fill          every day in the per-day table, also days without traffic\n"
    "  --verbose-msg-detail full reject/deferral/bounce texts, not trimmed\n"
    "  -i, --ignore-case    lower-case whole addresses (default: only the domain part)\n"
    "  --iso-date-time      2026-11-22 and 21:00-22:00 instead of Nov 22 2026 and 2100-2200\n"
    "  --smtpd-stats        SMTPD connection counts and times per day, hour and host\n"
    "  --by-host            a per-syslog-host table (central log servers)\n"
    "  --syslog-name NAME   also count Postfix lines logged as NAME/... (multi-instance)\n"
    "  --since T, --until T time window;  --now T  reference time (year-less stamps, -d)\n"
    "  --json               every figure as one JSON document (docs/summary-json.md)\n"
    "  --html FILE          also write a self-contained HTML report with charts to FILE\n"
    "                       (- : the HTML goes to stdout instead of the text report)\n"
    CLI_INPUT_HELP
    "  LOG                  files (plain, .gz, .xz, .zst) or - for stdin;\n"
    "                       default /var/log/mail.log (or /var/log/maillog)\n"
    "\n"
    "Exit: 0 when the logs could be read, 1 when no input could be read or the report could\n"
    "not be written, 2 usage error.\n";

enum {
    O_DETAIL = OPT_COMMON_END + 1, O_TOPH, O_TOPU, O_PF, O_ZF, O_VMD, O_ISO, O_SMTPD, O_BYHOST, O_HTML,
};

static int num(const char *opt, const char *arg, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (*end || !*arg || v < 0 || v > 1000000000 || errno) {
        cli_usage_error("summary", "%s wants a number, not '%s'", opt, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* [day start, next day start) of the local calendar day `back` days before now */
static void day_window(int64_t now, int back, int64_t *from, int64_t *to, char *label, size_t cap)
{
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = (time_t)now;
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday -= back;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t a = mktime(&tm);
    snprintf(label, cap, "%s %2d", mon[tm.tm_mon], tm.tm_mday);
    tm.tm_mday += 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t b = mktime(&tm);
    *from = (int64_t)a;
    *to = (int64_t)b - 1;
}

static struct summary *volatile finished_report;   /* see the end of run() */

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "detail", required_argument, NULL, O_DETAIL },
        { "top-hosts", required_argument, NULL, O_TOPH },
        { "top-users", required_argument, NULL, O_TOPU },
        { "problems-first", no_argument, NULL, O_PF },
        { "zero-fill", no_argument, NULL, O_ZF },
        { "verbose-msg-detail", no_argument, NULL, O_VMD },
        { "ignore-case", no_argument, NULL, 'i' },
        { "iso-date-time", no_argument, NULL, O_ISO },
        { "smtpd-stats", no_argument, NULL, O_SMTPD },
        { "by-host", no_argument, NULL, O_BYHOST },
        { "html", required_argument, NULL, O_HTML },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct cli_common co;
    cli_common_init(&co);
    struct summary_opts so;
    summary_opts_init(&so);
    int detail = -1, toph = -1, topu = -1;
    bool toph_set = false, topu_set = false;
    const char *day = NULL, *html = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:i", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (strcmp(optarg, "today") && strcmp(optarg, "yesterday"))
                return cli_usage_error("summary", "-d wants 'today' or 'yesterday', not '%s'", optarg);
            day = optarg;
            break;
        case 'i': so.ignore_case = true; break;
        case O_DETAIL: if (num("--detail", optarg, &detail) < 0) return EXIT_USAGE; break;
        case O_TOPH: if (num("--top-hosts", optarg, &toph) < 0) return EXIT_USAGE; toph_set = true; break;
        case O_TOPU: if (num("--top-users", optarg, &topu) < 0) return EXIT_USAGE; topu_set = true; break;
        case O_PF: so.problems_first = true; break;
        case O_ZF: so.zero_fill = true; break;
        case O_VMD: so.verbose_msg_detail = true; break;
        case O_ISO: so.iso_date_time = true; break;
        case O_SMTPD: so.smtpd_stats = true; break;
        case O_BYHOST: so.by_host = true; break;
        case O_HTML: html = optarg; break;
        case '?':
            return cli_usage_error("summary", "unknown option");
        default: {
            int r = cli_common_opt(&co, c, optarg);
            if (r < 0) return EXIT_USAGE;
            if (r == 0) return cli_usage_error("summary", "unknown option");
        }
        }
    }
    if (detail >= 0) {
        so.bounce_detail = so.deferral_detail = so.smtp_detail = so.smtpd_warn_detail = so.reject_detail = detail;
        so.top_hosts = so.top_users = detail;
    }
    if (toph_set) so.top_hosts = toph;
    if (topu_set) so.top_users = topu;
    if (co.syslog_name) so.syslog_name = str_c(co.syslog_name);
    so.threads = co.threads;
    struct scan_opts sco;
    if (cli_scan_opts(&co, argc - optind, argv + optind, &sco) < 0) return EXIT_USAGE;
    /* pflogsumm counts "postfix/..." and NAME/... lines: the parser must see both */
    sco.parse.syslog_name = STR_NULL;
    if (day) {
        int64_t a, b;
        day_window(co.tw.now, strcmp(day, "yesterday") == 0, &a, &b, so.date_label, sizeof so.date_label);
        if (a > sco.since) sco.since = a;
        if (b < sco.until) sco.until = b;
        /* which calendar day a year-less stamp is on depends on its year: take it from each
         * file's modification time, not from --now, so that a rotated log of a year ago
         * does not count as "yesterday" */
        sco.ref = 0;
    }

    /* A one-shot report: freed memory is kept for reuse instead of being unmapped or trimmed
     * and faulted in again (the tables sorted for the report are megabytes each; on a VM a
     * page fault costs microseconds): on a 1 GB log the report printed in 35 ms instead of
     * 50 when this came in. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    struct summary *s = summary_new(&so);
    struct scan_consumer cons = summary_consumer(s);
    struct scan_stats st;
    int rc = scan_run(&sco, &cons, &st);
    if (rc < 0) {
        msg_error("no input could be read");
        scan_stats_free(&st);
        summary_free(s);
        return EXIT_FAIL;
    }
    summary_finish(s, &st);
    cli_print_stats(&co, &st);
    scan_stats_free(&st);
    int ret = EXIT_OK;
    bool html_stdout = html && strcmp(html, "-") == 0;
    if (html && !html_stdout) {
        FILE *hf = fopen(html, "w");
        if (!hf) {
            msg_error("%s: %s", html, strerror(errno));
            ret = EXIT_FAIL;
        } else {
            summary_print_html(s, hf);
            if (fclose(hf) != 0) { msg_error("%s: write failed", html); ret = EXIT_FAIL; }
        }
    }
    if (html_stdout) summary_print_html(s, stdout);
    else if (co.json) summary_print_json(s, stdout);
    else summary_print_text(s, stdout);
    /* The process ends now: freeing the report's tables key by key took 10 ms of a 0.6 s run
     * on a 1 GB log, and the kernel takes the memory back at once. Kept reachable, so leak
     * checkers see no leak. */
    finished_report = s;
    if (fflush(stdout) != 0) ret = EXIT_FAIL;
    return ret;
}

const struct command cmd_summary = {
    "summary", run, "pflogsumm's report, faster, with Dovecot/TLS/SASL/postscreen (text, JSON, HTML)", usage,
};
