/*
 * cmd_guard - `mailwarden guard` (the daemon) and the client commands that talk to it over
 * its Unix socket: status, ban, unban, banned, reload, block, unblock, ping, version, stop, metrics.
 */
#include "cli/cli.h"
#include "guard/core.h"
#include "guard/daemon.h"
#include "guard/jailconf.h"
#include "util/msg.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_guard(int argc, char **argv)
{
    struct guard_opts o;
    memset(&o, 0, sizeof o);
    o.confdir = GUARD_DEFAULT_DIR;
    bool test = false, opts = false;
    enum { O_FG = 0x2000, O_DB, O_TEST, O_COMPAT, O_SOCK, O_DRY, O_OPTS };
    static const struct option lo[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, O_FG },
        { "db", required_argument, NULL, O_DB },
        { "test-config", no_argument, NULL, O_TEST },
        { "fail2ban-compat", required_argument, NULL, O_COMPAT },
        { "socket", required_argument, NULL, O_SOCK },
        { "dry-run", no_argument, NULL, O_DRY },
        { "print-options", no_argument, NULL, O_OPTS },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:f", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o.confdir = optarg; break;
        case 'f': case O_FG: o.foreground = true; break;
        case O_DB: o.db = optarg; break;
        case O_TEST: test = true; break;
        case O_COMPAT: o.f2bdir = optarg; break;
        case O_SOCK: o.socket = optarg; break;
        case O_DRY: o.null_actions = true; break;
        case O_OPTS: opts = true; break;
        default: return cli_usage_error("guard", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("guard", "unexpected argument '%s'", argv[optind]);
    if (opts) {
        guard_conf_print_options(stdout);
        return EXIT_OK;
    }
    if (test) {
        char err[1024];
        struct guard_conf *gc = guard_conf_load(o.confdir, o.f2bdir, err, sizeof err);
        if (!gc) {
            fprintf(stderr, "mailwarden guard: configuration: %s\n", err);
            return EXIT_USAGE;
        }
        for (size_t i = 0; i < gc->nwarnings; i++) fprintf(stderr, "mailwarden guard: warning: %s\n", gc->warnings[i]);
        struct core *core = core_new(gc, NULL, err, sizeof err);
        if (!core) {
            fprintf(stderr, "mailwarden guard: configuration: %s\n", err);
            guard_conf_free(gc);
            return EXIT_USAGE;
        }
        guard_conf_print(gc, stdout);
        printf("OK: %zu jail(s); database %s; socket %s\n", gc->njails, o.db ? o.db : gc->dbfile,
               o.socket ? o.socket : gc->socket);
        core_free(core);
        guard_conf_free(gc);
        return EXIT_OK;
    }
    return guard_run(&o);
}

/* Client: [-c DIR] [--socket PATH] ARGS... -> the daemon. */
static int client(const char *name, int argc, char **argv)
{
    const char *sock = getenv("MAILWARDEN_SOCKET");
    const char *dir = NULL;
    int i = 1;
    while (i < argc) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) { dir = argv[i + 1]; i += 2; }
        else if (!strcmp(argv[i], "--socket") && i + 1 < argc) { sock = argv[i + 1]; i += 2; }
        else if (!strncmp(argv[i], "--socket=", 9)) { sock = argv[i] + 9; i++; }
        else break;
    }
    char *fromconf = NULL;
    if (!sock) {
        char err[512];
        msg_set_quiet(true);
        struct guard_conf *gc = guard_conf_load(dir ? dir : GUARD_DEFAULT_DIR, NULL, err, sizeof err);
        msg_set_quiet(false);
        if (gc) {
            fromconf = gc->socket;
            gc->socket = NULL;
            guard_conf_free(gc);
        }
        sock = fromconf ? fromconf : GUARD_DEFAULT_SOCKET;
    }
    char **av = calloc((size_t)(argc - i) + 2, sizeof *av);
    if (!av) return EXIT_FAIL;
    av[0] = (char *)name;
    int n = 1;
    for (int k = i; k < argc; k++) av[n++] = argv[k];
    int rc = guard_client(sock, n, av);
    free(av);
    free(fromconf);
    return rc;
}

#define CLIENT(fn, nm) static int fn(int argc, char **argv) { return client(nm, argc, argv); }
CLIENT(run_status, "status")
CLIENT(run_ban, "ban")
CLIENT(run_unban, "unban")
CLIENT(run_banned, "banned")
CLIENT(run_reload, "reload")
CLIENT(run_block, "block")
CLIENT(run_unblock, "unblock")
CLIENT(run_ping, "ping")
CLIENT(run_version, "version")
CLIENT(run_stop, "stop")
CLIENT(run_metrics, "metrics")

