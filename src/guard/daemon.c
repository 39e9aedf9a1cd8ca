/* daemon - see daemon.h. */
#include "util/fsutil.h"
#include "guard/daemon.h"
#include "guard/action.h"
#include "guard/bandb.h"
#include "guard/core.h"
#include "guard/failstore.h"
#include "guard/follow.h"
#include "guard/jfollow.h"
#include "guard/jailconf.h"
#include "guard/privsep.h"
#include "guard/metrics.h"
#include "guard/metrics_http.h"
#include "guard/store.h"
#include "report/logins.h"
#include "parse/event.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

/* exit codes, as cli.h documents them */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define REQ_MAX 8192
#define MAX_ARGS 16

struct actinst {
    struct action *a;
    struct actq q;
    enum act_kind kind;
    char *key;
    int *jmap;                  /* core jail index -> index in fj, -1 when not used */
    struct fw_jail *fj;
    size_t nfj;
    bool ready;
    bool resync;                /* after a failed apply: set up again and re-apply everything */
    int64_t setup_next, setup_backoff;
};

struct fjails {
    int *j;
    size_t n;
};

struct jacts {
    int *a;
    size_t n;
};

/* Live last-login records (issue: logins): the lines the daemon reads anyway feed the logins
 * consumer; every few seconds (and at stop) what was seen is written with the same rules as
 * `mailwarden logins --update`, so no process per login and no double counting. */
struct live_logins {
    struct logins *l;               /* NULL when off (no database) */
    struct scan_consumer c;
    void *chunk;
    struct syslog_ctx ctx;
    uint64_t pending;
    int64_t last_flush;
};

struct guard {
    struct live_logins lg;
    struct guard_opts o;
    struct guard_conf *conf;
    struct core *core;
    struct bandb *db;
    struct follow *fw;
    struct jfollow *jf;         /* jails with backend = systemd */
    struct fjails **fjs;
    size_t nfjs;
    struct actinst *acts;
    size_t nacts;
    struct jacts *jacts;        /* per core jail */
    struct cidr *blocks;
    size_t nblocks, capblocks;
    int ep, sfd, lsock;
    char *sockpath;
    bool stop;
    int64_t now, last_pos_save, last_tick, last_fail_save;
    bool in_txn, dirty_bans;
    struct privsep *ps;         /* the firewall helper's link under privilege separation */
    struct gmetrics *gm;        /* metrics: kept across reloads (counters stay monotonic) */
    struct mhttp *http;         /* metrics_listen, NULL when off */
    struct buf mtext;           /* textfile and `metrics` command rendering */
    int64_t last_metrics;
};

static int64_t wall(void) { return (int64_t)time(NULL); }

/* ---- database transaction of one loop turn ---- */

static void txn(struct guard *g)
{
    if (g->in_txn || !g->db) return;
    if (bandb_begin(g->db) < 0) {
        msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
        return;
    }
    g->in_txn = true;
}

