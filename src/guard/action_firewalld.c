/*
 * action_firewalld - the firewalld backend (see action.h): rich rules through firewall-cmd,
 * an argv array per run, never a shell, never D-Bus directly.
 *
 *   ban      firewall-cmd [--zone=Z] --timeout=600s --add-rich-rule=R1 --add-rich-rule=R2 ...
 *            (bans of one batch with the same timeout share a run, at most FWCMD_BATCH
 *            rules; firewalld removes a timed runtime rule by itself; a permanent ban is a
 *            runtime rule without --timeout that the daemon's timer removes)
 *   unban    firewall-cmd [--zone=Z] --remove-rich-rule=R ...
 *   block    firewall-cmd --permanent [--zone=Z] --add-rich-rule=R ...   then the same rules
 *            at runtime (the permanent configuration is only loaded on firewalld's reload)
 *   unblock  both removed, permanent then runtime
 *   flush    every ban rule this process added, removed in runs of FWCMD_BATCH
 *   setup    firewall-cmd --state (is firewalld running?)
 * A rule: rule family="ipv4" source address="192.0.2.1" port port="25" protocol="tcp" drop
 * A jail with several ports/protocols gives one rule per (protocol, port or range); port
 * "all" gives `protocol value="tcp"`, protocol "all" no port match at all. Blocks match every
 * port. The verdict is drop or reject (blocktype).
 *
 * Operations are grouped in runs of consecutive operations of one kind (and one timeout),
 * so the order of a batch is kept. apply() returns the count of operations whose runs all
 * succeeded; firewall-cmd itself treats ALREADY_ENABLED / NOT_ENABLED as warnings, so a
 * retried run is harmless.
 *
 * State: the rules added per (jail, target) are remembered (a hash map owning a blob of
 * NUL-terminated rules per entry) so that an unban removes exactly what was added even
 * after a reload changed the jail's ports, and flush() knows what to remove. Bounded by the
 * daemon's maxbans. Strings reaching argv are built from validated data only: canonical
 * addresses (fw_target), numeric ports, fixed protocol names, a checked zone name.
 * firewalld's own reload drops runtime rules without telling us; the daemon re-applies
 * everything when a run fails, and on its own restart or reload.
 *
 * mode=ipset (firewalld_mode = ipset, or the action firewalld[mode=ipset] /
 * firewallcmd-ipset): firewalld's own ipsets, as fail2ban's firewallcmd-ipset does, but of
 * type hash:net so that network bans (prefix escalation) fit:
 *   setup    firewall-cmd --state
 *            firewall-cmd --permanent --get-ipsets            (which sets exist)
 *            firewall-cmd --permanent --new-ipset=mw-JAIL-4 --type=hash:net
 *                         --option=family=inet --option=timeout=0      (each missing set;
 *                         -6 with family=inet6; mw-block-4/-6 without timeout)
 *            firewall-cmd --reload                            (only when a set was created:
 *                         a permanent ipset reaches the runtime only so)
 *            firewall-cmd --permanent [--zone=Z] --add-rich-rule='rule family="ipv4"
 *                         source ipset="mw-JAIL-4" port port="25" protocol="tcp" drop' ...
 *            firewall-cmd [--zone=Z] --add-rich-rule=... (the same rules at runtime)
 *            rules this process added earlier and no longer wants (ports changed by a
 *            reload) are removed first, permanent and runtime
 *   ban      firewall-cmd --ipset=mw-JAIL-4 --add-entry=ADDR, or for several addresses of
 *            one set --add-entries-from-file=/dev/stdin with one address per line on stdin
 *   unban    the same with --remove-entry / --remove-entries-from-file (also when the ban
 *            expired: firewalld's sets carry no per-entry timeout)
 *   block    firewall-cmd --permanent --ipset=mw-block-4 --add-entry=... then the same at
 *            runtime (the permanent form of the block list); unblock removes both
 *   flush    every ban entry this process added, removed per set
 * timeout=0: the set supports timeouts but entries never expire by themselves. firewalld
 * refuses --add-entry on a set whose timeout is not 0 (IPSET_WITH_TIMEOUT) and firewall-cmd
 * has no per-entry timeout, so the daemon's timer lifts bans (the kernel does not, unlike
 * the nftables action and the rich rules' --timeout).
 */
