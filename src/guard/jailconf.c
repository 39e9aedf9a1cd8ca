/* jailconf - see jailconf.h. */
#include "guard/jailconf.h"
#include "guard/metrics_http.h"
#include "guard/jailfilter.h"
#include "guard/ini.h"
#include "guard/tracker.h"
#include "guard/prefix.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <ifaddrs.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum ctype { CT_BOOL, CT_INT, CT_DUR, CT_DUR_NEG, CT_FLOAT, CT_STR };

struct copt {
    const char *name;
    const char *deflt;         /* NULL: no default (empty) */
    enum ctype type;
    int64_t min, max;
    const char *help;
};

/* Per jail (from [DEFAULT] and the jail's section). */
static const struct copt jail_opts[] = {
    { "enabled", "false", CT_BOOL, 0, 0, "run this jail" },
    { "filter", "%(__name__)s", CT_STR, 0, 0, "filter name with optional [mode=...] arguments" },
    { "logpath", NULL, CT_STR, 0, 0, "log files (globs, several separated by space/newline)" },
    { "backend", "auto", CT_STR, 0, 0, "auto|inotify|polling: files; systemd[journalpath=DIR|journalfiles=FILE]: the journal" },
    { "journalmatch", NULL, CT_STR, 0, 0, "backend = systemd: journal matches (FIELD=value, + for OR; default: the filter's)" },
    { "journal_path", NULL, CT_STR, 0, 0, "backend = systemd: journal file or directory instead of the system journal" },
    { "maxretry", "5", CT_INT, 1, TRK_MAXRETRY, "failures within findtime that ban" },
    { "findtime", "10m", CT_DUR, 1, 366LL * 86400, "window in which maxretry failures ban" },
    { "bantime", "10m", CT_DUR_NEG, 1, 100LL * 366 * 86400, "ban duration; -1 permanent" },
    { "bantime.increment", "false", CT_BOOL, 0, 0, "longer bans for repeat offenders" },
    { "bantime.factor", "1", CT_FLOAT, 0, 1000000, "multiplier of the increment formula" },
    { "bantime.multipliers", NULL, CT_STR, 0, 0, "ban time multipliers by earlier bans (1 2 4 ...)" },
    { "bantime.maxtime", "0", CT_DUR, 0, 100LL * 366 * 86400, "upper bound of an increased ban (0 none)" },
    { "bantime.rndtime", "0", CT_DUR, 0, 366LL * 86400, "random extra seconds (0 none)" },
    { "bantime.overalljails", "false", CT_BOOL, 0, 0, "count earlier bans of every jail" },
    { "ignoreip", NULL, CT_STR, 0, 0, "never ban these IPs, CIDRs, host names (resolved at load)" },
    { "ignoreself", "true", CT_BOOL, 0, 0, "never ban this host's own addresses" },
    { "port", "0:65535", CT_STR, 0, 0, "ports the ban applies to" },
    { "protocol", "tcp", CT_STR, 0, 0, "protocol the ban applies to (tcp, udp, all)" },
    { "banaction", "nftables", CT_STR, 0, 0, "default action: nftables, ipset, firewalld, command, null" },
    { "action", "%(banaction)s", CT_STR, 0, 0, "actions, one per line: name[arg=value, ...]" },
    { "actionban", NULL, CT_STR, 0, 0, "command action: argv template run to ban" },
    { "actionunban", NULL, CT_STR, 0, 0, "command action: argv template run to unban" },
    { "actionflush", NULL, CT_STR, 0, 0, "command action: run once per jail instead of unbans at stop" },
    { "actionstart", NULL, CT_STR, 0, 0, "command action: run at start" },
    { "timeout", "30", CT_INT, 1, 3600, "command action: seconds before a command is killed" },
    { "prefix.escalate", "false", CT_BOOL, 0, 0, "ban a network after prefix.count member bans within prefix.window" },
    { "prefix.ipv4", "24", CT_INT, 8, 31, "prefix length of an escalated IPv4 ban" },
    { "prefix.ipv6", "48", CT_INT, 16, 127, "prefix length of an escalated IPv6 ban" },
    { "prefix.count", "3", CT_INT, 2, PFX_MAXNEED, "distinct banned members of a network that ban the network" },
    { "prefix.window", "1h", CT_DUR, 1, 366LL * 86400, "window in which the member bans must fall" },
    { "prefix.bantime", NULL, CT_DUR_NEG, 1, 100LL * 366 * 86400, "ban time of a network (empty: the jail's rule)" },
    { "ipv6_prefix", "0", CT_INT, 0, 128, "count IPv6 failures per /N and ban the /N (0: per address)" },
};
enum { J_ENABLED, J_FILTER, J_LOGPATH, J_BACKEND, J_JMATCH, J_JPATH, J_MAXRETRY, J_FINDTIME, J_BANTIME,
       J_INC, J_FACTOR, J_MULT, J_MAXTIME, J_RNDTIME, J_OVERALL, J_IGNOREIP, J_IGNORESELF, J_PORT,
       J_PROTOCOL, J_BANACTION, J_ACTION, J_ABAN, J_AUNBAN, J_AFLUSH, J_ASTART, J_TIMEOUT, J_PFX_ON, J_PFX4, J_PFX6, J_PFX_COUNT, J_PFX_WINDOW,
       J_PFX_BANTIME, J_V6PREFIX, J_MAX };