static void commit(struct guard *g)
{
    if (!g->in_txn) return;
    if (bandb_commit(g->db) < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    g->in_txn = false;
}

/* ---- actions ---- */

static void fmt_target(const struct cidr *t, char *buf, size_t cap)
{
    if (t->prefix == (t->addr.family == 4 ? 32 : 128)) ipaddr_format(&t->addr, buf, cap);
    else cidr_format(t, buf, cap);
}

static void push_jail(struct guard *g, int jail, const struct fw_op *tmpl)
{
    if (jail < 0 || (size_t)jail >= core_njails(g->core)) return;
    struct jacts *ja = &g->jacts[jail];
    for (size_t k = 0; k < ja->n; k++) {
        struct actinst *ai = &g->acts[ja->a[k]];
        struct fw_op op = *tmpl;
        op.jail = ai->jmap[jail];
        if (op.jail < 0) continue;
        actq_push(&ai->q, &op);
    }
}

static bool block_target(const struct actinst *ai) { return ai->kind != ACT_COMMAND; }

static void push_block(struct guard *g, enum fw_kind k, const struct cidr *c)
{
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = k;
    op.jail = -1;
    op.target = *c;
    op.bantime = -1;
    for (size_t i = 0; i < g->nacts; i++)
        if (block_target(&g->acts[i])) actq_push(&g->acts[i].q, &op);
}

static void ban_op(struct guard *g, struct gjail *j, const struct ban *b, int64_t now)
{
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = FW_BAN;
    op.target = b->target;
    op.bantime = b->bantime;
    op.failures = b->failures;
    op.timeout = b->end == BAN_PERMANENT ? 0 : b->end - now;
    if (b->end != BAN_PERMANENT && op.timeout < 1) op.timeout = 1;
    push_jail(g, j->id, &op);
}

static void on_ban(void *ud, struct gjail *j, const struct ban *b)
{
    struct guard *g = ud;
    char t[IPADDR_STRLEN + 8];
    fmt_target(&b->target, t, sizeof t);
    msg_info("[%s] Ban %s (%u failures, bantime %lld%s)", j->c->name, t, b->failures, (long long)b->bantime,
             b->count ? ", repeat offender" : "");
    txn(g);
    if (g->db && (bandb_ban_add(g->db, j->c->name, &b->target, b->start, b->bantime, b->failures, b->count) < 0 ||
                  (b->nmembers && bandb_ban_members(g->db, j->c->name, &b->target, b->members, b->nmembers) < 0)))
        msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    failstore_forget(g->db, j->c->name, &b->target);   /* the tracker forgot it */
    g->dirty_bans = true;
    ban_op(g, j, b, g->now);
}

static void on_unban(void *ud, struct gjail *j, const struct ban *b, const char *how)
{
    struct guard *g = ud;
    char t[IPADDR_STRLEN + 8];
    fmt_target(&b->target, t, sizeof t);
    msg_info("[%s] Unban %s (%s)", j->c->name, t, how);
    txn(g);
    if (g->db && bandb_ban_end(g->db, j->c->name, &b->target, g->now, how) < 0)
        msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    g->dirty_bans = true;
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = FW_UNBAN;
    op.target = b->target;
    op.bantime = b->bantime;
    op.failures = b->failures;
    op.expiry = strcmp(how, "expired") == 0;
    op.timeout = b->bantime;
    push_jail(g, j->id, &op);
}

static long on_history(void *ud, const struct gjail *j, const struct cidr *t, bool overall)
{
    struct guard *g = ud;
    if (!g->db) return 0;
    long n = bandb_ban_count(g->db, overall ? NULL : j->c->name, t, 0);
    if (n < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    return n;
}

static long on_recent(void *ud, const struct gjail *j, const struct cidr *t, int64_t since)
{
    struct guard *g = ud;
    if (!g->db) return -1;
    long n = bandb_ban_count_others(g->db, j->c->name, t, since);
    if (n < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    return n;
}

static void on_unparsed(void *ud, struct str program)
{
    struct guard *g = ud;
    gmetrics_unparsed(g->gm, program);
}

static struct actinst *inst_get(struct guard *g, enum act_kind kind, const char *key, const struct jail_action *ja)
{
    for (size_t i = 0; i < g->nacts; i++)
        if (!strcmp(g->acts[i].key, key)) return &g->acts[i];
    char err[512];
    struct action *a = NULL;
    if (g->ps) a = privsep_action_new(g->ps, key);     /* the helper owns the real backend */
    else if (kind == ACT_NULL) a = action_null_new();
    else if (kind == ACT_COMMAND) a = action_cmd_new(&ja->cmd, err, sizeof err);
    else if (kind == ACT_IPSET) a = action_ipset_new(&g->conf->ipset, err, sizeof err);
    else if (kind == ACT_FIREWALLD) {
        struct fwcmd_conf fc = g->conf->fwcmd;
        if (ja && ja->mode) fc.mode = ja->mode;     /* firewalld[mode=ipset] */
        a = action_firewalld_new(&fc, err, sizeof err);
    }
    else a = action_nft_new(g->conf->nft_table, err, sizeof err);
    if (!a) {
        msg_error("action %s: %s", key, err);
        return NULL;
    }
    g->acts = xrealloc(g->acts, (g->nacts + 1) * sizeof *g->acts);
    struct actinst *ai = &g->acts[g->nacts++];
    memset(ai, 0, sizeof *ai);
    ai->a = a;
    actq_init(&ai->q, a);
    ai->kind = kind;
    ai->key = xstrdup(key);
    size_t nj = core_njails(g->core);
    ai->jmap = xmalloc((nj + 1) * sizeof *ai->jmap);
    for (size_t i = 0; i <= nj; i++) ai->jmap[i] = -1;
    ai->fj = xcalloc(nj + 1, sizeof *ai->fj);
    return ai;
}

static void build_actions(struct guard *g)
{
    size_t nj = core_njails(g->core);
    g->jacts = xcalloc(nj + 1, sizeof *g->jacts);
    for (size_t i = 0; i < nj; i++) {
        const struct jail_conf *jc = core_jail(g->core, i)->c;
        for (size_t k = 0; k < jc->nactions; k++) {
            const struct jail_action *ja = &jc->actions[k];
            enum act_kind kind = g->o.null_actions ? ACT_NULL : ja->kind;
            char key[128];
            if (kind == ACT_COMMAND) snprintf(key, sizeof key, "command:%s:%zu", jc->name, k);
            else if (kind == ACT_FIREWALLD && ja->mode) snprintf(key, sizeof key, "firewalld:%s", ja->mode);
            else snprintf(key, sizeof key, "%s", kind == ACT_NULL ? "null" : kind == ACT_IPSET ? "ipset" :
                          kind == ACT_FIREWALLD ? "firewalld" : "nftables");
            struct actinst *ai = inst_get(g, kind, key, ja);
            if (!ai) continue;
            size_t idx = (size_t)(ai - g->acts);
            if (ai->jmap[i] < 0) {
                ai->jmap[i] = (int)ai->nfj;
                ai->fj[ai->nfj++] = (struct fw_jail){ jc->name, jc->port, jc->protocol };
                g->jacts[i].a = xrealloc(g->jacts[i].a, (g->jacts[i].n + 1) * sizeof(int));
                g->jacts[i].a[g->jacts[i].n++] = (int)idx;
            }
        }
    }
}

static void resync(struct guard *g, struct actinst *ai);

static struct actinst *block_inst(struct guard *g)
{
    for (size_t i = 0; i < g->nacts; i++)
        if (block_target(&g->acts[i])) return &g->acts[i];
    return inst_get(g, g->o.null_actions ? ACT_NULL : ACT_NFTABLES, g->o.null_actions ? "null" : "nftables", NULL);
}

static void setup_actions(struct guard *g, int64_t now)
{
    for (size_t i = 0; i < g->nacts; i++) {
        struct actinst *ai = &g->acts[i];
        if (ai->ready || now < ai->setup_next) continue;
        char err[512];
        if (ai->a->ops->setup(ai->a->st, ai->fj, ai->nfj, err, sizeof err) == 0) {
            ai->ready = true;
            ai->setup_backoff = 0;
            if (ai->resync) {
                ai->resync = false;
                resync(g, ai);
            }
        } else {
            ai->setup_backoff = ai->setup_backoff ? ai->setup_backoff * 2 : 1;
            if (ai->setup_backoff > 60) ai->setup_backoff = 60;
            ai->setup_next = now + ai->setup_backoff;
            msg_warn_rl("action-setup", 20, "action %s: setup failed: %s (retry in %llds)", ai->key, err,
                        (long long)ai->setup_backoff);
        }
    }
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* actq_run, timed and counted for the metrics when it runs the backend */
static int run_queue(struct guard *g, struct actinst *ai, int64_t now)
{
    if (!ai->q.n || now < ai->q.next_try) return actq_run(&ai->q, now);
    uint64_t e0 = ai->q.errors;
    double t0 = mono_s();
    int r = actq_run(&ai->q, now);
    gmetrics_action(g->gm, ai->key, mono_s() - t0, ai->q.errors != e0);
    return r;
}

static void run_actions(struct guard *g, int64_t now)
{
    for (size_t i = 0; i < g->nacts; i++) {
        struct actinst *ai = &g->acts[i];
        uint64_t e0 = ai->q.errors;
        actq_poll(&ai->q, now);         /* children that exited; failures come back queued */
        for (uint64_t k = e0; k < ai->q.errors; k++) gmetrics_action(g->gm, ai->key, -1, 1);
        if (!ai->ready || run_queue(g, ai, now) == 0) continue;
        /* The firewall may have been reloaded under us (nft flush ruleset): set the backend
         * up again and re-apply every active ban, not only what is queued. */
        if (ai->kind == ACT_NFTABLES || ai->kind == ACT_IPSET || ai->kind == ACT_FIREWALLD) {
            ai->ready = false;
            ai->resync = true;
            ai->setup_next = ai->q.next_try;
        }
    }
}

/* The firewall operation of `kind` for ban b on action instance ai; false when the ban's
 * jail does not use this action. */
static bool ban_fw_op(const struct guard *g, const struct actinst *ai, const struct ban *b,
                      enum fw_kind kind, struct fw_op *op)
{
    if (b->jail >= core_njails(g->core) || ai->jmap[b->jail] < 0) return false;
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->jail = ai->jmap[b->jail];
    op->target = b->target;
    op->bantime = b->bantime;
    op->failures = b->failures;
    return true;
}

static void resync(struct guard *g, struct actinst *ai)
{
    ai->q.n = 0;
    size_t it = 0;
    struct ban *b;
    while ((b = bans_next(core_bans(g->core), &it))) {
        struct fw_op op;
        if (!ban_fw_op(g, ai, b, FW_BAN, &op)) continue;
        op.timeout = b->end == BAN_PERMANENT ? 0 : b->end - g->now;
        if (b->end != BAN_PERMANENT && op.timeout < 1) op.timeout = 1;
        actq_push(&ai->q, &op);
    }
    if (block_target(ai))
        for (size_t i = 0; i < g->nblocks; i++) {
            struct fw_op op;
            memset(&op, 0, sizeof op);
            op.kind = FW_BLOCK;
            op.jail = -1;
            op.target = g->blocks[i];
            op.bantime = -1;
            actq_push(&ai->q, &op);
        }
    ai->q.next_try = 0;
    msg_info("action %s: re-applying %zu ban(s) and block(s)", ai->key, ai->q.n);
}

static void free_actions(struct guard *g)
{
    for (size_t i = 0; i < g->nacts; i++) {
        action_free(g->acts[i].a);
        actq_free(&g->acts[i].q);
        free(g->acts[i].key);
        free(g->acts[i].jmap);
        free(g->acts[i].fj);
    }
    free(g->acts);
    g->acts = NULL;
    g->nacts = 0;
    if (g->jacts) {
        for (size_t i = 0; i <= core_njails(g->core); i++) free(g->jacts[i].a);
        free(g->jacts);
        g->jacts = NULL;
    }
}

/* ---- files ---- */

static void logins_live_start(struct guard *g)
{
    char err[256];
    if (!g->db) return;
    struct logins *l = logins_new();
    if (store_logins_marks(bandb_store(g->db), l, err, sizeof err) < 0) {
        msg_warn_rl("logins", 5, "last logins are not recorded: %s", err);
        logins_free(l);
        return;
    }
    g->lg.l = l;
    g->lg.c = logins_consumer(l);
    g->lg.chunk = g->lg.c.chunk_new(g->lg.c.global);
    g->lg.pending = 0;
}

/* Write what was seen and start over with fresh watermarks. Outside the loop's ban
 * transaction: the logins tables have their own. */
static void logins_live_flush(struct guard *g)
{
    if (!g->lg.l) return;
    g->lg.last_flush = g->now;
    if (!g->lg.pending) return;
    g->lg.c.merge(g->lg.c.global, g->lg.chunk);
    g->lg.chunk = NULL;
    char err[256];
    struct store_apply_stats st;
    if (store_logins_apply(bandb_store(g->db), g->lg.l, &st, err, sizeof err) < 0)
        msg_warn_rl("logins", 10, "recording last logins: %s", err);
    logins_free(g->lg.l);
    g->lg.l = NULL;
    logins_live_start(g);
}

static void logins_live_stop(struct guard *g)
{
    logins_live_flush(g);
    if (g->lg.l) {
        if (g->lg.chunk) g->lg.c.merge(g->lg.c.global, g->lg.chunk);
        logins_free(g->lg.l);
        g->lg.l = NULL;
    }
}

static void logins_live_line(struct guard *g, struct str line)
{
    /* only Dovecot and smtpd lines can hold a login or a failure of a user */
    if (!g->lg.l || (str_findc(line, "dovecot") < 0 && str_findc(line, "smtpd[") < 0)) return;
    struct event ev;
    g->lg.ctx.ref = g->now;
    parse_line(&g->lg.ctx, NULL, line, &ev);
    if (ev.kind == EV_UNPARSED) return;
    g->lg.c.feed(g->lg.chunk, &ev, line);
    g->lg.pending++;
}

static void on_line(void *ud, struct ffile *f, struct str line)
{
    struct guard *g = ud;
    struct fjails *fj = ffile_user(f);
    if (fj && fj->n) core_line(g->core, fj->j, fj->n, line, g->now);
    logins_live_line(g, line);
}

/* ---- the journal (backend = systemd; guard/jfollow.h) ---- */

static void on_jline(void *ud, const int *jails, size_t njails, struct str line)
{
    struct guard *g = ud;
    core_line(g->core, jails, njails, line, g->now);
    logins_live_line(g, line);
}

static void txn_cb(void *ud) { txn(ud); }

static void build_journal(struct guard *g, int64_t now)
{
    g->jf = jfollow_new(on_jline, g);
    for (size_t i = 0; i < core_njails(g->core); i++) {
        const struct jail_conf *jc = core_jail(g->core, i)->c;
        if (jc->journal) jfollow_add_jail(g->jf, (int)i, jc);
    }
    jfollow_start(g->jf, g->db, now);
    if (g->ep >= 0 && jfollow_fd(g->jf) >= 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 5 };
        epoll_ctl(g->ep, EPOLL_CTL_ADD, jfollow_fd(g->jf), &ev);
    }
}

static void free_journal(struct guard *g)
{
    if (!g->jf) return;
    if (g->ep >= 0 && jfollow_fd(g->jf) >= 0) epoll_ctl(g->ep, EPOLL_CTL_DEL, jfollow_fd(g->jf), NULL);
    jfollow_free(g->jf);
    g->jf = NULL;
}

static void build_follow(struct guard *g, int64_t now)
{
    build_journal(g, now);
    g->fw = follow_new(on_line, g);
    follow_set_grace(g->fw, g->conf->rotate_grace);
    size_t nj = core_njails(g->core);
    /* group the jails by file so that each file is read once */
    char **paths = NULL;
    struct fjails *groups = NULL;
    int64_t *back = NULL;
    size_t np = 0;
    for (size_t i = 0; i < nj; i++) {
        const struct jail_conf *jc = core_jail(g->core, i)->c;
        for (size_t k = 0; k < jc->nlogpath; k++) {
            size_t p;
            for (p = 0; p < np; p++)
                if (!strcmp(paths[p], jc->logpath[k])) break;
            if (p == np) {
                paths = xrealloc(paths, (np + 1) * sizeof *paths);
                groups = xrealloc(groups, (np + 1) * sizeof *groups);
                back = xrealloc(back, (np + 1) * sizeof *back);
                paths[np] = jc->logpath[k];
                groups[np] = (struct fjails){ NULL, 0 };
                back[np] = 0;
                np++;
            }
            groups[p].j = xrealloc(groups[p].j, (groups[p].n + 1) * sizeof(int));
            groups[p].j[groups[p].n++] = (int)i;
            if (jc->findtime > back[p]) back[p] = jc->findtime;
        }
    }
    g->fjs = xcalloc(np + 1, sizeof *g->fjs);
    g->nfjs = np;
    for (size_t p = 0; p < np; p++) {
        struct logpos lp;
        int have = g->db ? bandb_pos_get(g->db, paths[p], &lp) : 0;
        struct ffile *f = follow_add(g->fw, paths[p], have == 1 ? &lp : NULL, back[p], now);
        g->fjs[p] = xmalloc(sizeof **g->fjs);
        *g->fjs[p] = groups[p];
        ffile_set_user(f, g->fjs[p]);
    }
    free(paths);
    free(groups);
    free(back);
    if (g->ep >= 0 && follow_fd(g->fw) >= 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 1 };
        epoll_ctl(g->ep, EPOLL_CTL_ADD, follow_fd(g->fw), &ev);
    }
}

static void save_positions(struct guard *g)
{
    if (g->jf) jfollow_save(g->jf, g->db, g->now, txn_cb, g);
    if (!g->fw || !g->db) return;
    for (size_t i = 0; i < follow_count(g->fw); i++) {
        struct ffile *f = follow_get(g->fw, i);
        struct logpos lp;
        if (!ffile_pos(f, &lp)) continue;
        lp.updated = g->now;
        txn(g);
        if (bandb_pos_set(g->db, ffile_path(f), &lp) < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(g->db));
    }
    g->last_pos_save = g->now;
}

static void free_follow(struct guard *g)
{
    free_journal(g);
    if (g->fw) {
        if (g->ep >= 0 && follow_fd(g->fw) >= 0) epoll_ctl(g->ep, EPOLL_CTL_DEL, follow_fd(g->fw), NULL);
        follow_free(g->fw);
    }
    g->fw = NULL;
    for (size_t i = 0; i < g->nfjs; i++) {
        free(g->fjs[i]->j);
        free(g->fjs[i]);
    }
    free(g->fjs);
    g->fjs = NULL;
    g->nfjs = 0;
}

/* ---- start: bans and blocks from the database ---- */

static void restore_ban(void *ud, const struct bandb_ban *b)
{
    struct guard *g = ud;
    struct gjail *j = core_jail_by_name(g->core, b->jail);
    if (!j) return;                 /* jail no longer configured: its kernel timeout ends it */
    core_restore(g->core, j, &b->target, b->start, b->bantime, b->failures, b->count, b->members, b->nmembers);
    struct ban *x = bans_find(core_bans(g->core), (uint16_t)j->id, &b->target);
    if (x) ban_op(g, j, x, g->now);
}

static void restore_block(void *ud, const struct cidr *c, int64_t added)
{
    struct guard *g = ud;
    g->blocks = xgrow(g->blocks, &g->capblocks, g->nblocks + 1, sizeof *g->blocks);
    g->blocks[g->nblocks++] = *c;
}

static void reapply_bans(struct guard *g)
{
    size_t it = 0;
    struct ban *b;
    while ((b = bans_next(core_bans(g->core), &it))) {
        struct gjail *j = core_jail(g->core, b->jail);
        if (j) ban_op(g, j, b, g->now);
    }
    if (g->nblocks) block_inst(g);
    for (size_t i = 0; i < g->nblocks; i++) push_block(g, FW_BLOCK, &g->blocks[i]);
}

/* ---- reload ---- */

static int do_reload_conf(struct guard *g, char *err, size_t errlen);

static void notify_status(struct guard *g)
{
    sd_notifyf(0, "READY=1\nSTATUS=%zu jail(s), %zu ban(s), %zu block(s)%s", core_njails(g->core),
               bans_count(core_bans(g->core)), g->nblocks, g->ps ? ", privilege separation" : "");
}

static int do_reload(struct guard *g, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    int r = do_reload_conf(g, err, errlen);
    notify_status(g);
    return r;
}

static int do_reload_conf(struct guard *g, char *err, size_t errlen)
{
    struct guard_conf *nc = guard_conf_load(g->o.confdir, g->o.f2bdir, err, errlen);
    if (!nc) return -1;
    struct core_cb cb = { .ud = g, .on_ban = on_ban, .on_unban = on_unban, .history = on_history,
                          .recent = on_recent, .on_unparsed = on_unparsed };
    struct core *ncore = core_new(nc, &cb, err, errlen);
    if (!ncore) {
        guard_conf_free(nc);
        return -1;
    }
    for (size_t i = 0; i < nc->nwarnings; i++) msg_warn("%s", nc->warnings[i]);
    if (g->o.socket == NULL && strcmp(nc->socket, g->sockpath) != 0)
        msg_warn("reload: the socket path changes only at restart");
    /* carry the bans of jails that remain; lift those of removed jails */
    size_t it = 0;
    struct ban *b;
    struct cidr *gone = NULL;
    uint16_t *gonej = NULL;
    size_t ngone = 0, capgone = 0, capgj = 0;
    while ((b = bans_next(core_bans(g->core), &it))) {
        struct gjail *oj = core_jail(g->core, b->jail);
        struct gjail *nj = oj ? core_jail_by_name(ncore, oj->c->name) : NULL;
        if (nj) {
            core_restore(ncore, nj, &b->target, b->start, b->bantime, b->failures, b->count, b->members, b->nmembers);
        } else {
            gone = xgrow(gone, &capgone, ngone + 1, sizeof *gone);
            gonej = xgrow(gonej, &capgj, ngone + 1, sizeof *gonej);
            gone[ngone] = b->target;
            gonej[ngone++] = b->jail;
        }
    }
    for (size_t i = 0; i < ngone; i++) core_unban(g->core, core_jail(g->core, gonej[i]), &gone[i], "jail removed");
    free(gone);
    free(gonej);
    txn(g);
    failstore_save(g->core, g->db, true, g->now);      /* the new core counts on from them */
    commit(g);
    run_actions(g, g->now);             /* last chance for what the old actions have queued */
    save_positions(g);
    commit(g);
    free_follow(g);
    free_actions(g);
    char perr[512];
    if (g->ps && privsep_reload(g->ps, perr, sizeof perr) < 0)
        msg_warn("reload: privileged helper: %s", perr);
    gmetrics_retire(g->gm, g->core);
    core_free(g->core);
    if ((nc->metrics_listen == NULL) != (g->conf->metrics_listen == NULL) ||
        (nc->metrics_listen && strcmp(nc->metrics_listen, g->conf->metrics_listen)))
        msg_warn("reload: metrics_listen changes only at restart");
    guard_conf_free(g->conf);
    g->conf = nc;
    g->core = ncore;
    failstore_restore(g->core, g->db, g->now);
    build_actions(g);
    setup_actions(g, g->now);
    reapply_bans(g);
    build_follow(g, g->now);
    msg_info("reloaded: %zu jail(s)", core_njails(g->core));
    malloc_trim(0);
    return 0;
}

/* ---- control socket ---- */

static int sorted_names(const void *a, const void *b)
{
    return strcmp((*(struct gjail *const *)a)->c->name, (*(struct gjail *const *)b)->c->name);
}

static int ban_cmp(const void *a, const void *b)
{
    const struct ban *x = *(const struct ban *const *)a, *y = *(const struct ban *const *)b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return ipaddr_cmp(&x->target.addr, &y->target.addr);
}

/* bans of jail j (or all when NULL), by start time; caller frees */
static struct ban **jail_bans(struct guard *g, const struct gjail *j, size_t *n)
{
    size_t cap = 0, k = 0, it = 0;
    struct ban **v = NULL, *b;
    while ((b = bans_next(core_bans(g->core), &it))) {
        if (j && b->jail != j->id) continue;
        v = xgrow(v, &cap, k + 1, sizeof *v);
        v[k++] = b;
    }
    if (k) qsort(v, k, sizeof *v, ban_cmp);
    *n = k;
    return v;
}

static void status_summary(struct guard *g, FILE *out, bool json)
{
    size_t nj = core_njails(g->core);
    struct gjail **v = xcalloc(nj + 1, sizeof *v);
    for (size_t i = 0; i < nj; i++) v[i] = core_jail(g->core, i);
    qsort(v, nj, sizeof *v, sorted_names);
    if (json) {
        struct jw w;
        jw_init(&w, out, false);
        jw_obj(&w);
        jw_key(&w, "number_of_jail");
        jw_uint(&w, nj);
        jw_key(&w, "jail_list");
        jw_arr(&w);
        for (size_t i = 0; i < nj; i++) jw_cstr(&w, v[i]->c->name);
        jw_arr_end(&w);
        jw_obj_end(&w);
        jw_end(&w);
    } else {
        fprintf(out, "Status\n|- Number of jail:\t%zu\n`- Jail list:\t", nj);
        for (size_t i = 0; i < nj; i++) fprintf(out, "%s%s", i ? ", " : "", v[i]->c->name);
        fputc('\n', out);
    }
    free(v);
}

/* fail2ban's "Journal matches" value: the terms with single spaces, " + " between
 * alternatives (FilterSystemd.status). Caller frees. */
static char *jmatch_text(const struct jail_conf *c)
{
    struct buf b = BUF_INIT(1 << 20);
    for (size_t i = 0; c->jmatch && c->jmatch[i]; i++) {
        if (i) buf_putc(&b, ' ');
        buf_puts(&b, c->jmatch[i]);
    }
    char *t = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return t;
}

/* Prefix bans with the members that caused them: a line after fail2ban's layout (text), or
 * "banned_prefixes" (JSON). */
static void status_prefixes(struct ban **bl, size_t nb, FILE *out, struct jw *w)
{
    if (w) {
        jw_key(w, "banned_prefixes");
        jw_arr(w);
    } else {
        fputs("   `- Banned prefixes:\t", out);
    }
    size_t shown = 0;
    for (size_t k = 0; k < nb; k++) {
        const struct ban *b = bl[k];
        if (!b->nmembers) continue;
        char t[IPADDR_STRLEN + 8];
        cidr_format(&b->target, t, sizeof t);
        if (w) {
            jw_obj(w);
            jw_key(w, "prefix");
            jw_cstr(w, t);
            jw_key(w, "members");
            jw_arr(w);
        } else {
            fprintf(out, "%s%s (", shown ? " " : "", t);
        }
        for (size_t i = 0; i < b->nmembers; i++) {
            fmt_target(&b->members[i], t, sizeof t);
            if (w) jw_cstr(w, t);
            else fprintf(out, "%s%s", i ? ", " : "", t);
        }
        if (w) {
            jw_arr_end(w);
            jw_obj_end(w);
        } else {
            fputc(')', out);
        }
        shown++;
    }
    if (w) jw_arr_end(w);
    else fputc('\n', out);
}

static void status_jail_json(struct guard *g, struct gjail *j, struct jw *w)
{
    size_t nb;
    struct ban **bl = jail_bans(g, j, &nb);
    jw_obj(w);
    jw_key(w, "jail");
    jw_cstr(w, j->c->name);
    jw_key(w, "filter");
    jw_obj(w);
    jw_key(w, "currently_failed");
    jw_uint(w, tracker_jail_count(core_tracker(g->core), j->id));
    jw_key(w, "total_failed");
    jw_uint(w, j->total_failed);
    if (j->c->journal) {
        char *m = jmatch_text(j->c);
        jw_key(w, "journal_matches");
        jw_cstr(w, m);
        free(m);
    } else {
        jw_key(w, "file_list");
        jw_arr(w);
        for (size_t k = 0; k < j->c->nlogpath; k++) jw_cstr(w, j->c->logpath[k]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
    jw_key(w, "actions");
    jw_obj(w);
    jw_key(w, "currently_banned");
    jw_uint(w, nb);
    jw_key(w, "total_banned");
    jw_uint(w, j->total_banned);
    jw_key(w, "banned_ip_list");
    jw_arr(w);
    for (size_t k = 0; k < nb; k++) {
        char t[IPADDR_STRLEN + 8];
        fmt_target(&bl[k]->target, t, sizeof t);
        jw_cstr(w, t);
    }
    jw_arr_end(w);
    status_prefixes(bl, nb, NULL, w);
    jw_obj_end(w);
    jw_obj_end(w);
    free(bl);
}

static void status_jail(struct guard *g, struct gjail *j, FILE *out)
{
    size_t nb;
    struct ban **bl = jail_bans(g, j, &nb);
    fprintf(out, "Status for the jail: %s\n", j->c->name);
    fprintf(out, "|- Filter\n");
    fprintf(out, "|  |- Currently failed:\t%zu\n", tracker_jail_count(core_tracker(g->core), j->id));
    fprintf(out, "|  |- Total failed:\t%llu\n", (unsigned long long)j->total_failed);
    if (j->c->journal) {
        char *m = jmatch_text(j->c);
        fprintf(out, "|  `- Journal matches:\t%s", m);
        free(m);
    } else {
        fprintf(out, "|  `- File list:\t");
        for (size_t k = 0; k < j->c->nlogpath; k++) fprintf(out, "%s%s", k ? " " : "", j->c->logpath[k]);
    }
    fprintf(out, "\n`- Actions\n");
    fprintf(out, "   |- Currently banned:\t%zu\n", nb);
    fprintf(out, "   |- Total banned:\t%llu\n", (unsigned long long)j->total_banned);
    fprintf(out, "   `- Banned IP list:\t");
    for (size_t k = 0; k < nb; k++) {
        char t[IPADDR_STRLEN + 8];
        fmt_target(&bl[k]->target, t, sizeof t);
        fprintf(out, "%s%s", k ? " " : "", t);
    }
    fputc('\n', out);
    if (j->c->pfx.on) status_prefixes(bl, nb, out, NULL);
    free(bl);
}

static int cmd_status(struct guard *g, int argc, char **argv, FILE *out)
{
    bool json = false, all = false;
    const char *jail = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--all")) all = true;
        else jail = argv[i];
    }
    if (jail) {
        struct gjail *j = core_jail_by_name(g->core, jail);
        if (!j) {
            fprintf(out, "Sorry but the jail '%s' does not exist\n", jail);
            return EXIT_FAIL;
        }
        if (json) {
            struct jw w;
            jw_init(&w, out, false);
            status_jail_json(g, j, &w);
            jw_end(&w);
        } else {
            status_jail(g, j, out);
        }
        return EXIT_OK;
    }
    if (!all) {
        status_summary(g, out, json);
        return EXIT_OK;
    }
    size_t nj = core_njails(g->core);
    struct gjail **v = xcalloc(nj + 1, sizeof *v);
    for (size_t i = 0; i < nj; i++) v[i] = core_jail(g->core, i);
    qsort(v, nj, sizeof *v, sorted_names);
    if (json) {
        struct jw w;
        jw_init(&w, out, false);
        jw_arr(&w);
        for (size_t i = 0; i < nj; i++) status_jail_json(g, v[i], &w);
        jw_arr_end(&w);
        jw_end(&w);
    } else {
        status_summary(g, out, false);
        for (size_t i = 0; i < nj; i++) status_jail(g, v[i], out);
    }
    free(v);
    return EXIT_OK;
}

static int parse_target(const char *s, struct cidr *c, FILE *out)
{
    if (cidr_parse(str_c(s), c) < 0) {
        fprintf(out, "'%s' is not an IP address or CIDR\n", s);
        return -1;
    }
    return 0;
}

static int cmd_ban(struct guard *g, int argc, char **argv, FILE *out)
{
    if (argc != 3) {
        fputs("usage: ban JAIL IP|CIDR\n", out);
        return EXIT_USAGE;
    }
    struct gjail *j = core_jail_by_name(g->core, argv[1]);
    if (!j) {
        fprintf(out, "Sorry but the jail '%s' does not exist\n", argv[1]);
        return EXIT_FAIL;
    }
    struct cidr c;
    if (parse_target(argv[2], &c, out) < 0) return EXIT_USAGE;
    const struct ban *b = core_ban(g->core, j, &c, g->now, 0);
    if (!b) {
        fputs("ban refused: maxbans reached\n", out);
        return EXIT_FAIL;
    }
    char t[IPADDR_STRLEN + 8];
    fmt_target(&c, t, sizeof t);
    fprintf(out, "%s banned in %s for %s%lld s\n", t, j->c->name, b->bantime < 0 ? "ever (" : "",
            (long long)b->bantime);
    return EXIT_OK;
}

static int cmd_unban(struct guard *g, int argc, char **argv, FILE *out)
{
    if (argc < 2) {
        fputs("usage: unban IP|CIDR ... | --all\n", out);
        return EXIT_USAGE;
    }
    size_t n = 0;
    if (!strcmp(argv[1], "--all")) {
        size_t nb;
        struct ban **bl = jail_bans(g, NULL, &nb);
        struct cidr *t = xcalloc(nb + 1, sizeof *t);
        uint16_t *jj = xcalloc(nb + 1, sizeof *jj);
        for (size_t k = 0; k < nb; k++) { t[k] = bl[k]->target; jj[k] = bl[k]->jail; }
        for (size_t k = 0; k < nb; k++) n += core_unban(g->core, core_jail(g->core, jj[k]), &t[k], "unban");
        free(bl);
        free(t);
        free(jj);
    } else {
        for (int i = 1; i < argc; i++) {
            struct cidr c;
            if (parse_target(argv[i], &c, out) < 0) return EXIT_USAGE;
            n += core_unban(g->core, NULL, &c, "unban");
        }
    }
    fprintf(out, "%zu\n", n);
    return EXIT_OK;
}

static int cmd_banned(struct guard *g, int argc, char **argv, FILE *out)
{
    bool json = false;
    struct gjail *j = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) { json = true; continue; }
        j = core_jail_by_name(g->core, argv[i]);
        if (!j) {
            fprintf(out, "Sorry but the jail '%s' does not exist\n", argv[i]);
            return EXIT_FAIL;
        }
    }
    size_t nb;
    struct ban **bl = jail_bans(g, j, &nb);
    struct jw w;
    if (json) {
        jw_init(&w, out, false);
        jw_arr(&w);
    }
    for (size_t k = 0; k < nb; k++) {
        const struct ban *b = bl[k];
        struct gjail *bj = core_jail(g->core, b->jail);
        char t[IPADDR_STRLEN + 8], s1[40], s2[40];
        fmt_target(&b->target, t, sizeof t);
        if (json) {
            jw_obj(&w);
            jw_key(&w, "jail"); jw_cstr(&w, bj ? bj->c->name : "?");
            jw_key(&w, "ip"); jw_cstr(&w, t);
            jw_key(&w, "time"); jw_int(&w, b->start);
            jw_key(&w, "bantime"); jw_int(&w, b->bantime);
            jw_key(&w, "end"); if (b->end == BAN_PERMANENT) jw_null(&w); else jw_int(&w, b->end);
            jw_key(&w, "failures"); jw_uint(&w, b->failures);
            jw_key(&w, "count"); jw_uint(&w, b->count);
            if (b->nmembers) {
                jw_key(&w, "members");
                jw_arr(&w);
                for (size_t i = 0; i < b->nmembers; i++) {
                    char m[IPADDR_STRLEN + 8];
                    fmt_target(&b->members[i], m, sizeof m);
                    jw_cstr(&w, m);
                }
                jw_arr_end(&w);
            }
            jw_obj_end(&w);
        } else {
            mwtime_human(b->start, s1, sizeof s1);
            if (b->end == BAN_PERMANENT) snprintf(s2, sizeof s2, "never");
            else mwtime_human(b->end, s2, sizeof s2);
            fprintf(out, "%s\t%s\t%s\t%s\n", bj ? bj->c->name : "?", t, s1, s2);
        }
    }
    if (json) {
        jw_arr_end(&w);
        jw_end(&w);
    }
    free(bl);
    return EXIT_OK;
}

static int cmd_block(struct guard *g, int argc, char **argv, FILE *out, bool block)
{
    if (argc < 2) {
        if (!block) {
            fputs("usage: unblock IP|CIDR\n", out);
            return EXIT_USAGE;
        }
        for (size_t i = 0; i < g->nblocks; i++) {
            char t[IPADDR_STRLEN + 8];
            cidr_format(&g->blocks[i], t, sizeof t);
            fprintf(out, "%s\n", t);
        }
        return EXIT_OK;
    }
    int rc = EXIT_OK;
    for (int i = 1; i < argc; i++) {
        struct cidr c;
        if (parse_target(argv[i], &c, out) < 0) return EXIT_USAGE;
        char t[IPADDR_STRLEN + 8];
        cidr_format(&c, t, sizeof t);
        size_t k;
        for (k = 0; k < g->nblocks; k++)
            if (g->blocks[k].prefix == c.prefix && ipaddr_eq(&g->blocks[k].addr, &c.addr)) break;
        txn(g);
        if (block) {
            if (k < g->nblocks) { fprintf(out, "%s is already blocked\n", t); continue; }
            if (g->db && bandb_block_add(g->db, &c, g->now, NULL) < 0) {
                fprintf(out, "%s: %s\n", t, bandb_error(g->db));
                rc = EXIT_FAIL;
                continue;
            }
            g->blocks = xgrow(g->blocks, &g->capblocks, g->nblocks + 1, sizeof *g->blocks);
            g->blocks[g->nblocks++] = c;
            block_inst(g);
            push_block(g, FW_BLOCK, &c);
            msg_info("Block %s", t);
            fprintf(out, "%s blocked\n", t);
        } else {
            if (k == g->nblocks) { fprintf(out, "%s is not blocked\n", t); rc = EXIT_FAIL; continue; }
            if (g->db) bandb_block_del(g->db, &c);
            g->blocks[k] = g->blocks[--g->nblocks];
            push_block(g, FW_UNBLOCK, &c);
            msg_info("Unblock %s", t);
            fprintf(out, "%s unblocked\n", t);
        }
    }
    setup_actions(g, g->now);
    return rc;
}

static int dispatch(struct guard *g, int argc, char **argv, FILE *out)
{
    const char *c = argv[0];
    if (!strcmp(c, "ping")) { fputs("Server replied: pong\n", out); return EXIT_OK; }
    if (!strcmp(c, "version")) { fprintf(out, "mailwarden %s\n", MW_VERSION); return EXIT_OK; }
    if (!strcmp(c, "status")) return cmd_status(g, argc, argv, out);
    if (!strcmp(c, "ban")) return cmd_ban(g, argc, argv, out);
    if (!strcmp(c, "unban")) return cmd_unban(g, argc, argv, out);
    if (!strcmp(c, "banned")) return cmd_banned(g, argc, argv, out);
    if (!strcmp(c, "block")) return cmd_block(g, argc, argv, out, true);
    if (!strcmp(c, "unblock")) return cmd_block(g, argc, argv, out, false);
    if (!strcmp(c, "metrics")) {
        if (gmetrics_render(g->gm, g->core, g->nblocks, &g->mtext) < 0) return EXIT_FAIL;
        fwrite(g->mtext.p, 1, g->mtext.len, out);
        return EXIT_OK;
    }
    if (!strcmp(c, "stop")) { g->stop = true; fputs("Shutdown successful\n", out); return EXIT_OK; }
    if (!strcmp(c, "reload")) {
        char err[1024];
        if (do_reload(g, err, sizeof err) < 0) {
            fprintf(out, "reload failed, the running configuration stays: %s\n", err);
            msg_error("reload failed, the running configuration stays: %s", err);
            return EXIT_USAGE;
        }
        fputs("OK\n", out);
        return EXIT_OK;
    }
    fprintf(out, "unknown command '%s'\n", c);
    return EXIT_USAGE;
}

static void handle_client(struct guard *g, int fd)
{
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timeval tv2 = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv2, sizeof tv2);
    char req[REQ_MAX + 1];
    size_t have = 0;
    while (have < REQ_MAX) {
        ssize_t n = read(fd, req + have, REQ_MAX - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        if (memchr(req, '\n', have)) break;
    }
    char *nl = memchr(req, '\n', have);
    if (!nl) {
        close(fd);
        return;
    }
    *nl = 0;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (char *p = req; p && argc < MAX_ARGS;) {
        char *tab = strchr(p, '\t');
        if (tab) *tab = 0;
        argv[argc++] = p;
        p = tab ? tab + 1 : NULL;
    }
    argv[argc] = NULL;
    char *body = NULL;
    size_t blen = 0;
    FILE *out = open_memstream(&body, &blen);
    int code = argc && argv[0][0] ? dispatch(g, argc, argv, out) : EXIT_USAGE;
    fclose(out);
    char head[16];
    int hl = snprintf(head, sizeof head, "%d\n", code);
    struct iovec iov[2];
    (void)iov;
    if (write(fd, head, (size_t)hl) == hl) {
        size_t off = 0;
        while (off < blen) {
            ssize_t n = write(fd, body + off, blen - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            off += (size_t)n;
        }
    }
    free(body);
    close(fd);
}


static int open_socket(struct guard *g, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(g->sockpath) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "socket path too long: %s", g->sockpath);
        return -1;
    }
    memcpy(sa.sun_path, g->sockpath, strlen(g->sockpath) + 1);
    fs_mkparents(g->sockpath, 0755);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        snprintf(err, errlen, "another mailwarden guard answers on %s", g->sockpath);
        return -1;
    }
    if (probe >= 0) close(probe);
    unlink(g->sockpath);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chmod(g->sockpath, 0600) < 0 || listen(fd, 32) < 0) {
        snprintf(err, errlen, "%s: %s", g->sockpath, strerror(errno));
        close(fd);
        return -1;
    }
    g->lsock = fd;
    return 0;
}