#include "guard/action.h"
#include "util/hash.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct fwd_jail {
    char *name;
    char **match;                  /* " port port=\"25\" protocol=\"tcp\"", ...; NULL-terminated */
};

struct fwd_state {
    char *cmd, *zone, *verdict;    /* zone: "--zone=NAME" or NULL */
    int timeout;
    struct fwd_jail *jails;
    size_t nj;
    struct hmap bans;              /* "jail\0target" -> char *blob ("r1\0r2\0\0");
                                      ipset mode: "set\0target" -> char *NULL */
    bool ipset;                    /* mode=ipset */
    char **rules;                  /* ipset mode: rich rules installed by setup (NULL-terminated) */
};

/* A run of firewall-cmd with many rules. */
struct run {
    char **argv;
    size_t n, cap, nfixed;
};

static void run_init(struct run *r, const struct fwd_state *s, bool permanent, int64_t timeout)
{
    memset(r, 0, sizeof *r);
    r->argv = xgrow(NULL, &r->cap, FWCMD_BATCH + 8, sizeof *r->argv);
    r->argv[r->n++] = xstrdup(s->cmd);
    if (permanent) r->argv[r->n++] = xstrdup("--permanent");
    if (s->zone) r->argv[r->n++] = xstrdup(s->zone);
    if (timeout > 0) r->argv[r->n++] = xasprintf("--timeout=%llds", (long long)timeout);
    r->nfixed = r->n;
    r->argv[r->n] = NULL;
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->argv[i]);
    free(r->argv);
    memset(r, 0, sizeof *r);
}

/* Add an --add/--remove word; runs full runs first. Returns -1 when a run failed. */
static int run_add(struct run *r, const struct fwd_state *s, const char *opt, const char *rule, char *err,
                   size_t errlen)
{
    if (r->n - r->nfixed >= FWCMD_BATCH) {
        r->argv[r->n] = NULL;
        int rc = action_spawn(r->argv, NULL, 0, NULL, s->timeout, err, errlen);
        for (size_t i = r->nfixed; i < r->n; i++) free(r->argv[i]);
        r->n = r->nfixed;
        if (rc != 0) return -1;
    }
    r->argv = xgrow(r->argv, &r->cap, r->n + 2, sizeof *r->argv);
    r->argv[r->n++] = xasprintf("%s=%s", opt, rule);
    r->argv[r->n] = NULL;
    return 0;
}

static int run_end(struct run *r, const struct fwd_state *s, char *err, size_t errlen)
{
    int rc = 0;
    if (r->n > r->nfixed) {
        r->argv[r->n] = NULL;
        rc = action_spawn(r->argv, NULL, 0, NULL, s->timeout, err, errlen) == 0 ? 0 : -1;
    }
    run_free(r);
    return rc;
}

static void jails_free(struct fwd_state *s)
{
    for (size_t i = 0; i < s->nj; i++) {
        free(s->jails[i].name);
        argv_free(s->jails[i].match);
    }
    free(s->jails);
    s->jails = NULL;
    s->nj = 0;
}

static void bans_clear(struct fwd_state *s)
{
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&s->bans, &it, &k, &v)) free(*(char **)v);
    hmap_free(&s->bans);
    hmap_init(&s->bans, sizeof(char *));
}