#define CLIENT_OPTS \
    "  -c DIR          read the socket path from DIR/mailwarden.conf (default /etc/mailwarden)\n" \
    "  --socket PATH   the daemon's socket (default /run/mailwarden/mailwarden.sock;\n" \
    "                  also $MAILWARDEN_SOCKET)\n"

const struct command cmd_guard = {
    "guard", run_guard, "the ban daemon: follow logs, ban brute-forcers with nftables",
    "usage: mailwarden guard [-c DIR] [--foreground] [--db PATH] [--socket PATH]\n"
    "                        [--fail2ban-compat F2BDIR] [--test-config] [--dry-run]\n"
    "\n"
    "Follows the jails' log files, counts failures per client IP and jail, bans with the\n"
    "firewall after maxretry failures within findtime, persists bans and log positions in\n"
    "SQLite and answers `mailwarden status` on a Unix socket.\n"
    "\n"
    "  -c DIR                 configuration directory (default /etc/mailwarden): jail.conf,\n"
    "                         jail.local, jail.d/*, mailwarden.conf\n"
    "  -f, --foreground       do not detach; messages also on stderr\n"
    "  --db PATH              database (default: dbfile of mailwarden.conf)\n"
    "  --socket PATH          control socket (default: socket of mailwarden.conf)\n"
    "  --fail2ban-compat DIR  take the jails from a fail2ban tree (/etc/fail2ban): its\n"
    "                         filters, its banaction families mapped to mailwarden actions\n"
    "  --test-config          check the configuration, print the jails, exit\n"
    "  --dry-run              every action is the null action (nothing touches the firewall)\n"
    "  --print-options        list every option with its default\n"
    "\n"
    "Signals: TERM/INT stop (bans stay unless unban_on_stop = true), HUP reloads (a broken\n"
    "configuration is refused and the running one stays).\n",
};

const struct command cmd_status = {
    "status", run_status, "guard: jails, failures and bans (fail2ban-client layout)",
    "usage: mailwarden status [-c DIR] [--socket PATH] [JAIL | --all] [--json]\n"
    "\n"
    "Without JAIL: the number of jails and their names. With JAIL: its filter (currently\n"
    "failed, total failed, file list) and actions (currently banned, total banned, banned IP\n"
    "list), in fail2ban-client's layout. --all: every jail's block.\n" CLIENT_OPTS,
};
const struct command cmd_ban = {
    "ban", run_ban, "guard: ban an IP or CIDR in a jail",
    "usage: mailwarden ban [-c DIR] [--socket PATH] JAIL IP|CIDR\n" CLIENT_OPTS,
};
const struct command cmd_unban = {
    "unban", run_unban, "guard: lift the bans of an IP/CIDR in every jail, or all bans",
    "usage: mailwarden unban [-c DIR] [--socket PATH] IP|CIDR... | --all\n" CLIENT_OPTS,
};
const struct command cmd_banned = {
    "banned", run_banned, "guard: list active bans",
    "usage: mailwarden banned [-c DIR] [--socket PATH] [JAIL] [--json]\n"
    "\nOne line per ban: JAIL, IP, banned at, ends.\n" CLIENT_OPTS,
};
const struct command cmd_reload = {
    "reload", run_reload, "guard: reload the configuration",
    "usage: mailwarden reload [-c DIR] [--socket PATH]\n"
    "\nA configuration with errors is refused; the running one stays.\n" CLIENT_OPTS,
};
const struct command cmd_block = {
    "block", run_block, "guard: block an IP/CIDR permanently (no argument: list)",
    "usage: mailwarden block [-c DIR] [--socket PATH] [IP|CIDR...]\n" CLIENT_OPTS,
};
const struct command cmd_unblock = {
    "unblock", run_unblock, "guard: remove an IP/CIDR from the permanent block list",
    "usage: mailwarden unblock [-c DIR] [--socket PATH] IP|CIDR...\n" CLIENT_OPTS,
};
const struct command cmd_ping = {
    "ping", run_ping, "guard: is the daemon alive?",
    "usage: mailwarden ping [-c DIR] [--socket PATH]\n" CLIENT_OPTS,
};
const struct command cmd_version = {
    "version", run_version, "guard: the running daemon's version (--version: this program's)",
    "usage: mailwarden version [-c DIR] [--socket PATH]\n" CLIENT_OPTS,
};
const struct command cmd_metrics = {
    "metrics", run_metrics, "guard: the daemon's metrics in Prometheus text format",
    "usage: mailwarden metrics [-c DIR] [--socket PATH]\n"
    "\nThe text that metrics_textfile and the metrics_listen /metrics listener serve.\n" CLIENT_OPTS,
};
const struct command cmd_stop = {
    "stop", run_stop, "guard: stop the daemon",
    "usage: mailwarden stop [-c DIR] [--socket PATH]\n" CLIENT_OPTS,
};