static void accept_clients(struct guard *g)
{
    for (;;) {
        int fd = accept4(g->lsock, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) break;
        /* the listening socket is non-blocking; the client is handled synchronously */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        handle_client(g, fd);
    }
}

/* ---- metrics ---- */

static int render_metrics(void *ud, struct buf *out)
{
    struct guard *g = ud;
    return gmetrics_render(g->gm, g->core, g->nblocks, out);
}

static void write_textfile(struct guard *g)
{
    g->last_metrics = g->now;
    if (!g->conf->metrics_textfile) return;
    char err[512];
    if (gmetrics_render(g->gm, g->core, g->nblocks, &g->mtext) < 0 ||
        gmetrics_write_file(g->conf->metrics_textfile, &g->mtext, err, sizeof err) < 0)
        msg_warn_rl("metrics", 10, "metrics_textfile: %s", g->mtext.len ? err : "text too large");
}

/* ---- main loop ---- */

static void set_logging(const struct guard_conf *c, bool foreground)
{
    const char *t = c->logtarget ? c->logtarget : "SYSLOG";
    if (!strcasecmp(t, "SYSLOG") || !strcasecmp(t, "SYSOUT")) {
        msg_set_syslog(true);
        if (!foreground) {
            int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (fd >= 0) { dup2(fd, 2); close(fd); }
        }
    } else if (strcasecmp(t, "STDERR") && strcasecmp(t, "STDOUT")) {
        int fd = open(t, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd >= 0) { dup2(fd, 2); close(fd); }
        else msg_warn("logtarget %s: %s", t, strerror(errno));
    }
}