/* The match parts of a jail's rules. */
static char **jail_match(const struct fw_jail *j, char *err, size_t errlen)
{
    const char *protos[FW_MAX_PROTOS];
    struct fw_portrange pr[FW_MAX_PORTS];
    char e2[200];
    int np = fw_protos_parse(j->protocol, protos, e2, sizeof e2);
    int nport = np <= 0 ? 0 : fw_ports_parse(j->port, j->protocol, pr, FW_MAX_PORTS, e2, sizeof e2);
    if (np < 0 || nport < 0) {
        snprintf(err, errlen, "jail %s: %s", j->name, e2);
        return NULL;
    }
    size_t n = np == 0 ? 1 : (size_t)np * (size_t)(nport ? nport : 1);
    char **m = xcalloc(n + 1, sizeof *m);
    size_t k = 0;
    if (np == 0) m[k++] = xstrdup("");
    for (int p = 0; p < np; p++) {
        if (!nport) m[k++] = xasprintf(" protocol value=\"%s\"", protos[p]);
        for (int q = 0; q < nport; q++) {
            if (pr[q].lo == pr[q].hi)
                m[k++] = xasprintf(" port port=\"%u\" protocol=\"%s\"", pr[q].lo, protos[p]);
            else
                m[k++] = xasprintf(" port port=\"%u-%u\" protocol=\"%s\"", pr[q].lo, pr[q].hi, protos[p]);
        }
    }
    return m;
}

static void rule_text(struct buf *b, const struct fwd_state *s, const struct cidr *c, const char *t,
                      const char *match)
{
    buf_printf(b, "rule family=\"%s\" source address=\"%s\"%s %s", c->addr.family == 4 ? "ipv4" : "ipv6", t,
               match, s->verdict);
    buf_putc(b, 0);
}

/* Rules for op as a blob "r1\0r2\0" (+ final NUL). false when op is not valid. */
static bool op_rules(const struct fwd_state *s, const struct fw_op *op, struct buf *blob, struct buf *key)
{
    struct cidr c;
    char t[IPADDR_STRLEN + 8];
    if (!fw_target(&op->target, &c, t, sizeof t)) return false;
    if (op->kind == FW_BLOCK || op->kind == FW_UNBLOCK) {
        rule_text(blob, s, &c, t, "");
    } else {
        if (op->jail < 0 || (size_t)op->jail >= s->nj) return false;
        const struct fwd_jail *j = &s->jails[op->jail];
        buf_puts(key, j->name);
        buf_putc(key, 0);
        buf_puts(key, t);
        for (char **m = j->match; *m; m++) rule_text(blob, s, &c, t, *m);
    }
    buf_putc(blob, 0);
    return true;
}

static int fwd_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    struct fwd_jail *nj = xcalloc(n + 1, sizeof *nj);
    for (size_t i = 0; i < n; i++) {
        nj[i].name = xstrdup(jails[i].name);
        nj[i].match = jail_match(&jails[i], err, errlen);
        if (!nj[i].match) {
            for (size_t k = 0; k <= i; k++) {
                free(nj[k].name);
                argv_free(nj[k].match);
            }
            free(nj);
            return -1;
        }
    }
    char *argv[] = { s->cmd, "--state", NULL };
    if (action_spawn(argv, NULL, 0, NULL, s->timeout, err, errlen) != 0) {
        for (size_t k = 0; k < n; k++) {
            free(nj[k].name);
            argv_free(nj[k].match);
        }
        free(nj);
        return -1;
    }
    jails_free(s);
    s->jails = nj;
    s->nj = n;
    return 0;
}

static bool blob_has(const struct buf *blob, const char *rule)
{
    for (const char *p = buf_cstr(blob); *p; p += strlen(p) + 1)
        if (!strcmp(p, rule)) return true;
    return false;
}

/* Run-grouping key of an operation: consecutive operations with the same key share runs. */
static int64_t op_group(const struct fw_op *op)
{
    return op->kind == FW_BAN ? (op->timeout > 0 ? op->timeout : 0) : -1 - (int64_t)op->kind;
}