/* mailwarden.conf [Definition] */
static const struct copt daemon_opts[] = {
    { "dbfile", "/var/lib/mailwarden/mailwarden.db", CT_STR, 0, 0, "SQLite database (bans, positions, blocks)" },
    { "socket", GUARD_DEFAULT_SOCKET, CT_STR, 0, 0, "control socket (mode 0600)" },
    { "logtarget", "SYSLOG", CT_STR, 0, 0, "SYSLOG, STDERR or a file" },
    { "maxentries", "100000", CT_INT, 100, 100000000, "tracked (jail, IP) entries before the stalest is evicted" },
    { "maxbans", "1000000", CT_INT, 100, 100000000, "active bans at most" },
    { "unban_on_stop", "false", CT_BOOL, 0, 0, "remove every ban from the firewall when stopping" },
    { "rotate_grace", "60", CT_INT, 0, 86400, "seconds a rotated file is still read" },
    { "nftables_table", "mailwarden", CT_STR, 0, 0, "nftables table (inet family)" },
    { "ipset_cmd", "/usr/sbin/ipset", CT_STR, 0, 0, "ipset action: the ipset program" },
    { "iptables_cmd", "/usr/sbin/iptables", CT_STR, 0, 0, "ipset action: the iptables program" },
    { "ip6tables_cmd", "/usr/sbin/ip6tables", CT_STR, 0, 0, "ipset action: the ip6tables program" },
    { "iptables_chain", "INPUT", CT_STR, 0, 0, "ipset action: chain of the match-set rules" },
    { "blocktype", "DROP", CT_STR, 0, 0, "ipset and firewalld actions: DROP or REJECT" },
    { "firewallcmd", "/usr/bin/firewall-cmd", CT_STR, 0, 0, "firewalld action: the firewall-cmd program" },
    { "firewalld_zone", NULL, CT_STR, 0, 0, "firewalld action: zone of the rich rules (empty: the default zone)" },
    { "firewalld_mode", "richrule", CT_STR, 0, 0, "firewalld action: richrule or ipset (firewalld ipsets)" },
    { "metrics_textfile", NULL, CT_STR, 0, 0, "Prometheus textfile written every metrics_interval (node_exporter)" },
    { "metrics_interval", "15", CT_DUR, 1, 86400, "seconds between two writes of metrics_textfile" },
    { "metrics_listen", NULL, CT_STR, 0, 0, "serve /metrics on ADDRESS:PORT (127.0.0.1:9746, [::1]:9746)" },
    { "metrics_listen_any", "false", CT_BOOL, 0, 0, "allow a non-loopback metrics_listen address" },
    { "privsep", "auto", CT_STR, 0, 0, "privilege separation: yes, no, auto (yes when started as root and the logs are readable by `user`)" },
    { "user", "mailwarden", CT_STR, 0, 0, "unprivileged user of the parsing process (nobody when absent; groups adm, systemd-journal added)" },
};
enum { D_DBFILE, D_SOCKET, D_LOGTARGET, D_MAXENT, D_MAXBANS, D_UNBAN, D_GRACE, D_TABLE, D_IPSET, D_IPT, D_IP6T,
       D_CHAIN, D_BLOCKTYPE, D_FWCMD, D_FWZONE, D_FWMODE, D_MTEXT, D_MINT, D_MLISTEN, D_MANY, D_PRIVSEP, D_USER, D_MAX };

static void warn(struct guard_conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct guard_conf *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = xvasprintf(fmt, ap);
    va_end(ap);
    c->warnings = xrealloc(c->warnings, (c->nwarnings + 1) * sizeof *c->warnings);
    c->warnings[c->nwarnings++] = m;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const t[] = { "true", "yes", "on", "1", "enabled" };
    static const char *const f[] = { "false", "no", "off", "0", "disabled" };
    for (size_t i = 0; i < 5; i++) {
        if (!strcasecmp(v, t[i])) { *out = true; return true; }
        if (!strcasecmp(v, f[i])) { *out = false; return true; }
    }
    return false;
}

struct val {
    char *s;
    int64_t i;
    double d;
    bool b;
};

/* Get and check one option. Returns 0 or -1 with err. */
static int get_opt(const struct ini *d, const char *sec, const struct copt *o, struct val *v,
                   const struct ini_vars *vars, char *err, size_t errlen)
{
    char e2[INI_ERRLEN];
    char *s = NULL;
    int r = d ? ini_get(d, sec, o->name, vars, &s, e2, sizeof e2) : 0;
    if (r < 0) {
        snprintf(err, errlen, "[%s] %s: %s", sec, o->name, e2);
        return -1;
    }
    if (r == 0 && o->deflt) {
        /* defaults may interpolate too (filter = %(__name__)s) */
        if (strstr(o->deflt, "%(") && d) {
            struct ini_vars tmp = { 0 };
            if (vars) ini_vars_copy(&tmp, vars);
            ini_vars_set(&tmp, "__name__", sec);
            if (!strcmp(o->deflt, "%(__name__)s")) s = xstrdup(sec);
            else if (!strcmp(o->deflt, "%(banaction)s")) {
                char *ba = NULL;
                if (ini_get(d, sec, "banaction", vars, &ba, e2, sizeof e2) == 1) s = ba;
                else s = xstrdup("nftables");
            } else s = xstrdup(o->deflt);
            ini_vars_free(&tmp);
        } else {
            s = xstrdup(o->deflt);
        }
    }
    v->s = s;
    if (!s) return 0;
    char *t = s;
    while (*t == ' ' || *t == '\t' || *t == '\n') t++;
    size_t l = strlen(t);
    while (l && (t[l - 1] == ' ' || t[l - 1] == '\t' || t[l - 1] == '\n')) t[--l] = 0;
    memmove(s, t, l + 1);
    switch (o->type) {
    case CT_BOOL:
        if (!parse_bool(s, &v->b)) {
            snprintf(err, errlen, "[%s] %s = %s: expected true or false", sec, o->name, s);
            return -1;
        }
        break;
    case CT_INT: {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (!*s || *end || x < o->min || x > o->max) {
            snprintf(err, errlen, "[%s] %s = %s: expected a number from %lld to %lld", sec, o->name, s,
                     (long long)o->min, (long long)o->max);
            return -1;
        }
        v->i = x;
        break;
    }
    case CT_DUR:
    case CT_DUR_NEG: {
        int64_t x;
        if (mwtime_duration(str_c(s), o->type == CT_DUR_NEG, &x) < 0 ||
            (x >= 0 && (x < o->min || x > o->max))) {
            snprintf(err, errlen, "[%s] %s = %s: expected a duration (600, 10m, 4d%s)", sec, o->name, s,
                     o->type == CT_DUR_NEG ? "; -1 permanent" : "");
            return -1;
        }
        v->i = x;
        break;
    }
    case CT_FLOAT: {
        char *end;
        double x = strtod(s, &end);
        if (!*s || *end || !isfinite(x) || x < (double)o->min || x > (double)o->max) {
            snprintf(err, errlen, "[%s] %s = %s: expected a number", sec, o->name, s);
            return -1;
        }
        v->d = x;
        break;
    }
    case CT_STR:
        break;
    }
    return 0;
}

