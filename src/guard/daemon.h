/*
 * daemon - `mailwarden guard`: one epoll loop over the followed files (inotify) and journals
 * (guard/jfollow.h, jails with backend = systemd), the control
 * socket, signals (TERM/INT stop, HUP reload) and a 1 s tick. Each turn:
 *   lines -> core (filters, tracker, bans) -> ban rows and log positions written in one
 *   SQLite transaction -> committed -> firewall operations applied per action instance in
 *   one batch (retried with back-off when they fail; the daemon never dies of it).
 * Writing the ban before touching the firewall means a crash at any point loses no ban:
 * on start, unexpired bans from the database are re-applied in one transaction.
 *
 * Control protocol (Unix stream socket, mode 0600): the client sends one line, its
 * arguments separated by TAB; the daemon answers "<exit code>\n" and the text to print,
 * then closes. Commands: ping, version, status [JAIL|--all] [--json], ban JAIL IP|CIDR,
 * unban IP|CIDR|--all, banned [JAIL] [--json], reload, block [IP|CIDR], unblock IP|CIDR,
 * stop.
 */
#ifndef MW_DAEMON_H
#define MW_DAEMON_H
#include <stdbool.h>

struct guard_opts {
    const char *confdir;        /* -c DIR */
    const char *f2bdir;         /* --fail2ban-compat DIR */
    const char *db;             /* --db PATH (overrides dbfile) */
    const char *socket;         /* --socket PATH (overrides the config) */
    bool foreground;
    bool null_actions;          /* --dry-run: every action is the null backend */
};

/* Run the daemon until stopped. Returns an exit code (cli.h). */
int guard_run(const struct guard_opts *o);

/* Client side: send argv to the daemon at `socket`, print the answer; returns its exit
 * code (1 when the daemon cannot be reached). */
int guard_client(const char *socket, int argc, char **argv);

#endif