/* Carry out ops[a..b) (one kind, one timeout). */
static int do_group(struct fwd_state *s, const struct fw_op *ops, size_t a, size_t b, char *err, size_t errlen)
{
    enum fw_kind kind = ops[a].kind;
    bool add = kind == FW_BAN || kind == FW_BLOCK;
    const char *opt = add ? "--add-rich-rule" : "--remove-rich-rule";
    int passes = kind == FW_BLOCK || kind == FW_UNBLOCK ? 2 : 1;
    int rc = 0;
    for (int pass = 0; pass < passes && rc == 0; pass++) {
        struct run r;
        run_init(&r, s, passes == 2 && pass == 0, kind == FW_BAN ? ops[a].timeout : 0);
        for (size_t i = a; i < b && rc == 0; i++) {
            const struct fw_op *op = &ops[i];
            struct buf blob = BUF_INIT(1u << 20), key = BUF_INIT(512);
            if (!op_rules(s, op, &blob, &key)) {
                buf_free(&blob);
                buf_free(&key);
                continue;
            }
            const char *rules = buf_cstr(&blob);
            if (kind == FW_UNBAN) {
                char **have = hmap_get(&s->bans, buf_str(&key));
                if (have) rules = *have;
                /* firewalld removed a timed rule by itself */
                if (op->expiry && op->timeout > 0) rules = "";
            }
            for (const char *p = rules; *p && rc == 0; p += strlen(p) + 1) rc = run_add(&r, s, opt, p, err, errlen);
            buf_free(&blob);
            buf_free(&key);
        }
        if (rc == 0) rc = run_end(&r, s, err, errlen);
        else run_free(&r);
    }
    /* a ban again with other rules (the jail's ports changed by a reload): the old ones go */
    if (rc == 0 && kind == FW_BAN) {
        struct run r;
        run_init(&r, s, false, 0);
        for (size_t i = a; i < b && rc == 0; i++) {
            struct buf blob = BUF_INIT(1u << 20), key = BUF_INIT(512);
            char **have = op_rules(s, &ops[i], &blob, &key) ? hmap_get(&s->bans, buf_str(&key)) : NULL;
            for (const char *p = have ? *have : ""; *p && rc == 0; p += strlen(p) + 1)
                if (!blob_has(&blob, p)) rc = run_add(&r, s, "--remove-rich-rule", p, err, errlen);
            buf_free(&blob);
            buf_free(&key);
        }
        if (rc == 0) rc = run_end(&r, s, err, errlen);
        else run_free(&r);
    }
    if (rc < 0) return -1;
    /* remember what is in the firewall now */
    for (size_t i = a; i < b && (kind == FW_BAN || kind == FW_UNBAN); i++) {
        struct buf blob = BUF_INIT(1u << 20), key = BUF_INIT(512);
        if (op_rules(s, &ops[i], &blob, &key)) {
            char **v = hmap_get(&s->bans, buf_str(&key));
            if (v) {
                free(*v);
                *v = NULL;
            }
            if (kind == FW_BAN) {
                if (!v) v = hmap_put(&s->bans, buf_str(&key), NULL);
                *v = xmalloc(blob.len);
                memcpy(*v, blob.p, blob.len);
            } else if (v) {
                hmap_del(&s->bans, buf_str(&key));
            }
        }
        buf_free(&blob);
        buf_free(&key);
    }
    return 0;
}

static size_t fwd_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    size_t a = 0;
    while (a < n) {
        size_t b = a + 1;
        while (b < n && ops[b].kind == ops[a].kind && op_group(&ops[b]) == op_group(&ops[a])) b++;
        if (do_group(s, ops, a, b, err, errlen) < 0) return a;
        a = b;
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int fwd_flush(void *st, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    /* sorted, so that the runs do not depend on the hash order */
    const char **all = NULL;
    size_t n = 0, cap = 0;
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&s->bans, &it, &k, &v))
        for (const char *p = *(char **)v; *p; p += strlen(p) + 1) {
            all = xgrow(all, &cap, n + 1, sizeof *all);
            all[n++] = p;
        }
    if (n) qsort(all, n, sizeof *all, cmp_str);
    struct run r;
    run_init(&r, s, false, 0);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = run_add(&r, s, "--remove-rich-rule", all[i], err, errlen);
    if (rc == 0) rc = run_end(&r, s, err, errlen);
    else run_free(&r);
    free(all);
    if (rc == 0) bans_clear(s);
    return rc;
}

static void fwd_free(void *st)
{
    struct fwd_state *s = st;
    if (!s) return;
    bans_clear(s);
    hmap_free(&s->bans);
    jails_free(s);
    argv_free(s->rules);
    free(s->cmd);
    free(s->zone);
    free(s->verdict);
    free(s);
}