static int daemonize(void)
{
    pid_t p = fork();
    if (p < 0) return -1;
    if (p > 0) _exit(0);
    setsid();
    p = fork();
    if (p < 0) return -1;
    if (p > 0) _exit(0);
    if (chdir("/") < 0) { /* nothing */ }
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        close(fd);
    }
    return 0;
}

/* undo what guard_run did before privilege separation failed to start */
static void start_failed(struct guard *g)
{
    close(g->lsock);
    unlink(g->sockpath);
    core_free(g->core);
    guard_conf_free(g->conf);
    free(g->sockpath);
    close(g->sfd);
    close(g->ep);
    gmetrics_free(g->gm);
    buf_free(&g->mtext);
}

int guard_run(const struct guard_opts *o)
{
    struct guard G, *g = &G;
    memset(g, 0, sizeof G);
    g->o = *o;
    /* a fixed mmap threshold: the tracker's large arrays (and anything else above 64 KB)
     * are mapped on their own, grow with mremap and go back to the kernel when freed,
     * instead of glibc raising the threshold after the first free and leaving freed
     * copies of them resident in the heap */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    g->ep = g->sfd = g->lsock = -1;
    char err[1024];
    g->conf = guard_conf_load(o->confdir, o->f2bdir, err, sizeof err);
    if (!g->conf) {
        msg_error("configuration: %s", err);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < g->conf->nwarnings; i++) msg_warn("%s", g->conf->warnings[i]);
    struct core_cb cb = { .ud = g, .on_ban = on_ban, .on_unban = on_unban, .history = on_history,
                          .recent = on_recent, .on_unparsed = on_unparsed };
    g->core = core_new(g->conf, &cb, err, sizeof err);
    if (!g->core) {
        msg_error("configuration: %s", err);
        guard_conf_free(g->conf);
        return EXIT_USAGE;
    }
    g->sockpath = xstrdup(o->socket ? o->socket : g->conf->socket);
    if (open_socket(g, err, sizeof err) < 0) {
        msg_error("%s", err);
        core_free(g->core);
        guard_conf_free(g->conf);
        free(g->sockpath);
        return EXIT_FAIL;
    }
    if (!o->foreground && daemonize() < 0) {
        msg_error("fork: %s", strerror(errno));
        return EXIT_FAIL;
    }
    set_logging(g->conf, o->foreground);
    signal(SIGPIPE, SIG_IGN);
    g->gm = gmetrics_new(wall(), MW_VERSION);
    g->mtext = BUF_INIT(8u << 20);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigaddset(&ss, SIGCHLD);            /* an action's child exited: wake up and reap it */
    sigprocmask(SIG_BLOCK, &ss, NULL);
    g->sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    g->ep = epoll_create1(EPOLL_CLOEXEC);

    /* least privilege: fork the firewall helper, open what needs root, then drop it */
    if (privsep_begin(g->conf, o->null_actions, g->sockpath, &g->ps, err, sizeof err) < 0) {
        msg_error("%s", err);
        start_failed(g);
        return EXIT_FAIL;
    }
    const char *dbpath = o->db ? o->db : g->conf->dbfile;
    g->db = bandb_open(dbpath, err, sizeof err);
    if (!g->db) msg_error("database %s: %s (bans are not persisted until it opens)", dbpath, err);
    logins_live_start(g);
    if (g->ps && privsep_enter(g->ps, dbpath, err, sizeof err) < 0) {
        msg_error("privsep: %s", err);
        logins_live_stop(g);
        bandb_close(g->db);
        privsep_free(g->ps);
        start_failed(g);
        return EXIT_FAIL;
    }

    g->now = wall();
    build_actions(g);
    setup_actions(g, g->now);
    txn(g);
    if (g->db) {
        bandb_expire(g->db, g->now);
        bandb_active(g->db, g->now, restore_ban, g);
        bandb_blocks(g->db, restore_block, g);
    }
    if (g->nblocks) block_inst(g);
    for (size_t i = 0; i < g->nblocks; i++) push_block(g, FW_BLOCK, &g->blocks[i]);
    setup_actions(g, g->now);
    size_t nfails = failstore_restore(g->core, g->db, g->now);
    g->last_fail_save = g->now;
    commit(g);
    size_t restored = bans_count(core_bans(g->core));
    run_actions(g, g->now);             /* every restored ban in one transaction */
    build_follow(g, g->now);
    msg_info("started: %zu jail(s), %zu file(s), %zu journal(s), %zu ban(s) restored, %zu block(s), "
             "%zu failing address(es)", core_njails(g->core), follow_count(g->fw), jfollow_count(g->jf), restored,
             g->nblocks, nfails);
    malloc_trim(0);                     /* give back what loading the configuration used */
    notify_status(g);

    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.u32 = 2;
    epoll_ctl(g->ep, EPOLL_CTL_ADD, g->sfd, &ev);
    ev.data.u32 = 3;
    epoll_ctl(g->ep, EPOLL_CTL_ADD, g->lsock, &ev);
    if (g->conf->metrics_listen) {
        g->http = mhttp_start(g->conf->metrics_listen, g->conf->metrics_listen_any, render_metrics, g, err,
                              sizeof err);
        if (!g->http) {
            msg_error("%s", err);
            g->stop = true;
        } else {
            msg_info("metrics: listening on %s (port %d)", g->conf->metrics_listen, mhttp_port(g->http));
            ev.data.u32 = 4;
            epoll_ctl(g->ep, EPOLL_CTL_ADD, mhttp_fd(g->http), &ev);
        }
    }
    int exit_code = g->stop ? EXIT_FAIL : EXIT_OK;
    write_textfile(g);

    bool reload = false;
    while (!g->stop) {
        int64_t now = wall();
        int64_t next = bans_next_end(core_bans(g->core));
        int timeout = 1000;
        if (next != INT64_MAX && (next - now) * 1000 < timeout) timeout = next <= now ? 0 : (int)((next - now) * 1000);
        for (size_t i = 0; i < g->nacts; i++) {
            const struct actq *q = &g->acts[i].q;
            if (!q->n || !g->acts[i].ready) continue;
            if (q->next_try <= now) timeout = 0;          /* a backend yielded: go on */
            else if ((q->next_try - now) * 1000 < timeout) timeout = (int)((q->next_try - now) * 1000);
        }
        struct epoll_event evs[16];
        int n = epoll_wait(g->ep, evs, 16, timeout);
        g->now = wall();
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u32) {
            case 1:
                follow_process(g->fw, g->now);
                break;
            case 2: {
                struct signalfd_siginfo si;
                while (read(g->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (si.ssi_signo == SIGHUP) reload = true;
                    else if (si.ssi_signo != SIGCHLD) g->stop = true;
                }
                break;
            }
            case 3:
                accept_clients(g);
                break;
            case 4:
                mhttp_run(g->http);
                break;
            case 5:
                jfollow_process(g->jf, g->now);
                break;
            }
        }
        if (g->now != g->last_tick) {
            follow_tick(g->fw, g->now);
            jfollow_tick(g->jf, g->now);
            setup_actions(g, g->now);
            g->last_tick = g->now;
            mhttp_run(g->http);                 /* idle connections time out */
            if (g->now - g->last_metrics >= g->conf->metrics_interval) write_textfile(g);
        }
        core_expire(g->core, g->now);
        if (reload) {
            reload = false;
            if (do_reload(g, err, sizeof err) < 0)
                msg_error("reload (SIGHUP) failed, the running configuration stays: %s", err);
        }
        if (g->dirty_bans || g->now - g->last_pos_save >= 1 || g->stop) save_positions(g);
        if (g->now - g->last_fail_save >= FAILSTORE_SAVE_SECS && !g->stop) {
            txn(g);
            failstore_save(g->core, g->db, false, g->now);
            g->last_fail_save = g->now;
        }
        commit(g);                      /* bans are on disk before the firewall changes */
        if (g->now - g->lg.last_flush >= 5) logins_live_flush(g);
        g->dirty_bans = false;
        run_actions(g, g->now);
        if (privsep_dead(g->ps)) {
            /* no firewall without the helper, and no privileges to start another: stop so
             * that the service manager restarts the daemon */
            msg_error("privsep: the firewall helper is gone; stopping");
            g->stop = true;
            exit_code = EXIT_FAIL;
        }
    }
    sd_notify(0, "STOPPING=1");

    /* stop */
    save_positions(g);
    txn(g);
    failstore_save(g->core, g->db, true, g->now);
    commit(g);
    logins_live_stop(g);
    if (g->conf->unban_on_stop) {
        /* what is still queued would be undone by the flush at once */
        for (size_t i = 0; i < g->nacts; i++) g->acts[i].q.n = 0;
    } else {
        run_actions(g, g->now);         /* the rest is re-applied from the database at start */
    }
    if (g->conf->unban_on_stop) {
        for (size_t i = 0; i < g->nacts; i++) {
            struct actinst *ai = &g->acts[i];
            if (!ai->ready) continue;
            int r = ai->a->ops->flush(ai->a->st, err, sizeof err);
            if (r < 0) msg_warn("action %s: flush: %s", ai->key, err);
            if (r != 1) continue;
            /* no flush command: one unban per ban, as fail2ban does (bounded in time) */
            size_t it = 0;
            struct ban *b;
            while ((b = bans_next(core_bans(g->core), &it))) {
                struct fw_op op;
                if (ban_fw_op(g, ai, b, FW_UNBAN, &op)) actq_push(&ai->q, &op);
            }
            int64_t until = wall() + 30;
            while (ai->q.n && wall() < until) {
                ai->q.next_try = 0;
                actq_run(&ai->q, wall());
            }
        }
        msg_info("stopped: bans removed from the firewall (unban_on_stop)");
    } else {
        msg_info("stopped: bans stay in the firewall with their timeouts");
    }
    write_textfile(g);                  /* the final counts */
    mhttp_stop(g->http);
    close(g->lsock);
    unlink(g->sockpath);                /* under privsep the helper does it when it ends */
    free_follow(g);
    free_actions(g);
    privsep_free(g->ps);
    core_free(g->core);
    guard_conf_free(g->conf);
    bandb_close(g->db);
    free(g->blocks);
    free(g->sockpath);
    close(g->sfd);
    close(g->ep);
    gmetrics_free(g->gm);
    buf_free(&g->mtext);
    return exit_code;
}

