/*
 * action_nft - the nftables backend (see action.h), through libnftables in-process: no
 * process per change, no shell. The script text is built only from validated data (jail
 * names sanitised to identifiers at setup, addresses formatted canonically, numbers), never
 * from log text.
 *
 * Ruleset (table inet <table>, default "mailwarden"):
 *   set block4/block6      { type ipv4_addr|ipv6_addr; flags interval; }     permanent blocks
 *   set j_<jail>_4/_6      { type ...; flags interval, timeout; }            bans of a jail
 *   chain input            { type filter hook input priority filter - 1; policy accept; }
 *       ip saddr @block4 drop; ip6 saddr @block6 drop
 *       [meta l4proto {tcp} th dport {25, 465}] ip saddr @j_<jail>_4 drop   (per jail)
 * Idempotent removal: nft 1.0.6 has no "destroy element", and deleting an absent element
 * fails the whole transaction, so an unban is "add element X; delete element X" (adding an
 * existing element is a no-op). A ban is the same followed by "add element X timeout T", so
 * the kernel timeout is always the one asked for.
 * In one batch only the last operation on an element is written, and an element of a network
 * starts a new transaction (apply): see nft_script_ops and nft_apply for the kernel's rules
 * on interval sets that make this necessary for prefix bans.
 * Timeouts longer than NFT_MAX_TIMEOUT (and permanent bans) are added without a timeout;
 * the daemon's own timer removes them.
 * libnftables is loaded when the first nftables action is created (dynlib.h), so a daemon
 * with only command or ipset actions never maps it.
 */
#include "guard/action.h"
#include "util/dynlib.h"
#include "util/hash.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <nftables/libnftables.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NFT_MAX_TIMEOUT (30LL * 86400)
#define NFT_MAX_JAILS 255

/* The context caches the ruleset (with every element of an interval set: ~1 MB and more
 * with thousands of bans); it is created for a burst of work and freed after this many
 * idle seconds. */
#define NFT_IDLE_SECS 10

struct nft_state {
    struct nft_ctx *ctx;        /* NULL while idle */
    int64_t last_use;
    char *table;
    char **setnames;            /* per jail: "j_<sanitised>" */
    size_t nj;
};

#define NFT_FNS(X) X(nft_ctx_new) X(nft_ctx_free) X(nft_run_cmd_from_buffer) X(nft_ctx_get_error_buffer) \
    X(nft_ctx_buffer_output) X(nft_ctx_buffer_error)
DYNLIB_TABLE(nl, nft_load, NFT_FNS, MW_SONAME_NFTABLES, "libnftables1")

static char *set_base(const char *jail)
{
    size_t n = strlen(jail);
    if (n > 200) n = 200;
    char *s = xmalloc(n + 3);
    s[0] = 'j';
    s[1] = '_';
    for (size_t i = 0; i < n; i++) {
        char c = jail[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        s[2 + i] = ok ? c : '_';
    }
    s[n + 2] = 0;
    return s;
}

/* "25, 465,submission, 1000:2000" -> "25, 465, 587, 1000-2000"; 0 = every port */
static int port_list(const char *spec, const char *proto, struct buf *out, char *err, size_t errlen)
{
    if (!spec) return 0;
    const char *p = spec;
    int items = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        char tok[64];
        size_t tl = (size_t)(p - s);
        if (tl >= sizeof tok) {
            snprintf(err, errlen, "port '%.*s': too long", (int)tl, s);
            return -1;
        }
        memcpy(tok, s, tl);
        tok[tl] = 0;
        if (!strcmp(tok, "all") || !strcmp(tok, "0:65535") || !strcmp(tok, "0-65535") ||
            !strcmp(tok, "1:65535") || !strcmp(tok, "1-65535"))
            return 0;
        long lo = -1, hi = -1;
        char *sep = strpbrk(tok, ":-");
        char *parts[2] = { tok, sep ? sep + 1 : NULL };
        if (sep) *sep = 0;
        for (int k = 0; k < (sep ? 2 : 1); k++) {
            char *end;
            long v = strtol(parts[k], &end, 10);
            if (*parts[k] && !*end) {
                if (v < 0 || v > 65535) {
                    snprintf(err, errlen, "port %ld out of range", v);
                    return -1;
                }
            } else {
                struct servent *se = getservbyname(parts[k], proto && strcmp(proto, "udp") == 0 ? "udp" : "tcp");
                if (!se) {
                    snprintf(err, errlen, "unknown port name '%s'", parts[k]);
                    return -1;
                }
                v = ntohs((uint16_t)se->s_port);
            }
            if (k == 0) lo = v; else hi = v;
        }
        if (items++) buf_puts(out, ", ");
        if (sep && hi != lo) buf_printf(out, "%ld-%ld", lo < hi ? lo : hi, lo < hi ? hi : lo);
        else buf_printf(out, "%ld", lo);
    }
    return items;
}