static const struct action_ops fwd_ops = {
    .name = "firewalld", .setup = fwd_setup, .apply = fwd_apply, .flush = fwd_flush, .free = fwd_free,
};


/* ---- mode=ipset ---- */

static void set_name(char *buf, size_t cap, const char *jail, int fam)
{
    snprintf(buf, cap, "mw-%s-%d", jail, fam);
}

/* Run argv (NULL-terminated words, copied) with optional stdin; 0 or -1 with err. */
static int run_words(const struct fwd_state *s, char *const *argv, const char *in, size_t inlen, struct buf *out,
                     char *err, size_t errlen)
{
    return action_spawn(argv, in, inlen, out, s->timeout, err, errlen) == 0 ? 0 : -1;
}

static int run_rules(const struct fwd_state *s, bool permanent, const char *opt, char *const *rules, char *err,
                     size_t errlen)
{
    if (!rules || !*rules) return 0;
    struct run r;
    run_init(&r, s, permanent, 0);
    int rc = 0;
    for (char *const *p = rules; *p && rc == 0; p++) rc = run_add(&r, s, opt, *p, err, errlen);
    if (rc == 0) return run_end(&r, s, err, errlen);
    run_free(&r);
    return rc;
}

static bool in_list(char *const *v, const char *x)
{
    for (; v && *v; v++)
        if (!strcmp(*v, x)) return true;
    return false;
}

static bool word_in(const char *list, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += wl) {
        bool start = p == list || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t';
        bool end = p[wl] == 0 || p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\t';
        if (start && end) return true;
    }
    return false;
}

static int fwi_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    for (size_t i = 0; i < n; i++)
        if (ipset_jail_check(jails[i].name, err, errlen) < 0) return -1;
    /* the wanted rules, from the jails' ports; the block sets match every port */
    char **want = xcalloc(1, sizeof *want);
    size_t nw = 0;
    for (size_t i = 0; i <= n; i++) {
        char **match = NULL;
        if (i < n && !(match = jail_match(&jails[i], err, errlen))) {
            argv_free(want);
            return -1;
        }
        static char *const none[] = { "", NULL };
        for (int fam = 4; fam <= 6; fam += 2) {
            char set[64];
            set_name(set, sizeof set, i < n ? jails[i].name : "block", fam);
            for (char *const *m = match ? match : none; *m; m++) {
                want = xrealloc(want, (nw + 2) * sizeof *want);
                want[nw++] = xasprintf("rule family=\"ipv%d\" source ipset=\"%s\"%s %s", fam, set, *m, s->verdict);
                want[nw] = NULL;
            }
        }
        argv_free(match);
    }
    char *state[] = { s->cmd, "--state", NULL };
    char *get[] = { s->cmd, "--permanent", "--get-ipsets", NULL };
    struct buf have = BUF_INIT(1u << 20);
    int rc = run_words(s, state, NULL, 0, NULL, err, errlen);
    if (rc == 0) rc = run_words(s, get, NULL, 0, &have, err, errlen);
    bool created = false;
    for (size_t i = 0; i <= n && rc == 0; i++) {
        for (int fam = 4; fam <= 6 && rc == 0; fam += 2) {
            char set[64];
            set_name(set, sizeof set, i < n ? jails[i].name : "block", fam);
            if (word_in(buf_cstr(&have), set)) continue;
            char *newset = xasprintf("--new-ipset=%s", set);
            char *argv[] = { s->cmd, "--permanent", newset, "--type=hash:net",
                             fam == 4 ? "--option=family=inet" : "--option=family=inet6",
                             i < n ? "--option=timeout=0" : NULL, NULL };
            rc = run_words(s, argv, NULL, 0, NULL, err, errlen);
            free(newset);
            created = true;
        }
    }
    buf_free(&have);
    if (rc == 0 && created) {
        char *reload[] = { s->cmd, "--reload", NULL };
        rc = run_words(s, reload, NULL, 0, NULL, err, errlen);
    }
    /* rules of an earlier setup that are no longer wanted go first */
    char **stale = xcalloc(1, sizeof *stale);
    size_t ns = 0;
    for (char **p = s->rules; p && *p; p++)
        if (!in_list(want, *p)) {
            stale = xrealloc(stale, (ns + 2) * sizeof *stale);
            stale[ns++] = xstrdup(*p);
            stale[ns] = NULL;
        }
    if (rc == 0) rc = run_rules(s, true, "--remove-rich-rule", stale, err, errlen);
    if (rc == 0) rc = run_rules(s, false, "--remove-rich-rule", stale, err, errlen);
    argv_free(stale);
    if (rc == 0) rc = run_rules(s, true, "--add-rich-rule", want, err, errlen);
    if (rc == 0) rc = run_rules(s, false, "--add-rich-rule", want, err, errlen);
    if (rc < 0) {
        argv_free(want);
        return -1;
    }
    argv_free(s->rules);
    s->rules = want;
    jails_free(s);
    s->jails = xcalloc(n + 1, sizeof *s->jails);
    for (size_t i = 0; i < n; i++) s->jails[i].name = xstrdup(jails[i].name);
    s->nj = n;
    return 0;
}