/* ---- client ---- */

int guard_client(const char *path, int argc, char **argv)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "mailwarden: socket path too long: %s\n", path);
        return EXIT_USAGE;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct buf req = BUF_INIT(REQ_MAX);
    for (int i = 0; i < argc; i++) {
        if (strpbrk(argv[i], "\t\n")) {
            fprintf(stderr, "mailwarden: argument with a tab or newline: refused\n");
            buf_free(&req);
            return EXIT_USAGE;
        }
        if ((i && buf_putc(&req, '\t') < 0) || buf_puts(&req, argv[i]) < 0) {
            fprintf(stderr, "mailwarden: request too long\n");
            buf_free(&req);
            return EXIT_USAGE;
        }
    }
    buf_putc(&req, '\n');
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "mailwarden: cannot reach the guard daemon at %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        buf_free(&req);
        return EXIT_FAIL;
    }
    struct timeval tv = { 60, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    signal(SIGPIPE, SIG_IGN);
    if (write(fd, req.p, req.len) != (ssize_t)req.len) {
        fprintf(stderr, "mailwarden: %s: write: %s\n", path, strerror(errno));
        close(fd);
        buf_free(&req);
        return EXIT_FAIL;
    }
    buf_free(&req);
    char buf[65536];
    int code = -1;
    char head[16];
    size_t hl = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t off = 0;
        if (code < 0) {
            while (off < (size_t)n && buf[off] != '\n' && hl < sizeof head - 1) head[hl++] = buf[off++];
            if (off < (size_t)n && buf[off] == '\n') {
                head[hl] = 0;
                code = (int)strtol(head, NULL, 10);
                off++;
            }
        }
        if (code >= 0 && off < (size_t)n) fwrite(buf + off, 1, (size_t)n - off, stdout);
    }
    close(fd);
    if (code < 0) {
        fprintf(stderr, "mailwarden: no answer from the guard daemon at %s\n", path);
        return EXIT_FAIL;
    }
    return code;
}
