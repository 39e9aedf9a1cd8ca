/*
 * jailconf - the guard's configuration, in fail2ban's jail syntax, read with the fail2ban
 * INI engine (guard/ini.h: includes, .local twins, %(x)s / %(default/x)s interpolation):
 *   DIR/jail.conf, DIR/jail.d/NAME.conf, DIR/jail.local, DIR/jail.d/NAME.local (fail2ban's order)
 *   DIR/mailwarden.conf (+ .local), section [Definition]: the daemon's settings
 * Every option is declared once in a table (name, default, type, min, max, help) in
 * jailconf.c; validation and `mailwarden guard --print-options` come from it.
 *
 * --fail2ban-compat F2BDIR: the jails come from F2BDIR's jail files instead; fail2ban
 * `banaction`/`action` names are mapped to mailwarden's actions by family (nftables*;
 * iptables*, ip6tables*, ipset*: ipset; firewallcmd*, firewalld: firewalld; ufw, shorewall,
 * ...: the nftables action, with a warning for the families whose own action does not exist
 * yet); any other action.d name is reported and ignored, never run through a shell. Filters that are not built-in are fail2ban filters
 * from F2BDIR/filter.d (the fail2ban filter engine).
 *
 * backend = systemd: the jail reads the journal (guard/jfollow.h) instead of logpath:
 * journalmatch in fail2ban's syntax ("_SYSTEMD_UNIT=postfix@-.service + _COMM=sshd": "+"
 * between alternatives), defaulting to the filter's (built-in: jfilter_builtin_journalmatch;
 * fail2ban filter files: their journalmatch); the system journal, or a file / directory of
 * journal files given as systemd[journalpath=DIR] / systemd[journalfiles=FILE] (fail2ban's
 * backend arguments) or journal_path = FILE|DIR.
 *
 * Ownership: a guard_conf owns everything in it; guard_conf_free(). Errors: guard_conf_load
 * returns NULL with a message (file:line where known); non-fatal findings are collected as
 * warnings (printed by the caller).
 */
#ifndef MW_JAILCONF_H
#define MW_JAILCONF_H
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "guard/bans.h"
#include "guard/action.h"
#include "util/ipaddr.h"

#define GUARD_DEFAULT_DIR "/etc/mailwarden"
#define GUARD_DEFAULT_SOCKET "/run/mailwarden/mailwarden.sock"

enum act_kind { ACT_NFTABLES, ACT_COMMAND, ACT_NULL, ACT_IPSET, ACT_FIREWALLD };

struct jail_action {
    enum act_kind kind;
    struct cmd_templates cmd;  /* ACT_COMMAND (strings owned) */
    char *spec;                /* as written, for messages */
    char *mode;                /* ACT_FIREWALLD: richrule or ipset (NULL: firewalld_mode) */
};

#define JAIL_RECIDIVE_FILTER "mailwarden-recidive"

/* prefix.* of a jail (guard/prefix.h, core.c) */
struct prefix_conf {
    bool on;                   /* prefix.escalate */
    uint8_t len4, len6;        /* prefix.ipv4, prefix.ipv6 */
    unsigned count;            /* prefix.count: distinct banned members */
    int64_t window;            /* prefix.window, seconds */
    bool bantime_set;          /* prefix.bantime given; else the jail's bantime rule */
    int64_t bantime;           /* seconds, -1 permanent */
};

struct jail_conf {
    char *name;
    char *filter;              /* "mailwarden-postfix" or a fail2ban filter name */
    char *filter_mode;         /* the filter's mode= argument, NULL when none */
    char *filter_spec;         /* as written, with arguments */
    char **logpath;            /* after glob expansion (a pattern matching nothing stays) */
    size_t nlogpath;
    char *backend;             /* without arguments: "auto", "systemd", ... */
    bool journal;              /* backend = systemd: entries of the journal, not logpath */
    char *journalmatch;        /* as configured, else the filter's default (NULL: none) */
    char **jmatch;             /* the same as terms ("FIELD=value", "+"), NULL-terminated */
    char *journal_path;        /* journal file or directory; NULL: the system journal */
    unsigned maxretry;
    int64_t findtime;
    struct bantime_rule bt;
    struct cidrset *ignore;    /* ignoreip (+ own addresses with ignoreself) */
    char *ignoreip;            /* as written */
    bool ignoreself;
    char *port, *protocol;
    struct jail_action *actions;
    size_t nactions;
    struct prefix_conf pfx;
    uint8_t ipv6_prefix;       /* count IPv6 failures per /N and ban the /N; 0 = per address */
    bool recidive;             /* filter mailwarden-recidive: counts the bans of the other jails */
};

struct guard_conf {
    char *dir;                 /* -c DIR */
    char *f2bdir;              /* --fail2ban-compat DIR, or NULL */
    char *dbfile, *socket, *logtarget, *nft_table;
    size_t maxentries, maxbans;
    bool unban_on_stop;
    int rotate_grace;
    char *metrics_textfile;    /* NULL: none */
    int metrics_interval;      /* seconds */
    char *metrics_listen;      /* NULL: no listener; checked (loopback unless _any) at load */
    bool metrics_listen_any;
    int privsep;               /* 1 yes, 0 no, -1 auto (yes when root and the logs allow it) */
    char *user;                /* unprivileged user under privsep */
    struct ipset_conf ipset;   /* ipset/iptables action (strings owned) */
    struct fwcmd_conf fwcmd;   /* firewalld action (strings owned) */
    struct jail_conf *jails;   /* enabled jails, in section order */
    size_t njails;
    char **warnings;
    size_t nwarnings;
    char **files;              /* config files read */
    size_t nfiles;
};

struct guard_conf *guard_conf_load(const char *dir, const char *f2bdir, char *err, size_t errlen);
void guard_conf_free(struct guard_conf *c);
/* Resolve host names in ignoreip (default on; the fuzz target turns it off). */
void guard_conf_set_resolve(bool on);
/* Find an enabled jail by name. */
struct jail_conf *guard_conf_jail(const struct guard_conf *c, const char *name);
/* Print the option table (name, default, help). */
void guard_conf_print_options(FILE *f);
/* One line per jail: what --test-config prints. */
void guard_conf_print(const struct guard_conf *c, FILE *f);

#endif