/* The set and canonical entry of an operation; false when it is not valid. */
static bool fwi_entry(const struct fwd_state *s, const struct fw_op *op, char *set, size_t scap, char *t, size_t tcap)
{
    struct cidr c;
    if (!fw_target(&op->target, &c, t, tcap)) return false;
    if (op->kind == FW_BLOCK || op->kind == FW_UNBLOCK) {
        set_name(set, scap, "block", c.addr.family);
        return true;
    }
    if (op->jail < 0 || (size_t)op->jail >= s->nj) return false;
    set_name(set, scap, s->jails[op->jail].name, c.addr.family);
    return true;
}

/* One run: the entries of ops[a..b) that belong to `set` (one kind). */
static int fwi_run(struct fwd_state *s, const char *set, bool permanent, bool add, const struct buf *entries,
                   size_t n, char *err, size_t errlen)
{
    char *ipset = xasprintf("--ipset=%s", set);
    char *what;
    const char *in = NULL;
    size_t inlen = 0;
    if (n == 1) {
        size_t l = entries->len;
        what = xasprintf("%s=%.*s", add ? "--add-entry" : "--remove-entry", (int)(l ? l - 1 : 0), entries->p);
    } else {
        what = xstrdup(add ? "--add-entries-from-file=/dev/stdin" : "--remove-entries-from-file=/dev/stdin");
        in = entries->p;
        inlen = entries->len;
    }
    char *argv[] = { s->cmd, permanent ? "--permanent" : ipset, permanent ? ipset : what, permanent ? what : NULL,
                     NULL };
    int rc = run_words(s, argv, in, inlen, NULL, err, errlen);
    free(ipset);
    free(what);
    return rc;
}

static size_t fwi_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    size_t a = 0;
    while (a < n) {
        char set[64], t[IPADDR_STRLEN + 8];
        if (!fwi_entry(s, &ops[a], set, sizeof set, t, sizeof t)) {
            a++;
            continue;
        }
        /* the run: consecutive operations of this kind on this set */
        struct buf entries = BUF_INIT(1u << 26);
        size_t cnt = 0, b = a;
        while (b < n && ops[b].kind == ops[a].kind) {
            char set2[64], t2[IPADDR_STRLEN + 8];
            if (fwi_entry(s, &ops[b], set2, sizeof set2, t2, sizeof t2)) {
                if (strcmp(set2, set)) break;
                buf_printf(&entries, "%s\n", t2);
                cnt++;
            }
            b++;
        }
        enum fw_kind k = ops[a].kind;
        bool add = k == FW_BAN || k == FW_BLOCK;
        int rc = 0;
        if (k == FW_BLOCK || k == FW_UNBLOCK) rc = fwi_run(s, set, true, add, &entries, cnt, err, errlen);
        if (rc == 0) rc = fwi_run(s, set, false, add, &entries, cnt, err, errlen);
        if (rc == 0 && (k == FW_BAN || k == FW_UNBAN)) {
            /* remember what is in the sets now, for flush */
            for (const char *p = buf_cstr(&entries); *p;) {
                const char *nl = strchr(p, '\n');
                struct buf key = BUF_INIT(256);
                buf_puts(&key, set);
                buf_putc(&key, 0);
                buf_append(&key, p, (size_t)(nl - p));
                if (add) hmap_put(&s->bans, buf_str(&key), NULL);
                else hmap_del(&s->bans, buf_str(&key));
                buf_free(&key);
                p = nl + 1;
            }
        }
        buf_free(&entries);
        if (rc < 0) return a;
        a = b;
    }
    return n;
}