static int proto_list(const char *proto, struct buf *out, char *err, size_t errlen)
{
    if (!proto || !*proto) proto = "tcp";
    const char *p = proto;
    int items = 0;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ') p++;
        size_t l = (size_t)(p - s);
        if (l == 3 && !strncmp(s, "all", 3)) return 0;
        static const char *const known[] = { "tcp", "udp", "sctp", "dccp", "udplite" };
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strlen(known[k]) == l && !strncmp(s, known[k], l)) ok = true;
        if (!ok) {
            snprintf(err, errlen, "unknown protocol '%.*s'", (int)l, s);
            return -1;
        }
        if (items++) buf_puts(out, ", ");
        buf_append(out, s, l);
    }
    return items;
}

int nft_script_setup(struct buf *o, const char *table, const struct fw_jail *jails, size_t nj,
                     char *err, size_t errlen)
{
    buf_printf(o, "add table inet %s\n", table);
    buf_printf(o, "add set inet %s block4 { type ipv4_addr; flags interval; }\n", table);
    buf_printf(o, "add set inet %s block6 { type ipv6_addr; flags interval; }\n", table);
    for (size_t i = 0; i < nj; i++) {
        char *b = set_base(jails[i].name);
        buf_printf(o, "add set inet %s %s_4 { type ipv4_addr; flags interval, timeout; }\n", table, b);
        buf_printf(o, "add set inet %s %s_6 { type ipv6_addr; flags interval, timeout; }\n", table, b);
        free(b);
    }
    buf_printf(o, "add chain inet %s input { type filter hook input priority filter - 1; policy accept; }\n", table);
    buf_printf(o, "flush chain inet %s input\n", table);
    buf_printf(o, "add rule inet %s input ip saddr @block4 drop\n", table);
    buf_printf(o, "add rule inet %s input ip6 saddr @block6 drop\n", table);
    for (size_t i = 0; i < nj; i++) {
        struct buf ports = BUF_INIT(65536), protos = BUF_INIT(256);
        char e2[256];
        int np = proto_list(jails[i].protocol, &protos, e2, sizeof e2);
        int nport = np < 0 ? -1 : np == 0 ? 0 : port_list(jails[i].port, jails[i].protocol, &ports, e2, sizeof e2);
        if (np < 0 || nport < 0) {
            snprintf(err, errlen, "jail %s: %s", jails[i].name, e2);
            buf_free(&ports);
            buf_free(&protos);
            return -1;
        }
        char match[70000];
        if (np > 0 && nport > 0)
            snprintf(match, sizeof match, "meta l4proto { %s } th dport { %s } ", buf_cstr(&protos), buf_cstr(&ports));
        else if (np > 0 && jails[i].protocol && *jails[i].protocol)
            snprintf(match, sizeof match, "meta l4proto { %s } ", buf_cstr(&protos));
        else
            match[0] = 0;
        char *b = set_base(jails[i].name);
        buf_printf(o, "add rule inet %s input %sip saddr @%s_4 drop\n", table, match, b);
        buf_printf(o, "add rule inet %s input %sip6 saddr @%s_6 drop\n", table, match, b);
        free(b);
        buf_free(&ports);
        buf_free(&protos);
    }
    return 0;
}