/* ---- ignoreip ---- */

static void add_addr(struct cidrset *set, const struct sockaddr *sa)
{
    struct cidr c;
    memset(&c, 0, sizeof c);
    if (sa->sa_family == AF_INET) {
        c.addr.family = 4;
        memcpy(c.addr.b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        c.prefix = 32;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (!memcmp(b, mapped, 12)) {
            c.addr.family = 4;
            memcpy(c.addr.b, b + 12, 4);
            c.prefix = 32;
        } else {
            c.addr.family = 6;
            memcpy(c.addr.b, b, 16);
            c.prefix = 128;
        }
    } else {
        return;
    }
    cidrset_add(set, &c);
}

static bool resolve_names = true;
void guard_conf_set_resolve(bool on) { resolve_names = on; }

static int parse_ignoreip(struct guard_conf *gc, const char *jail, const char *s, struct cidrset *set,
                          char *err, size_t errlen)
{
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *b = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t' && *p != '\n') p++;
        struct str w = { b, (size_t)(p - b) };
        struct cidr c;
        if (cidr_parse(w, &c) == 0) {
            cidrset_add(set, &c);
            continue;
        }
        char *name = str_dup(w);
        bool hostish = true;
        for (char *q = name; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_') hostish = false;
        if (!hostish || strchr(name, '/')) {
            snprintf(err, errlen, "[%s] ignoreip: '%s' is not an address, CIDR or host name", jail, name);
            free(name);
            return -1;
        }
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        int rc = resolve_names ? getaddrinfo(name, NULL, &hints, &res) : EAI_NONAME;
        if (rc != 0) {
            warn(gc, "[%s] ignoreip: cannot resolve '%s': %s", jail, name, gai_strerror(rc));
        } else {
            for (struct addrinfo *ai = res; ai; ai = ai->ai_next) add_addr(set, ai->ai_addr);
            freeaddrinfo(res);
        }
        free(name);
    }
    return 0;
}

static void add_self(struct cidrset *set)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
            if (i->ifa_addr) add_addr(set, i->ifa_addr);
        freeifaddrs(ifa);
    }
    struct cidr c;
    cidr_parse(STR_LIT("127.0.0.1"), &c);
    cidrset_add(set, &c);
    cidr_parse(STR_LIT("::1"), &c);
    cidrset_add(set, &c);
}

/* ---- actions ---- */

/* fail2ban's action.d families (by name prefix) and mailwarden's own action names; the first
 * entries are mailwarden actions, the rest fall back to nftables with a warning */
static const struct { const char *prefix; enum act_kind kind; } act_families[] = {
    { "nftables", ACT_NFTABLES }, { "iptables", ACT_IPSET }, { "ip6tables", ACT_IPSET }, { "ipset", ACT_IPSET },
    { "firewallcmd", ACT_FIREWALLD }, { "firewalld", ACT_FIREWALLD },
    { "ufw", ACT_NFTABLES }, { "shorewall", ACT_NFTABLES }, { "pf", ACT_NFTABLES }, { "ipfw", ACT_NFTABLES },
    { "ipfilter", ACT_NFTABLES }, { "npf", ACT_NFTABLES }, { "route", ACT_NFTABLES }, { "apf", ACT_NFTABLES },
    { "csf", ACT_NFTABLES }, { "nginx-block-map", ACT_NFTABLES },
};
#define ACT_OWN 6  /* act_families[0..ACT_OWN) have their own action */