static int cmp_key(const void *x, const void *y)
{
    const struct str *a = x, *b = y;
    size_t l = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, l);
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

static int fwi_flush(void *st, char *err, size_t errlen)
{
    struct fwd_state *s = st;
    struct str *keys = NULL;
    size_t n = 0, cap = 0, it = 0;
    struct str k;
    void *v;
    while (hmap_next(&s->bans, &it, &k, &v)) {
        keys = xgrow(keys, &cap, n + 1, sizeof *keys);
        keys[n++] = k;
    }
    if (n) qsort(keys, n, sizeof *keys, cmp_key);
    int rc = 0;
    for (size_t a = 0; a < n && rc == 0;) {
        const char *set = keys[a].p;             /* "set\0entry" */
        struct buf entries = BUF_INIT(1u << 26);
        size_t b = a;
        for (; b < n && !strcmp(keys[b].p, set); b++) {
            size_t sl = strlen(keys[b].p) + 1;
            buf_append(&entries, keys[b].p + sl, keys[b].len - sl);
            buf_putc(&entries, '\n');
        }
        rc = fwi_run(s, set, false, false, &entries, b - a, err, errlen);
        buf_free(&entries);
        a = b;
    }
    free(keys);
    if (rc == 0) bans_clear(s);
    return rc;
}

static const struct action_ops fwi_ops = {
    .name = "firewalld", .setup = fwi_setup, .apply = fwi_apply, .flush = fwi_flush, .free = fwd_free,
};

struct action *action_firewalld_new(const struct fwcmd_conf *c, char *err, size_t errlen)
{
    static const struct fwcmd_conf none;
    if (!c) c = &none;
    struct fwd_state *s = xcalloc(1, sizeof *s);
    hmap_init(&s->bans, sizeof(char *));
    s->cmd = xstrdup(c->cmd && *c->cmd ? c->cmd : "/usr/bin/firewall-cmd");
    s->timeout = c->timeout > 0 ? c->timeout : 30;
    const char *bt = c->blocktype && *c->blocktype ? c->blocktype : "drop";
    const char *mode = c->mode && *c->mode ? c->mode : "richrule";
    if (!strcasecmp(bt, "drop") || !strcasecmp(bt, "reject")) {
        s->verdict = xstrdup(!strcasecmp(bt, "drop") ? "drop" : "reject");
    } else {
        snprintf(err, errlen, "firewalld blocktype '%.40s': drop or reject", bt);
        goto fail;
    }
    if (!strcmp(mode, "ipset")) {
        s->ipset = true;
    } else if (strcmp(mode, "richrule") && strcmp(mode, "rich-rules")) {
        snprintf(err, errlen, "firewalld mode '%.40s': richrule or ipset", mode);
        goto fail;
    }
    if (c->zone && *c->zone) {
        size_t zl = strlen(c->zone);
        bool ok = zl <= 17 && c->zone[0] != '-';
        for (const char *p = c->zone; *p && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                 *p == '-' || *p == '/';
        if (!ok) {
            snprintf(err, errlen, "firewalld zone '%.40s': letters, digits, _ - / (at most 17)", c->zone);
            goto fail;
        }
        s->zone = xasprintf("--zone=%s", c->zone);
    }
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = s->ipset ? &fwi_ops : &fwd_ops;
    a->st = s;
    a->name = xstrdup(s->ipset ? "firewalld-ipset" : "firewalld");
    return a;
fail:
    fwd_free(s);
    return NULL;
}