static void elem(struct buf *o, const struct fw_op *op)
{
    char t[IPADDR_STRLEN + 8];
    if (op->target.prefix == (op->target.addr.family == 4 ? 32 : 128))
        ipaddr_format(&op->target.addr, t, sizeof t);
    else
        cidr_format(&op->target, t, sizeof t);
    buf_puts(o, t);
}

/* The set of op (false when the op names no known jail). */
static bool op_set(const struct fw_jail *jails, size_t nj, const struct fw_op *op, char *set, size_t cap)
{
    int fam = op->target.addr.family == 4 ? 4 : 6;
    if (op->kind == FW_BLOCK || op->kind == FW_UNBLOCK) {
        snprintf(set, cap, "block%d", fam);
        return true;
    }
    if (op->jail < 0 || (size_t)op->jail >= nj) return false;
    char *b = set_base(jails[op->jail].name);
    snprintf(set, cap, "%s_%d", b, fam);
    free(b);
    return true;
}

void nft_script_ops(struct buf *o, const char *table, const struct fw_jail *jails, size_t nj,
                    const struct fw_op *ops, size_t n)
{
    /* Only the last operation on an element counts (each one's script sets the element's
     * final state from any state): the kernel fails a transaction that re-adds and deletes
     * one element twice (a ban taken over by a prefix ban in the same batch). */
    struct hmap last;
    hmap_init(&last, sizeof(size_t));
    struct buf k = BUF_INIT(512);
    char set[256];
    for (size_t i = 0; i < n; i++) {
        if (!op_set(jails, nj, &ops[i], set, sizeof set)) continue;
        buf_reset(&k);
        buf_printf(&k, "%s ", set);
        elem(&k, &ops[i]);
        *(size_t *)hmap_put(&last, buf_str(&k), NULL) = i;
    }
    for (size_t i = 0; i < n; i++) {
        const struct fw_op *op = &ops[i];
        /* the kernel timeout has removed it already */
        if (op->kind == FW_UNBAN && op->expiry && op->timeout > 0 && op->timeout <= NFT_MAX_TIMEOUT) continue;
        if (!op_set(jails, nj, op, set, sizeof set)) continue;
        buf_reset(&k);
        buf_printf(&k, "%s ", set);
        elem(&k, op);
        const size_t *li = hmap_get(&last, buf_str(&k));
        if (li && *li != i) continue;
        /* idempotent removal first (see the header) */
        buf_printf(o, "add element inet %s %s { ", table, set);
        elem(o, op);
        buf_printf(o, " }\ndelete element inet %s %s { ", table, set);
        elem(o, op);
        buf_puts(o, " }\n");
        if (op->kind == FW_BAN || op->kind == FW_BLOCK) {
            buf_printf(o, "add element inet %s %s { ", table, set);
            elem(o, op);
            if (op->kind == FW_BAN && op->timeout > 0 && op->timeout <= NFT_MAX_TIMEOUT)
                buf_printf(o, " timeout %llds", (long long)op->timeout);
            buf_puts(o, " }\n");
        }
    }
    buf_free(&k);
    hmap_free(&last);
}

static int run(struct nft_state *s, const char *script, char *err, size_t errlen)
{
    s->last_use = (int64_t)time(NULL);
    if (!s->ctx) {
        s->ctx = nl.nft_ctx_new(NFT_CTX_DEFAULT);
        if (!s->ctx) {
            snprintf(err, errlen, "cannot create an nftables context");
            return -1;
        }
        nl.nft_ctx_buffer_output(s->ctx);
        nl.nft_ctx_buffer_error(s->ctx);
    }
    int rc = nl.nft_run_cmd_from_buffer(s->ctx, script);
    const char *e = nl.nft_ctx_get_error_buffer(s->ctx);
    if (rc != 0) {
        /* first line of nft's message is the useful one */
        size_t l = e ? strcspn(e, "\n") : 0;
        snprintf(err, errlen, "nft: %.*s", (int)(l > 300 ? 300 : l), l ? e : "transaction failed");
        return -1;
    }
    return 0;
}