static int parse_actions(struct guard_conf *gc, struct jail_conf *j, const char *spec, const struct val *v,
                         char *err, size_t errlen)
{
    char *copy = xstrdup(spec);
    char *save = NULL;
    /* one action per line; fail2ban also allows several on a line separated by newlines only */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!*line) continue;
        char *name = NULL;
        struct ini_vars args = { 0 };
        char e2[INI_ERRLEN];
        if (ini_split_option(line, &name, &args, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "[%s] action '%s': %s", j->name, line, e2);
            free(copy);
            ini_vars_free(&args);
            return -1;
        }
        struct jail_action a;
        memset(&a, 0, sizeof a);
        a.spec = xstrdup(line);
        bool known = true;
        if (!strcmp(name, "command")) {
            a.kind = ACT_COMMAND;
            const char *ban = ini_vars_get(&args, "actionban");
            const char *unban = ini_vars_get(&args, "actionunban");
            const char *flush = ini_vars_get(&args, "actionflush");
            const char *start = ini_vars_get(&args, "actionstart");
            const char *to = ini_vars_get(&args, "timeout");
            a.cmd.ban = xstrdup(ban ? ban : v[J_ABAN].s ? v[J_ABAN].s : "");
            a.cmd.unban = xstrdup(unban ? unban : v[J_AUNBAN].s ? v[J_AUNBAN].s : "");
            a.cmd.flush = xstrdup(flush ? flush : v[J_AFLUSH].s ? v[J_AFLUSH].s : "");
            a.cmd.start = xstrdup(start ? start : v[J_ASTART].s ? v[J_ASTART].s : "");
            a.cmd.timeout = to ? (int)strtol(to, NULL, 10) : (int)v[J_TIMEOUT].i;
            if (!*a.cmd.ban) {
                snprintf(err, errlen, "[%s] action command: no actionban", j->name);
                free((char *)a.cmd.ban); free((char *)a.cmd.unban); free((char *)a.cmd.flush);
                free((char *)a.cmd.start); free(a.spec); free(name); free(copy);
                ini_vars_free(&args);
                return -1;
            }
            /* check the templates now, so a broken one is a config error */
            struct action *t = action_cmd_new(&a.cmd, e2, sizeof e2);
            if (!t) {
                snprintf(err, errlen, "[%s] action command: %s", j->name, e2);
                free((char *)a.cmd.ban); free((char *)a.cmd.unban); free((char *)a.cmd.flush);
                free((char *)a.cmd.start); free(a.spec); free(name); free(copy);
                ini_vars_free(&args);
                return -1;
            }
            action_free(t);
        } else if (!strcmp(name, "null") || !strcmp(name, "dummy")) {
            a.kind = ACT_NULL;
        } else {
            known = false;
            for (size_t k = 0; k < sizeof act_families / sizeof act_families[0]; k++) {
                size_t fl = strlen(act_families[k].prefix);
                if (!strncmp(name, act_families[k].prefix, fl)) {
                    known = true;
                    a.kind = act_families[k].kind;
                    if (k >= ACT_OWN)
                        warn(gc, "[%s] action %s: mailwarden has no %s action yet; using nftables", j->name,
                             name, act_families[k].prefix);
                    if (a.kind == ACT_IPSET && ipset_jail_check(j->name, e2, sizeof e2) < 0) {
                        snprintf(err, errlen, "[%s] action %s: %s", j->name, name, e2);
                        free(a.spec); free(name); free(copy);
                        ini_vars_free(&args);
                        return -1;
                    }
                    if (a.kind == ACT_FIREWALLD) {
                        /* firewalld[mode=ipset], fail2ban's firewallcmd-ipset: firewalld's ipsets */
                        const char *m = ini_vars_get(&args, "mode");
                        if (m && *m) a.mode = xstrdup(m);
                        else if (!strncmp(name, "firewallcmd-ipset", 17)) a.mode = xstrdup("ipset");
                        const char *eff = a.mode ? a.mode : gc->fwcmd.mode ? gc->fwcmd.mode : "richrule";
                        int bad = strcmp(eff, "ipset") && strcmp(eff, "richrule") && strcmp(eff, "rich-rules");
                        if (bad) snprintf(e2, sizeof e2, "mode '%.40s': richrule or ipset", eff);
                        if (bad || (!strcmp(eff, "ipset") && ipset_jail_check(j->name, e2, sizeof e2) < 0)) {
                            snprintf(err, errlen, "[%s] action %s: %s", j->name, name, e2);
                            free(a.spec); free(a.mode); free(name); free(copy);
                            ini_vars_free(&args);
                            return -1;
                        }
                    }
                    /* port/protocol arguments of the fail2ban action apply to the ban */
                    const char *port = ini_vars_get(&args, "port");
                    const char *proto = ini_vars_get(&args, "protocol");
                    if (port && *port) { free(j->port); j->port = xstrdup(port); }
                    if (proto && *proto) { free(j->protocol); j->protocol = xstrdup(proto); }
                    if (strstr(name, "allports")) { free(j->port); j->port = xstrdup("0:65535"); }
                    break;
                }
            }
        }
        free(name);
        ini_vars_free(&args);
        if (!known) {
            warn(gc, "[%s] action '%s' is not a mailwarden action: ignored (never run through a shell)",
                 j->name, line);
            free(a.spec);
            continue;
        }
        j->actions = xrealloc(j->actions, (j->nactions + 1) * sizeof *j->actions);
        j->actions[j->nactions++] = a;
    }
    free(copy);
    if (!j->nactions) {
        warn(gc, "[%s] no usable action: using nftables", j->name);
        j->actions = xcalloc(1, sizeof *j->actions);
        j->actions[0].kind = ACT_NFTABLES;
        j->actions[0].spec = xstrdup("nftables");
        j->nactions = 1;
    }
    return 0;
}

/* ---- logpath ---- */

static void add_path(struct jail_conf *j, const char *p)
{
    for (size_t i = 0; i < j->nlogpath; i++)
        if (!strcmp(j->logpath[i], p)) return;
    j->logpath = xrealloc(j->logpath, (j->nlogpath + 1) * sizeof *j->logpath);
    j->logpath[j->nlogpath++] = xstrdup(p);
}

