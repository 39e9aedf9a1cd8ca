/*
 * action_ipset - the ipset + iptables/ip6tables backend (see action.h), for hosts that run
 * iptables (legacy or iptables-nft) rather than nftables directly.
 *
 * Kernel objects:
 *   ipset mw-<jail>-4 / mw-<jail>-6   hash:net family inet/inet6 timeout 0: bans of a jail,
 *                                     each entry with its own timeout (0 = until removed)
 *   ipset mw-block-4 / mw-block-6     hash:net without timeouts: the permanent block list
 *   CHAIN (INPUT) rules, inserted at the top when absent (-C before -I):
 *     [-p PROTO [-m multiport --dports P,...]] -m set --match-set mw-<jail>-4 src -j DROP
 *     -m set --match-set mw-block-4 src -j DROP            (and the same with ip6tables)
 * Every batch of operations is one `ipset restore -exist` process with the script on stdin,
 * never a process per address; -exist makes an add of a present entry update its timeout and
 * a del of an absent one a no-op, so re-applying a batch after a failure is harmless.
 * Timeouts above IPSET_MAX_TIMEOUT (and permanent bans) are entries without a timeout, which
 * the daemon's own timer removes.
 *
 * Everything that reaches argv or the script is validated data: jail names checked at
 * setup (ipset_jail_check), addresses formatted canonically (fw_target), numbers. Jails are
 * copied at setup; the state owns them. Errors: setup/apply/flush return failure with a
 * message (the caller retries with back-off); nothing is fatal.
 * Not done here: the sets and rules of a jail removed by a reload (or its old port list after
 * a change) stay until the next boot; they only match sets that are no longer filled.
 */
#include "guard/action.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IPSET_MAXELEM 1048576
#define MULTIPORT_SLOTS 15         /* iptables' multiport limit; a range takes two */
#define RULE_WORDS 24

struct ipset_state {
    char *ipset, *iptables, *ip6tables, *chain, *target;
    int timeout;
    struct fw_jail *jails;         /* names, ports, protocols owned */
    size_t nj;
};

int ipset_jail_check(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > IPSET_JAIL_MAX) {
        snprintf(err, errlen, "jail name '%.40s': ipset needs 1 to %d characters", name, IPSET_JAIL_MAX);
        return -1;
    }
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.' || c == '@';
        if (!ok) {
            snprintf(err, errlen, "jail name '%.40s': ipset allows only letters, digits and . _ - @", name);
            return -1;
        }
    }
    if (!strcmp(name, "block")) {
        snprintf(err, errlen, "jail name 'block' is the ipset of the permanent block list");
        return -1;
    }
    return 0;
}

int ipset_script_setup(struct buf *o, const struct fw_jail *jails, size_t nj, char *err, size_t errlen)
{
    for (size_t i = 0; i < nj; i++)
        if (ipset_jail_check(jails[i].name, err, errlen) < 0) return -1;
    buf_printf(o, "create mw-block-4 hash:net family inet maxelem %d\n", IPSET_MAXELEM);
    buf_printf(o, "create mw-block-6 hash:net family inet6 maxelem %d\n", IPSET_MAXELEM);
    for (size_t i = 0; i < nj; i++) {
        buf_printf(o, "create mw-%s-4 hash:net family inet timeout 0 maxelem %d\n", jails[i].name, IPSET_MAXELEM);
        buf_printf(o, "create mw-%s-6 hash:net family inet6 timeout 0 maxelem %d\n", jails[i].name, IPSET_MAXELEM);
    }
    return 0;
}

void ipset_script_ops(struct buf *o, const struct fw_jail *jails, size_t nj, const struct fw_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct fw_op *op = &ops[i];
        /* the kernel timeout has removed it already */
        if (op->kind == FW_UNBAN && op->expiry && op->timeout > 0 && op->timeout <= IPSET_MAX_TIMEOUT) continue;
        struct cidr c;
        char t[IPADDR_STRLEN + 8];
        if (!fw_target(&op->target, &c, t, sizeof t)) continue;
        char set[64];
        if (op->kind == FW_BLOCK || op->kind == FW_UNBLOCK) {
            snprintf(set, sizeof set, "mw-block-%d", c.addr.family);
        } else {
            if (op->jail < 0 || (size_t)op->jail >= nj) continue;
            char e[128];
            if (ipset_jail_check(jails[op->jail].name, e, sizeof e) < 0) continue;
            snprintf(set, sizeof set, "mw-%s-%d", jails[op->jail].name, c.addr.family);
        }
        switch (op->kind) {
        case FW_BAN: {
            long long to = op->timeout > 0 && op->timeout <= IPSET_MAX_TIMEOUT ? (long long)op->timeout : 0;
            buf_printf(o, "add %s %s timeout %lld\n", set, t, to);
            break;
        }
        case FW_BLOCK:
            buf_printf(o, "add %s %s\n", set, t);
            break;
        case FW_UNBAN:
        case FW_UNBLOCK:
            buf_printf(o, "del %s %s\n", set, t);
            break;
        }
    }
}

