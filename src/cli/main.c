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
    &cmd_trace,
    &cmd_queue,
    &cmd_logins,
    &cmd_postlogin,
    &cmd_summary,
    &cmd_regex,
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
    &cmd_metrics,
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

int main(int argc, char **argv)
{
    msg_set_progname("mailwarden");
    /* With TZ unset glibc re-reads /etc/localtime on every mktime(); name it once instead. */
    setenv("TZ", ":/etc/localtime", 0);
    tzset();
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