static void parse_logpath(struct guard_conf *gc, struct jail_conf *j, const char *s)
{
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *b = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
        char *pat = xstrndup(b, (size_t)(p - b));
        /* fail2ban's "tail"/"head" suffix words */
        if (!strcmp(pat, "tail") || !strcmp(pat, "head")) { free(pat); continue; }
        glob_t g;
        if (strpbrk(pat, "*?[") && glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) add_path(j, g.gl_pathv[i]);
            globfree(&g);
        } else {
            if (access(pat, F_OK) != 0) warn(gc, "[%s] logpath %s does not exist (yet): waiting for it", j->name, pat);
            add_path(j, pat);
        }
        free(pat);
    }
}

/* ---- loading ---- */

static bool valid_jail_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.' && *p != '@') return false;
    return true;
}

static void jail_conf_free(struct jail_conf *j)
{
    free(j->name);
    free(j->filter);
    free(j->filter_mode);
    free(j->filter_spec);
    for (size_t i = 0; i < j->nlogpath; i++) free(j->logpath[i]);
    free(j->logpath);
    free(j->backend);
    free(j->journalmatch);
    free(j->journal_path);
    for (size_t i = 0; j->jmatch && j->jmatch[i]; i++) free(j->jmatch[i]);
    free(j->jmatch);
    cidrset_free(j->ignore);
    free(j->ignoreip);
    free(j->port);
    free(j->protocol);
    for (size_t i = 0; i < j->nactions; i++) {
        free((char *)j->actions[i].cmd.ban);
        free((char *)j->actions[i].cmd.unban);
        free((char *)j->actions[i].cmd.flush);
        free((char *)j->actions[i].cmd.start);
        free(j->actions[i].spec);
        free(j->actions[i].mode);
    }
    free(j->actions);
}

/* A journal field name as sd-journal accepts it: upper case letters, digits, '_', not
 * starting with a digit (journal-file.c: journal_field_valid). */