void ipset_script_flush(struct buf *o, const struct fw_jail *jails, size_t nj)
{
    for (size_t i = 0; i < nj; i++)
        buf_printf(o, "flush mw-%s-4\nflush mw-%s-6\n", jails[i].name, jails[i].name);
}

static int restore(struct ipset_state *s, const struct buf *script, char *err, size_t errlen)
{
    if (!script->len) return 0;
    char *argv[] = { s->ipset, "restore", "-exist", NULL };
    return action_spawn(argv, buf_cstr(script), script->len, NULL, s->timeout, err, errlen) == 0 ? 0 : -1;
}

/* One rule, turned into words after "iptables -w -C|-I CHAIN" by rule_argv. */
struct rule {
    const char *proto;             /* NULL: every protocol */
    char ports[128];               /* multiport list, "" for every port */
    char set[64];
};

static size_t rule_argv(const struct rule *r, const char *target, char **w)
{
    size_t n = 0;
    if (r->proto) {
        w[n++] = "-p";
        w[n++] = (char *)r->proto;
        if (r->ports[0]) {
            w[n++] = "-m";
            w[n++] = "multiport";
            w[n++] = "--dports";
            w[n++] = (char *)r->ports;
        }
    }
    w[n++] = "-m";
    w[n++] = "set";
    w[n++] = "--match-set";
    w[n++] = (char *)r->set;
    w[n++] = "src";
    w[n++] = "-j";
    w[n++] = (char *)target;
    w[n] = NULL;
    return n;
}

static struct rule *rule_new(struct rule **rules, size_t *nr, size_t *cap, const char *set, const char *proto)
{
    *rules = xgrow(*rules, cap, *nr + 1, sizeof **rules);
    struct rule *r = &(*rules)[(*nr)++];
    memset(r, 0, sizeof *r);
    r->proto = proto;
    snprintf(r->set, sizeof r->set, "%s", set);
    return r;
}

/* Rules for one set: per protocol, per group of at most 15 multiport slots. Appends to
 * *rules. */
static int jail_rules(struct rule **rules, size_t *nr, size_t *cap, const struct fw_jail *j, const char *set,
                      char *err, size_t errlen)
{
    const char *protos[FW_MAX_PROTOS];
    struct fw_portrange pr[FW_MAX_PORTS];
    char e2[200];
    int np = fw_protos_parse(j->protocol, protos, e2, sizeof e2);
    int nport = np <= 0 ? 0 : fw_ports_parse(j->port, j->protocol, pr, FW_MAX_PORTS, e2, sizeof e2);
    if (np < 0 || nport < 0) {
        snprintf(err, errlen, "jail %s: %s", j->name, e2);
        return -1;
    }
    if (np == 0) {
        rule_new(rules, nr, cap, set, NULL);
        return 0;
    }
    for (int p = 0; p < np; p++) {
        int k = 0;
        do {
            struct rule *r = rule_new(rules, nr, cap, set, protos[p]);
            struct buf b = BUF_INIT(sizeof r->ports - 1);
            int slots = 0;
            while (k < nport) {
                int need = pr[k].lo == pr[k].hi ? 1 : 2;
                if (slots + need > MULTIPORT_SLOTS) break;
                if (slots) buf_putc(&b, ',');
                if (pr[k].lo == pr[k].hi) buf_printf(&b, "%u", pr[k].lo);
                else buf_printf(&b, "%u:%u", pr[k].lo, pr[k].hi);
                slots += need;
                k++;
            }
            snprintf(r->ports, sizeof r->ports, "%s", buf_cstr(&b));
            buf_free(&b);
        } while (k < nport);
    }
    return 0;
}

/* Insert the rule unless `-C` finds it. */
static int ensure_rule(struct ipset_state *s, const char *prog, const struct rule *r, char *err, size_t errlen)
{
    char *argv[RULE_WORDS + 8];
    argv[0] = (char *)prog;
    argv[1] = "-w";
    argv[2] = "-C";
    argv[3] = s->chain;
    rule_argv(r, s->target, argv + 4);
    char e2[300];
    int st = action_spawn(argv, NULL, 0, NULL, s->timeout, e2, sizeof e2);
    if (st == 0) return 0;
    if (st != 1) {
        snprintf(err, errlen, "%s", e2);
        return -1;
    }
    argv[2] = "-I";
    return action_spawn(argv, NULL, 0, NULL, s->timeout, err, errlen) == 0 ? 0 : -1;
}

