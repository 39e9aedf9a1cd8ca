/*
 * main - entry point: dispatch to a subcommand. Only here (and in configuration loading) may
 * the program decide to exit.
 */
#include "cli/cli.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

static const struct command *const commands[] = {
    &cmd_offenders,
    &cmd_logins,
    &cmd_postlogin,
    &cmd_guard,
    &cmd_status,
    &cmd_ban,
    &cmd_unban,
    &cmd_banned,
    &cmd_reload,
    &cmd_block,
    &cmd_unblock,
    &cmd_ping,
    &cmd_version,
    &cmd_stop,
    &cmd_simulate,
    &cmd_explain,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char general_help[] =
    "usage: mailwarden COMMAND [OPTIONS] [LOG...]\n"
    "       mailwarden help [COMMAND]\n"
    "       mailwarden --version\n"
    "\n"
    "One tool for Postfix + Dovecot servers: reads mail logs (plain, .gz/.xz/.zst, rotated\n"
    "families, stdin) and reports on them.\n"
    "\n"
    "Commands:\n";

static const char general_tail[] =
    "\n"
    "Common options: -h/--help, --json, --since T, --until T, --now T, -c DIR, --db PATH.\n"
    "Times: EPOCH, 2026-11-22[T21:00[:05]], 'Nov 22 21:00', 30m, 2h, 1d, today, yesterday.\n"
    "\n"
    "Exit status: 0 success (input problems are reported as warnings), 1 the work could not\n"
    "be done (no input readable, daemon unreachable), 2 usage or configuration error.\n";

static void general_usage(FILE *f)
{
    fputs(general_help, f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fputs(general_tail, f);
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
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

int main(int argc, char **argv)
{
    msg_set_progname("mailwarden");
    if (argc < 2) {
        general_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        general_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("mailwarden %s\n", MW_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            general_usage(stdout);
            return EXIT_OK;
        }
        const struct command *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "mailwarden: no command '%s'; see 'mailwarden help'\n", argv[2]);
            return EXIT_USAGE;
        }
        cli_help(c, stdout);
        return EXIT_OK;
    }
    const struct command *c = find(cmd);
    if (!c) {
        fprintf(stderr, "mailwarden: no command '%s'; see 'mailwarden help'\n", cmd);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        /* postlogin's arguments after its options are another program's (and its stdout is
         * an IMAP client): only its first argument may ask for help */
        if (!strcmp(argv[i], "--") || (c == &cmd_postlogin && i > 2)) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cli_help(c, stdout);
            return EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