static bool jfield_ok(const char *p, size_t n)
{
    if (!n || n > 64 || (p[0] >= '0' && p[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_')) return false;
    return true;
}

/* journalmatch -> NULL-terminated terms ("FIELD=value" or "+"), checked now so that a typo is
 * a configuration error and not a jail that never matches. */
static int parse_jmatch(struct jail_conf *j, const char *sec, char *err, size_t errlen)
{
    size_t n = 0;
    j->jmatch = xcalloc(1, sizeof *j->jmatch);
    bool need_term = true;
    for (const char *p = j->journalmatch; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n') e++;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        bool plus = e - p == 1 && *p == '+';
        if (plus ? need_term : !eq || !jfield_ok(p, (size_t)(eq - p))) {
            snprintf(err, errlen, "[%s] journalmatch = %s: '%.*s' is not FIELD=value or a '+' between terms", sec,
                     j->journalmatch, (int)(e - p), p);
            return -1;
        }
        need_term = plus;
        j->jmatch = xrealloc(j->jmatch, (n + 2) * sizeof *j->jmatch);
        j->jmatch[n++] = xstrndup(p, (size_t)(e - p));
        j->jmatch[n] = NULL;
        p = e;
    }
    if (n && need_term) {
        snprintf(err, errlen, "[%s] journalmatch = %s: ends with '+'", sec, j->journalmatch);
        return -1;
    }
    return 0;
}

/* backend: files (auto, inotify, polling, ...) or the journal: systemd[journalpath=DIR,
 * journalfiles=FILE] as fail2ban writes it, or journal_path = FILE|DIR. */
static int parse_backend(struct guard_conf *gc, struct jail_conf *j, const char *sec, struct val *v, char *err,
                         size_t errlen)
{
    const char *spec = v[J_BACKEND].s ? v[J_BACKEND].s : "auto";
    char e2[INI_ERRLEN];
    struct ini_vars args = { 0 };
    if (ini_split_option(spec, &j->backend, &args, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "[%s] backend = %s: %s", sec, spec, e2);
        ini_vars_free(&args);
        return -1;
    }
    if (j->recidive) {          /* reads the daemon's own ban history, no log */
        ini_vars_free(&args);
        return 0;
    }
    if (strcmp(j->backend, "systemd") != 0) {
        ini_vars_free(&args);
        if (strcmp(j->backend, "auto") && strcmp(j->backend, "inotify") && strcmp(j->backend, "pyinotify") &&
            strcmp(j->backend, "polling") && strcmp(j->backend, "gamin")) {
            snprintf(err, errlen, "[%s] backend = %s: expected auto, inotify, polling or systemd", sec, spec);
            return -1;
        }
        if (!v[J_LOGPATH].s || !*v[J_LOGPATH].s) {
            snprintf(err, errlen, "[%s] logpath: no log file given", sec);
            return -1;
        }
        parse_logpath(gc, j, v[J_LOGPATH].s);
        return 0;
    }
    j->journal = true;
    const char *jp = ini_vars_get(&args, "journalpath");
    if (!jp || !*jp) jp = ini_vars_get(&args, "journalfiles");
    if (!jp || !*jp) jp = v[J_JPATH].s;
    if (jp && *jp) {
        j->journal_path = xstrdup(jp);
        if (access(jp, R_OK) != 0)
            warn(gc, "[%s] journal %s cannot be read (yet): %s", sec, jp, strerror(errno));
    }
    ini_vars_free(&args);
    if (v[J_JMATCH].s && *v[J_JMATCH].s) {
        j->journalmatch = xstrdup(v[J_JMATCH].s);
    } else if (jfilter_is_builtin(j->filter)) {
        const char *m = jfilter_builtin_journalmatch(j->filter);
        if (m) j->journalmatch = xstrdup(m);
    } else {
        j->journalmatch = jfilter_f2b_journalmatch(gc->f2bdir ? gc->f2bdir : gc->dir, j->filter_spec, e2, sizeof e2);
    }
    if (!j->journalmatch || !*j->journalmatch)
        warn(gc, "[%s] backend = systemd without journalmatch: every journal entry goes through the filter", sec);
    /* logpath is ignored, silently as fail2ban does: its jail.conf sets one in every jail */
    return parse_jmatch(j, sec, err, errlen);
}

static int load_jail(struct guard_conf *gc, const struct ini *d, const char *sec, char *err, size_t errlen)
{
    struct val v[J_MAX];
    memset(v, 0, sizeof v);
    int rc = -1;
    for (int i = 0; i < J_MAX; i++)
        if (get_opt(d, sec, &jail_opts[i], &v[i], NULL, err, errlen) < 0) goto out;
    if (!v[J_ENABLED].b) { rc = 0; goto out; }
    if (!valid_jail_name(sec)) {
        snprintf(err, errlen, "[%s]: a jail name is 1 to 64 letters, digits, '-', '_', '.', '@'", sec);
        goto out;
    }
    struct jail_conf j;
    memset(&j, 0, sizeof j);
    j.name = xstrdup(sec);
    j.maxretry = (unsigned)v[J_MAXRETRY].i;
    j.findtime = v[J_FINDTIME].i;
    j.bt.bantime = v[J_BANTIME].i;
    j.bt.increment = v[J_INC].b;
    j.bt.factor = v[J_FACTOR].d > 0 ? v[J_FACTOR].d : 1;
    j.bt.maxtime = v[J_MAXTIME].i;
    j.bt.rndtime = v[J_RNDTIME].i;
    j.bt.overalljails = v[J_OVERALL].b;
    if (v[J_MULT].s && *v[J_MULT].s) {
        const char *p = v[J_MULT].s;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            if (!*p) break;
            char *end;
            unsigned long m = strtoul(p, &end, 10);
            if (end == p || m == 0 || m > 1000000 || j.bt.nmult == 32) {
                snprintf(err, errlen, "[%s] bantime.multipliers = %s: expected up to 32 numbers from 1 to 1000000",
                         sec, v[J_MULT].s);
                jail_conf_free(&j);
                goto out;
            }
            j.bt.mult[j.bt.nmult++] = (uint32_t)m;
            p = end;
        }
    }
    /* filter with arguments */
    j.filter_spec = xstrdup(v[J_FILTER].s ? v[J_FILTER].s : sec);
    {
        char e2[INI_ERRLEN];
        struct ini_vars args = { 0 };
        if (ini_split_option(j.filter_spec, &j.filter, &args, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "[%s] filter = %s: %s", sec, j.filter_spec, e2);
            ini_vars_free(&args);
            jail_conf_free(&j);
            goto out;
        }
        const char *mode = ini_vars_get(&args, "mode");
        if (mode && *mode) j.filter_mode = xstrdup(mode);
        ini_vars_free(&args);
        /* fail2ban's recidive reads fail2ban.log; here the bans are the daemon's own */
        if (gc->f2bdir && !strcmp(j.filter, "recidive")) {
            free(j.filter);
            j.filter = xstrdup(JAIL_RECIDIVE_FILTER);
        }
        j.recidive = !strcmp(j.filter, JAIL_RECIDIVE_FILTER);
        if (jfilter_is_builtin(j.filter)) {
            struct jfilter *f = jfilter_new_builtin(j.filter, j.filter_mode, e2, sizeof e2);
            if (!f) {
                snprintf(err, errlen, "[%s] %s", sec, e2);
                jail_conf_free(&j);
                goto out;
            }
            jfilter_free(f);
        }
    }
    if (parse_backend(gc, &j, sec, v, err, errlen) < 0) {
        jail_conf_free(&j);
        goto out;
    }
    j.pfx.on = v[J_PFX_ON].b;
    j.pfx.len4 = (uint8_t)v[J_PFX4].i;
    j.pfx.len6 = (uint8_t)v[J_PFX6].i;
    j.pfx.count = (unsigned)v[J_PFX_COUNT].i;
    j.pfx.window = v[J_PFX_WINDOW].i;
    j.pfx.bantime_set = v[J_PFX_BANTIME].s && *v[J_PFX_BANTIME].s;
    j.pfx.bantime = j.pfx.bantime_set ? v[J_PFX_BANTIME].i : 0;
    j.ipv6_prefix = (uint8_t)(v[J_V6PREFIX].i >= 128 ? 0 : v[J_V6PREFIX].i);
    if (j.pfx.on && j.ipv6_prefix && j.ipv6_prefix <= j.pfx.len6)
        warn(gc, "[%s] ipv6_prefix = %u is not longer than prefix.ipv6 = %u: IPv6 bans never escalate", sec,
             j.ipv6_prefix, j.pfx.len6);
    j.ignore = cidrset_new();
    j.ignoreip = xstrdup(v[J_IGNOREIP].s ? v[J_IGNOREIP].s : "");
    j.ignoreself = v[J_IGNORESELF].b;
    if (parse_ignoreip(gc, sec, j.ignoreip, j.ignore, err, errlen) < 0) {
        jail_conf_free(&j);
        goto out;
    }
    if (j.ignoreself) add_self(j.ignore);
    j.port = xstrdup(v[J_PORT].s ? v[J_PORT].s : "0:65535");
    j.protocol = xstrdup(v[J_PROTOCOL].s ? v[J_PROTOCOL].s : "tcp");
    if (parse_actions(gc, &j, v[J_ACTION].s ? v[J_ACTION].s : "nftables", v, err, errlen) < 0) {
        jail_conf_free(&j);
        goto out;
    }
    /* port and protocol must make sense for the firewall now, not at the first ban */
    {
        struct fw_jail fj = { j.name, j.port, j.protocol };
        struct buf b = BUF_INIT(1 << 20);
        char e2[256];
        int r = nft_script_setup(&b, "mailwarden", &fj, 1, e2, sizeof e2);
        buf_free(&b);
        if (r < 0) {
            snprintf(err, errlen, "[%s] %s", sec, e2);
            jail_conf_free(&j);
            goto out;
        }
    }
    if (gc->njails >= TRK_MAXJAILS) {
        snprintf(err, errlen, "more than %d jails", TRK_MAXJAILS);
        jail_conf_free(&j);
        goto out;
    }
    gc->jails = xrealloc(gc->jails, (gc->njails + 1) * sizeof *gc->jails);
    gc->jails[gc->njails++] = j;
    rc = 0;
out:
    for (int i = 0; i < J_MAX; i++) free(v[i].s);
    return rc;
}

static void keep_files(struct guard_conf *gc, const struct ini *d)
{
    for (size_t i = 0; i < d->nfiles; i++) {
        gc->files = xrealloc(gc->files, (gc->nfiles + 1) * sizeof *gc->files);
        gc->files[gc->nfiles++] = xstrdup(d->files[i]);
    }
}

struct guard_conf *guard_conf_load(const char *dir, const char *f2bdir, char *err, size_t errlen)
{
    struct guard_conf *gc = xcalloc(1, sizeof *gc);
    gc->dir = xstrdup(dir ? dir : GUARD_DEFAULT_DIR);
    if (f2bdir) gc->f2bdir = xstrdup(f2bdir);
    char e2[INI_ERRLEN];

    /* daemon settings */
    struct ini *dd = ini_new();
    char *base = xasprintf("%s/mailwarden", gc->dir);
    int r = ini_read_base(dd, base, e2, sizeof e2);
    free(base);
    if (r < 0) {
        snprintf(err, errlen, "%s", e2);
        ini_free(dd);
        guard_conf_free(gc);
        return NULL;
    }
    keep_files(gc, dd);
    struct val dv[D_MAX];
    memset(dv, 0, sizeof dv);
    bool bad = false;
    for (int i = 0; i < D_MAX && !bad; i++)
        if (get_opt(ini_has_section(dd, "Definition") ? dd : NULL, "Definition", &daemon_opts[i], &dv[i], NULL,
                    err, errlen) < 0)
            bad = true;
    ini_free(dd);
    if (!bad) {
        gc->dbfile = dv[D_DBFILE].s; dv[D_DBFILE].s = NULL;
        gc->socket = dv[D_SOCKET].s; dv[D_SOCKET].s = NULL;
        gc->logtarget = dv[D_LOGTARGET].s; dv[D_LOGTARGET].s = NULL;
        gc->nft_table = dv[D_TABLE].s; dv[D_TABLE].s = NULL;
        gc->user = dv[D_USER].s; dv[D_USER].s = NULL;
        const char *ps = dv[D_PRIVSEP].s ? dv[D_PRIVSEP].s : "auto";
        bool psb;
        if (!strcasecmp(ps, "auto")) gc->privsep = -1;
        else if (parse_bool(ps, &psb)) gc->privsep = psb;
        else {
            snprintf(err, errlen, "mailwarden.conf: privsep = %s: yes, no or auto", ps);
            bad = true;
        }
        gc->maxentries = (size_t)dv[D_MAXENT].i;
        gc->maxbans = (size_t)dv[D_MAXBANS].i;
        gc->unban_on_stop = dv[D_UNBAN].b;
        gc->rotate_grace = (int)dv[D_GRACE].i;
        gc->metrics_textfile = dv[D_MTEXT].s && *dv[D_MTEXT].s ? dv[D_MTEXT].s : NULL;
        if (gc->metrics_textfile) dv[D_MTEXT].s = NULL;
        gc->metrics_interval = (int)dv[D_MINT].i;
        gc->metrics_listen = dv[D_MLISTEN].s && *dv[D_MLISTEN].s ? dv[D_MLISTEN].s : NULL;
        if (gc->metrics_listen) dv[D_MLISTEN].s = NULL;
        gc->metrics_listen_any = dv[D_MANY].b;
        struct sockaddr_storage ss;
        socklen_t sl;
        if (gc->metrics_listen && mhttp_parse(gc->metrics_listen, gc->metrics_listen_any, &ss, &sl, err, errlen) < 0)
            bad = true;
        gc->ipset = (struct ipset_conf){ dv[D_IPSET].s, dv[D_IPT].s, dv[D_IP6T].s, dv[D_CHAIN].s,
                                         xstrdup(dv[D_BLOCKTYPE].s ? dv[D_BLOCKTYPE].s : ""), 0 };
        gc->fwcmd = (struct fwcmd_conf){ dv[D_FWCMD].s, dv[D_FWZONE].s, dv[D_BLOCKTYPE].s, dv[D_FWMODE].s, 0 };
        dv[D_IPSET].s = dv[D_IPT].s = dv[D_IP6T].s = dv[D_CHAIN].s = dv[D_BLOCKTYPE].s = NULL;
        dv[D_FWCMD].s = dv[D_FWZONE].s = dv[D_FWMODE].s = NULL;
        /* bad values are configuration errors, not a backend that never comes up */
        struct action *t = action_ipset_new(&gc->ipset, err, errlen);
        if (t) {
            action_free(t);
            t = action_firewalld_new(&gc->fwcmd, err, errlen);
        }
        if (!t) bad = true;
        action_free(t);
    }
    for (int i = 0; i < D_MAX; i++) free(dv[i].s);
    if (bad) {
        guard_conf_free(gc);
        return NULL;
    }

    /* jails */
    struct ini *d = ini_new();
    base = xasprintf("%s/jail", f2bdir ? f2bdir : gc->dir);
    r = ini_read_base(d, base, e2, sizeof e2);
    free(base);
    if (r <= 0) {
        snprintf(err, errlen, "%s", r < 0 ? e2 : *e2 ? e2 : "no jail configuration found");
        ini_free(d);
        guard_conf_free(gc);
        return NULL;
    }
    keep_files(gc, d);
    for (size_t i = 0; i < d->nsecs; i++) {
        const char *s = d->secs[i].name;
        if (!strcmp(s, "DEFAULT") || !strcmp(s, "INCLUDES") || !strncmp(s, "KNOWN/", 6) ||
            !strcasecmp(s, "Definition") || !strcasecmp(s, "Init"))
            continue;
        if (load_jail(gc, d, s, err, errlen) < 0) {
            ini_free(d);
            guard_conf_free(gc);
            return NULL;
        }
    }
    ini_free(d);
    if (!gc->njails) warn(gc, "no jail is enabled");
    return gc;
}

void guard_conf_free(struct guard_conf *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->njails; i++) jail_conf_free(&c->jails[i]);
    free(c->jails);
    for (size_t i = 0; i < c->nwarnings; i++) free(c->warnings[i]);
    free(c->warnings);
    for (size_t i = 0; i < c->nfiles; i++) free(c->files[i]);
    free(c->files);
    free(c->dir);
    free(c->f2bdir);
    free(c->dbfile);
    free(c->socket);
    free(c->logtarget);
    free(c->nft_table);
    free(c->metrics_textfile);
    free(c->metrics_listen);
    free(c->user);
    free((char *)c->ipset.ipset); free((char *)c->ipset.iptables); free((char *)c->ipset.ip6tables);
    free((char *)c->ipset.chain); free((char *)c->ipset.blocktype);
    free((char *)c->fwcmd.cmd); free((char *)c->fwcmd.zone); free((char *)c->fwcmd.blocktype);
    free((char *)c->fwcmd.mode);
    free(c);
}

struct jail_conf *guard_conf_jail(const struct guard_conf *c, const char *name)
{
    for (size_t i = 0; i < c->njails; i++)
        if (!strcmp(c->jails[i].name, name)) return &c->jails[i];
    return NULL;
}

static void print_table(FILE *f, const char *title, const struct copt *t, size_t n)
{
    fprintf(f, "%s\n", title);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-22s %-20s %s\n", t[i].name, t[i].deflt ? t[i].deflt : "", t[i].help);
}

void guard_conf_print_options(FILE *f)
{
    print_table(f, "jail options ([DEFAULT] and per jail in jail.conf/jail.local/jail.d):", jail_opts,
                sizeof jail_opts / sizeof jail_opts[0]);
    print_table(f, "daemon options (mailwarden.conf [Definition]):", daemon_opts,
                sizeof daemon_opts / sizeof daemon_opts[0]);
}

static void dur(FILE *f, int64_t s)
{
    if (s < 0) fputs("-1", f);
    else if (s && s % 86400 == 0) fprintf(f, "%lldd", (long long)(s / 86400));
    else if (s && s % 3600 == 0) fprintf(f, "%lldh", (long long)(s / 3600));
    else if (s && s % 60 == 0) fprintf(f, "%lldm", (long long)(s / 60));
    else fprintf(f, "%llds", (long long)s);
}

void guard_conf_print(const struct guard_conf *c, FILE *f)
{
    for (size_t i = 0; i < c->njails; i++) {
        const struct jail_conf *j = &c->jails[i];
        fprintf(f, "jail %s: filter %s, maxretry %u, findtime ", j->name, j->filter_spec, j->maxretry);
        dur(f, j->findtime);
        fputs(", bantime ", f);
        dur(f, j->bt.bantime);
        if (j->bt.increment) fputs(" (increment)", f);
        fputs(", actions", f);
        for (size_t k = 0; k < j->nactions; k++) {
            /* a fail2ban name says which mailwarden action runs it */
            static const char *const kn[] = { "nftables", "command", "null", "ipset", "firewalld" };
            const struct jail_action *a = &j->actions[k];
            const char *n = (size_t)a->kind < sizeof kn / sizeof kn[0] ? kn[a->kind] : "?";
            fprintf(f, "%s%s", k ? ", " : " ", a->spec);
            if (strncmp(a->spec, n, strlen(n)) && a->kind != ACT_NULL) fprintf(f, " (%s)", n);
        }
        if (j->pfx.on) {
            fprintf(f, ", prefix bans /%u and /%u after %u in ", j->pfx.len4, j->pfx.len6, j->pfx.count);
            dur(f, j->pfx.window);
        }
        if (j->ipv6_prefix) fprintf(f, ", IPv6 counted per /%u", j->ipv6_prefix);
        if (j->recidive) {
            fputs(", counts the bans of the other jails\n", f);
            continue;
        }
        if (j->journal) {
            fprintf(f, ", journal %s, journalmatch %s", j->journal_path ? j->journal_path : "(system journal)",
                    j->journalmatch && *j->journalmatch ? j->journalmatch : "(none: every entry)");
        } else {
            fputs(", logpath", f);
            for (size_t k = 0; k < j->nlogpath; k++) fprintf(f, " %s", j->logpath[k]);
        }
        fputc('\n', f);
    }
}