static void jails_free(struct ipset_state *s)
{
    for (size_t i = 0; i < s->nj; i++) {
        free((char *)s->jails[i].name);
        free((char *)s->jails[i].port);
        free((char *)s->jails[i].protocol);
    }
    free(s->jails);
    s->jails = NULL;
    s->nj = 0;
}

static int ipset_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct ipset_state *s = st;
    struct buf o = BUF_INIT(1u << 20);
    if (ipset_script_setup(&o, jails, n, err, errlen) < 0) {
        buf_free(&o);
        return -1;
    }
    /* all rules first, so a bad port list fails before anything is changed */
    struct rule *rules = NULL;
    size_t nr = 0, cap = 0;
    int rc = 0;
    size_t nr4 = 0;
    for (int fam = 4; fam <= 6 && rc == 0; fam += 2) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            char set[64];
            snprintf(set, sizeof set, "mw-%s-%d", jails[i].name, fam);
            rc = jail_rules(&rules, &nr, &cap, &jails[i], set, err, errlen);
        }
        if (fam == 4) nr4 = nr;
    }
    if (rc == 0) rc = restore(s, &o, err, errlen);
    buf_free(&o);
    /* jail rules first, the block list's last: -I puts it at the top */
    for (size_t i = 0; i < nr && rc == 0; i++)
        rc = ensure_rule(s, i < nr4 ? s->iptables : s->ip6tables, &rules[i], err, errlen);
    for (int fam = 4; fam <= 6 && rc == 0; fam += 2) {
        struct rule b;
        memset(&b, 0, sizeof b);
        snprintf(b.set, sizeof b.set, "mw-block-%d", fam);
        rc = ensure_rule(s, fam == 4 ? s->iptables : s->ip6tables, &b, err, errlen);
    }
    free(rules);
    if (rc < 0) return -1;
    jails_free(s);
    s->jails = xcalloc(n + 1, sizeof *s->jails);
    for (size_t i = 0; i < n; i++) {
        s->jails[i].name = xstrdup(jails[i].name);
        s->jails[i].port = jails[i].port ? xstrdup(jails[i].port) : NULL;
        s->jails[i].protocol = jails[i].protocol ? xstrdup(jails[i].protocol) : NULL;
    }
    s->nj = n;
    return 0;
}

static size_t ipset_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct ipset_state *s = st;
    struct buf o = BUF_INIT(SIZE_MAX / 2);
    ipset_script_ops(&o, s->jails, s->nj, ops, n);
    int rc = restore(s, &o, err, errlen);
    buf_free(&o);
    return rc < 0 ? 0 : n;
}

static int ipset_flush(void *st, char *err, size_t errlen)
{
    struct ipset_state *s = st;
    struct buf o = BUF_INIT(1u << 20);
    ipset_script_flush(&o, s->jails, s->nj);
    int rc = restore(s, &o, err, errlen);
    buf_free(&o);
    return rc;
}

static void ipset_free(void *st)
{
    struct ipset_state *s = st;
    if (!s) return;
    jails_free(s);
    free(s->ipset);
    free(s->iptables);
    free(s->ip6tables);
    free(s->chain);
    free(s->target);
    free(s);
}

static const struct action_ops ipset_ops = {
    .name = "ipset", .setup = ipset_setup, .apply = ipset_apply, .flush = ipset_flush, .free = ipset_free,
};

static char *dflt(const char *v, const char *d) { return xstrdup(v && *v ? v : d); }

struct action *action_ipset_new(const struct ipset_conf *c, char *err, size_t errlen)
{
    static const struct ipset_conf none;
    if (!c) c = &none;
    struct ipset_state *s = xcalloc(1, sizeof *s);
    s->ipset = dflt(c->ipset, "/usr/sbin/ipset");
    s->iptables = dflt(c->iptables, "/usr/sbin/iptables");
    s->ip6tables = dflt(c->ip6tables, "/usr/sbin/ip6tables");
    s->chain = dflt(c->chain, "INPUT");
    s->timeout = c->timeout > 0 ? c->timeout : 30;
    const char *bt = c->blocktype && *c->blocktype ? c->blocktype : "DROP";
    if (!strcasecmp(bt, "drop")) s->target = xstrdup("DROP");
    else if (!strcasecmp(bt, "reject")) s->target = xstrdup("REJECT");
    else {
        snprintf(err, errlen, "ipset blocktype '%.40s': DROP or REJECT", bt);
        ipset_free(s);
        return NULL;
    }
    for (const char *p = s->chain; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-') || p - s->chain >= 28 || s->chain[0] == '-') {
            snprintf(err, errlen, "iptables chain '%.40s': letters, digits, _ and - (at most 28)", s->chain);
            ipset_free(s);
            return NULL;
        }
    }
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = &ipset_ops;
    a->st = s;
    a->name = xstrdup("ipset");
    return a;
}