static int nft_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct nft_state *s = st;
    if (n > NFT_MAX_JAILS) {
        snprintf(err, errlen, "more than %d jails", NFT_MAX_JAILS);
        return -1;
    }
    struct buf o = BUF_INIT(1u << 24);
    if (nft_script_setup(&o, s->table, jails, n, err, errlen) < 0) {
        buf_free(&o);
        return -1;
    }
    int rc = run(s, buf_cstr(&o), err, errlen);
    buf_free(&o);
    if (rc < 0) return -1;
    for (size_t i = 0; i < s->nj; i++) free(s->setnames[i]);
    free(s->setnames);
    s->setnames = xcalloc(n + 1, sizeof *s->setnames);
    for (size_t i = 0; i < n; i++) s->setnames[i] = xstrdup(jails[i].name);
    s->nj = n;
    return 0;
}

/* Does op add a network (not a single address)? */
static bool adds_network(const struct fw_op *op)
{
    return (op->kind == FW_BAN || op->kind == FW_BLOCK) &&
           op->target.prefix < (op->target.addr.family == 4 ? 32 : 128);
}

static size_t nft_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct nft_state *s = st;
    struct fw_jail *j = xcalloc(s->nj + 1, sizeof *j);
    for (size_t i = 0; i < s->nj; i++) j[i].name = s->setnames[i];
    /* One transaction per segment; a network's element starts a new one. A prefix ban
     * comes after the deletion of the addresses it replaces, and the kernel refuses the
     * interval as overlapping when those deletions are in the same transaction as the
     * idempotent re-add that precedes each of them (see the header); committed first,
     * they are gone. */
    size_t done = 0;
    while (done < n) {
        size_t end = done + 1;
        while (end < n && !adds_network(&ops[end])) end++;
        struct buf o = BUF_INIT(SIZE_MAX / 2);
        nft_script_ops(&o, s->table, j, s->nj, ops + done, end - done);
        int rc = o.len ? run(s, buf_cstr(&o), err, errlen) : 0;
        buf_free(&o);
        if (rc < 0) break;
        done = end;
    }
    free(j);
    return done;
}

static int nft_flush(void *st, char *err, size_t errlen)
{
    struct nft_state *s = st;
    struct buf o = BUF_INIT(1u << 20);
    for (size_t i = 0; i < s->nj; i++) {
        char *b = set_base(s->setnames[i]);
        buf_printf(&o, "flush set inet %s %s_4\nflush set inet %s %s_6\n", s->table, b, s->table, b);
        free(b);
    }
    int rc = o.len ? run(s, buf_cstr(&o), err, errlen) : 0;
    buf_free(&o);
    return rc;
}

static void nft_free(void *st)
{
    struct nft_state *s = st;
    if (!s) return;
    if (s->ctx) nl.nft_ctx_free(s->ctx);
    for (size_t i = 0; i < s->nj; i++) free(s->setnames[i]);
    free(s->setnames);
    free(s->table);
    free(s);
}

static size_t nft_poll(void *st, struct actq *q, int64_t now)
{
    struct nft_state *s = st;
    if (s->ctx && now - s->last_use >= NFT_IDLE_SECS) {
        nl.nft_ctx_free(s->ctx);
        s->ctx = NULL;
        malloc_trim(0);         /* hand the cache's pages back to the kernel */
    }
    return 0;
}

static const struct action_ops nft_ops = {
    .name = "nftables", .setup = nft_setup, .apply = nft_apply, .flush = nft_flush, .free = nft_free,
    .poll = nft_poll,
};

struct action *action_nft_new(const char *table, char *err, size_t errlen)
{
    struct nft_state *s = xcalloc(1, sizeof *s);
    s->table = xstrdup(table && *table ? table : "mailwarden");
    for (const char *p = s->table; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            snprintf(err, errlen, "nftables table name '%s': only letters, digits and _", s->table);
            nft_free(s);
            return NULL;
        }
    }
    if (nft_load(err, errlen) < 0) {
        nft_free(s);
        return NULL;
    }
    /* the context is made at the first transaction (run) */
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = &nft_ops;
    a->st = s;
    a->name = xstrdup("nftables");
    return a;
}
