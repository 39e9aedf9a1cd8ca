/* failstore - see failstore.h. */
#include "guard/failstore.h"
#include "util/msg.h"
#include <string.h>

struct rctx {
    struct core *c;
    int64_t now;
    size_t n;
};

static void restore_row(void *ud, const char *jail, const struct ipaddr *ip, const int64_t *times, unsigned n)
{
    struct rctx *r = ud;
    struct gjail *j = core_jail_by_name(r->c, jail);
    if (!j || core_ignored(j, ip)) return;
    struct cidr host;
    memset(&host, 0, sizeof host);
    host.addr = *ip;
    host.prefix = ip->family == 4 ? 32 : 128;
    if (bans_find(core_bans(r->c), (uint16_t)j->id, &host)) return;
    bool any = false;
    for (unsigned i = 0; i < n; i++) {
        if (times[i] < r->now - j->c->findtime || times[i] > r->now + 86400) continue;
        tracker_fail(core_tracker(r->c), j->id, ip, times[i], 1);
        any = true;
    }
    if (any) r->n++;
}

static void clear_flag(void *ud, int jail, const struct ipaddr *ip, const uint32_t *times, unsigned n) {}

size_t failstore_restore(struct core *c, struct bandb *db, int64_t now)
{
    struct rctx r = { c, now, 0 };
    if (!db) return 0;
    if (bandb_fails(db, now, restore_row, &r) < 0)
        msg_warn_rl("db", 10, "database: %s (failure counts start from zero)", bandb_error(db));
    tracker_visit(core_tracker(c), true, clear_flag, NULL);     /* they are on disk already */
    return r.n;
}

struct sctx {
    struct core *c;
    struct bandb *db;
    size_t n;
    bool err;
};

static void save_entry(void *ud, int jail, const struct ipaddr *ip, const uint32_t *times, unsigned n)
{
    struct sctx *s = ud;
    struct gjail *j = core_jail(s->c, (size_t)jail);
    if (!j || !n || s->err) return;
    if (bandb_fail_set(s->db, j->c->name, ip, times, n, (int64_t)times[n - 1] + j->c->findtime) < 0) {
        s->err = true;
        return;
    }
    s->n++;
}

size_t failstore_save(struct core *c, struct bandb *db, bool all, int64_t now)
{
    if (!db) return 0;
    struct sctx s = { c, db, 0, false };
    if (all && bandb_fail_clear(db) < 0) s.err = true;
    if (!s.err) tracker_visit(core_tracker(c), !all, save_entry, &s);
    if (!s.err && bandb_fail_prune(db, now) < 0) s.err = true;
    if (s.err) msg_warn_rl("db", 10, "database: %s (failure counts not saved)", bandb_error(db));
    return s.n;
}

void failstore_forget(struct bandb *db, const char *jail, const struct cidr *t)
{
    if (!db || t->prefix != (t->addr.family == 4 ? 32 : 128)) return;
    if (bandb_fail_del(db, jail, &t->addr) < 0) msg_warn_rl("db", 10, "database: %s", bandb_error(db));
}
