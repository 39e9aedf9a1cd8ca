/* bandb - see bandb.h. */
#include "util/fsutil.h"
#include "guard/bandb.h"
#include "guard/store.h"
#include "util/xalloc.h"
#include <sqlite3.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


enum {
    S_BAN_ADD, S_BAN_END_J, S_BAN_END_ALL, S_COUNT_J, S_COUNT_ALL, S_ACTIVE, S_EXPIRE,
    S_POS_GET, S_POS_SET, S_BLOCK_ADD, S_BLOCK_DEL, S_BLOCKS, S_BEGIN, S_COMMIT, S_MEMBERS, S_COUNT_OTHERS,
    S_CUR_GET, S_CUR_SET,
    S_FAIL_SET, S_FAIL_DEL, S_FAIL_CLEAR, S_FAIL_PRUNE, S_FAILS, S_MAX
};

/* Failure times of the tracker (bandb.h). A cache of in-memory state rather than history:
 * created here, outside the schema migrations, and safe to drop at any time. */
static const char fail_table[] =
    "CREATE TABLE IF NOT EXISTS guard_failures ("
    "  jail TEXT NOT NULL, ip TEXT NOT NULL,"
    "  times TEXT NOT NULL,"            /* epoch seconds, oldest first, space separated */
    "  expires INTEGER NOT NULL,"       /* newest time + findtime */
    "  PRIMARY KEY (jail, ip)) WITHOUT ROWID";

static const char *const sql[S_MAX] = {
    [S_BAN_ADD] = "INSERT INTO guard_bans(jail, ip, prefix, time_of_ban, bantime, end_time, failures, ban_count)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_BAN_END_J] = "UPDATE guard_bans SET ended_at = ?4, ended_how = ?5 WHERE jail = ?1 AND ip = ?2"
                    " AND prefix = ?3 AND ended_at IS NULL",
    [S_BAN_END_ALL] = "UPDATE guard_bans SET ended_at = ?4, ended_how = ?5 WHERE ip = ?2"
                      " AND prefix = ?3 AND ended_at IS NULL AND ?1 IS NULL",
    [S_COUNT_J] = "SELECT count(*) FROM guard_bans WHERE ip = ?2 AND prefix = ?3 AND jail = ?1 AND time_of_ban >= ?4",
    [S_COUNT_ALL] = "SELECT count(*) FROM guard_bans WHERE ip = ?2 AND prefix = ?3 AND time_of_ban >= ?4 AND ?1 IS NULL",
    [S_ACTIVE] = "SELECT jail, ip, prefix, time_of_ban, bantime, failures, ban_count, members FROM guard_bans"
                 " WHERE ended_at IS NULL AND (end_time IS NULL OR end_time > ?1) ORDER BY time_of_ban, id",
    [S_EXPIRE] = "UPDATE guard_bans SET ended_at = end_time, ended_how = 'expired'"
                 " WHERE ended_at IS NULL AND end_time IS NOT NULL AND end_time <= ?1",
    [S_POS_GET] = "SELECT dev, ino, pos, hash, updated FROM guard_logpos WHERE path = ?1",
    [S_POS_SET] = "INSERT INTO guard_logpos(path, dev, ino, pos, hash, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
                  " ON CONFLICT(path) DO UPDATE SET dev = ?2, ino = ?3, pos = ?4, hash = ?5, updated = ?6",
    [S_BLOCK_ADD] = "INSERT INTO guard_blocks(cidr, added, comment) VALUES(?1, ?2, ?3)"
                    " ON CONFLICT(cidr) DO NOTHING",
    [S_BLOCK_DEL] = "DELETE FROM guard_blocks WHERE cidr = ?1",
    [S_BLOCKS] = "SELECT cidr, added FROM guard_blocks ORDER BY added, cidr",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_FAIL_SET] = "INSERT INTO guard_failures(jail, ip, times, expires) VALUES(?1, ?2, ?3, ?4)"
                   " ON CONFLICT(jail, ip) DO UPDATE SET times = ?3, expires = ?4",
    [S_FAIL_DEL] = "DELETE FROM guard_failures WHERE jail = ?1 AND ip = ?2",
    [S_FAIL_CLEAR] = "DELETE FROM guard_failures",
    [S_FAIL_PRUNE] = "DELETE FROM guard_failures WHERE expires <= ?1",
    [S_FAILS] = "SELECT jail, ip, times FROM guard_failures WHERE expires > ?1",
    [S_MEMBERS] = "UPDATE guard_bans SET members = ?4 WHERE jail = ?1 AND ip = ?2 AND prefix = ?3 AND ended_at IS NULL",
    [S_COUNT_OTHERS] = "SELECT count(*) FROM guard_bans WHERE ip = ?2 AND prefix = ?3 AND time_of_ban >= ?4"
                       " AND jail <> ?1",
    [S_CUR_GET] = "SELECT cursor FROM guard_journal WHERE source = ?1",
    [S_CUR_SET] = "INSERT INTO guard_journal(source, cursor, updated) VALUES(?1, ?2, ?3)"
                  " ON CONFLICT(source) DO UPDATE SET cursor = ?2, updated = ?3",
};

struct bandb {
    struct store *store;
    sqlite3 *db;
    sqlite3_stmt *st[S_MAX];
    char err[512];
};

const char *bandb_error(const struct bandb *db) { return db->err; }
struct store *bandb_store(struct bandb *db) { return db->store; }

static int fail(struct bandb *db, const char *what)
{
    snprintf(db->err, sizeof db->err, "%s: %s", what, sqlite3_errmsg(db->db));
    return -1;
}

static sqlite3_stmt *S(struct bandb *db, int i)
{
    sqlite3_stmt *s = db->st[i];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}


struct bandb *bandb_open(const char *path, char *err, size_t errlen)
{
    struct bandb *db = xcalloc(1, sizeof *db);
    if (strcmp(path, ":memory:") != 0) fs_mkparents(path, 0700);
    db->store = store_open(path, 5000, 0, err, errlen);
    if (!db->store) {
        free(db);
        return NULL;
    }
    db->db = store_sqlite(db->store);
    /* the daemon's working set is small: keep SQLite's page cache at 256 KB */
    sqlite3_exec(db->db, "PRAGMA cache_size = -256", NULL, NULL, NULL);
    if (sqlite3_exec(db->db, fail_table, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db->db));
        bandb_close(db);
        return NULL;
    }
    for (int i = 0; i < S_MAX; i++) {
        if (sqlite3_prepare_v2(db->db, sql[i], -1, &db->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db->db));
            bandb_close(db);
            return NULL;
        }
    }
    return db;
}

void bandb_close(struct bandb *db)
{
    if (!db) return;
    for (int i = 0; i < S_MAX; i++) sqlite3_finalize(db->st[i]);
    store_close(db->store);
    free(db);
}

static int step_done(struct bandb *db, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(db, what);
}

int bandb_begin(struct bandb *db) { return step_done(db, S(db, S_BEGIN), "begin"); }
int bandb_commit(struct bandb *db) { return step_done(db, S(db, S_COMMIT), "commit"); }

static void bind_target(sqlite3_stmt *s, const struct cidr *t)
{
    char ip[IPADDR_STRLEN];
    ipaddr_format(&t->addr, ip, sizeof ip);
    sqlite3_bind_text(s, 2, ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, t->prefix);
}

int bandb_ban_add(struct bandb *db, const char *jail, const struct cidr *t, int64_t start,
                  int64_t bantime, uint32_t failures, uint32_t count)
{
    sqlite3_stmt *s = S(db, S_BAN_ADD);
    sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    bind_target(s, t);
    sqlite3_bind_int64(s, 4, start);
    sqlite3_bind_int64(s, 5, bantime);
    if (bantime >= 0) sqlite3_bind_int64(s, 6, start + bantime);
    sqlite3_bind_int64(s, 7, failures);
    sqlite3_bind_int64(s, 8, count);
    return step_done(db, s, "ban");
}

int bandb_ban_end(struct bandb *db, const char *jail, const struct cidr *t, int64_t when, const char *how)
{
    sqlite3_stmt *s = S(db, jail ? S_BAN_END_J : S_BAN_END_ALL);
    if (jail) sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    bind_target(s, t);
    sqlite3_bind_int64(s, 4, when);
    sqlite3_bind_text(s, 5, how, -1, SQLITE_STATIC);
    return step_done(db, s, "unban");
}

long bandb_ban_count(struct bandb *db, const char *jail, const struct cidr *t, int64_t since)
{
    sqlite3_stmt *s = S(db, jail ? S_COUNT_J : S_COUNT_ALL);
    if (jail) sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    bind_target(s, t);
    sqlite3_bind_int64(s, 4, since);
    long n = -1;
    if (sqlite3_step(s) == SQLITE_ROW) n = (long)sqlite3_column_int64(s, 0);
    else fail(db, "ban count");
    sqlite3_reset(s);
    return n;
}

long bandb_ban_count_others(struct bandb *db, const char *jail, const struct cidr *t, int64_t since)
{
    sqlite3_stmt *s = S(db, S_COUNT_OTHERS);
    sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    bind_target(s, t);
    sqlite3_bind_int64(s, 4, since);
    long n = -1;
    if (sqlite3_step(s) == SQLITE_ROW) n = (long)sqlite3_column_int64(s, 0);
    else fail(db, "recent bans");
    sqlite3_reset(s);
    return n;
}

int bandb_ban_members(struct bandb *db, const char *jail, const struct cidr *t, const struct cidr *m, size_t n)
{
    /* canonical text of parsed addresses only: nothing from a log line */
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f) return fail(db, "members");
    for (size_t i = 0; i < n; i++) {
        char b[IPADDR_STRLEN + 8];
        if (m[i].prefix == (m[i].addr.family == 4 ? 32 : 128)) ipaddr_format(&m[i].addr, b, sizeof b);
        else cidr_format(&m[i], b, sizeof b);
        fprintf(f, "%s%s", i ? " " : "", b);
    }
    fclose(f);
    sqlite3_stmt *s = S(db, S_MEMBERS);
    sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    bind_target(s, t);
    sqlite3_bind_text(s, 4, txt, -1, SQLITE_TRANSIENT);
    free(txt);
    return step_done(db, s, "members");
}

/* "a b c" -> up to max CIDRs (bad words skipped) */
static size_t parse_members(const char *p, struct cidr *out, size_t max)
{
    size_t n = 0;
    while (p && *p && n < max) {
        while (*p == ' ') p++;
        const char *b = p;
        while (*p && *p != ' ') p++;
        if (p > b && cidr_parse((struct str){ b, (size_t)(p - b) }, &out[n]) == 0) n++;
    }
    return n;
}

static int col_cidr(sqlite3_stmt *s, int col, int pcol, struct cidr *c)
{
    const unsigned char *ip = sqlite3_column_text(s, col);
    memset(c, 0, sizeof *c);
    if (!ip || ipaddr_parse(str_c((const char *)ip), &c->addr) < 0) return -1;
    int p = pcol >= 0 ? sqlite3_column_int(s, pcol) : -1;
    int max = c->addr.family == 4 ? 32 : 128;
    c->prefix = (uint8_t)(p < 0 || p > max ? max : p);
    ipaddr_mask(&c->addr, c->prefix);
    return 0;
}

int bandb_active(struct bandb *db, int64_t now, void (*cb)(void *ud, const struct bandb_ban *b), void *ud)
{
    sqlite3_stmt *s = S(db, S_ACTIVE);
    sqlite3_bind_int64(s, 1, now);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct bandb_ban b;
        memset(&b, 0, sizeof b);
        b.jail = (const char *)sqlite3_column_text(s, 0);
        if (!b.jail || col_cidr(s, 1, 2, &b.target) < 0) continue;
        b.start = sqlite3_column_int64(s, 3);
        b.bantime = sqlite3_column_int64(s, 4);
        b.failures = (uint32_t)sqlite3_column_int64(s, 5);
        b.count = (uint32_t)sqlite3_column_int64(s, 6);
        struct cidr mem[BANDB_MAXMEMBERS];
        b.nmembers = parse_members((const char *)sqlite3_column_text(s, 7), mem, BANDB_MAXMEMBERS);
        b.members = mem;
        cb(ud, &b);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(db, "active bans");
}

int bandb_expire(struct bandb *db, int64_t now)
{
    sqlite3_stmt *s = S(db, S_EXPIRE);
    sqlite3_bind_int64(s, 1, now);
    return step_done(db, s, "expire");
}

int bandb_pos_get(struct bandb *db, const char *path, struct logpos *out)
{
    sqlite3_stmt *s = S(db, S_POS_GET);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s), r = 0;
    if (rc == SQLITE_ROW) {
        out->dev = (dev_t)sqlite3_column_int64(s, 0);
        out->ino = (ino_t)sqlite3_column_int64(s, 1);
        out->pos = (uint64_t)sqlite3_column_int64(s, 2);
        out->hash = (uint64_t)sqlite3_column_int64(s, 3);
        out->updated = sqlite3_column_int64(s, 4);
        r = 1;
    } else if (rc != SQLITE_DONE) {
        r = fail(db, "log position");
    }
    sqlite3_reset(s);
    return r;
}

int bandb_pos_set(struct bandb *db, const char *path, const struct logpos *p)
{
    sqlite3_stmt *s = S(db, S_POS_SET);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (int64_t)p->dev);
    sqlite3_bind_int64(s, 3, (int64_t)p->ino);
    sqlite3_bind_int64(s, 4, (int64_t)p->pos);
    sqlite3_bind_int64(s, 5, (int64_t)p->hash);
    sqlite3_bind_int64(s, 6, p->updated);
    return step_done(db, s, "log position");
}

int bandb_block_add(struct bandb *db, const struct cidr *c, int64_t when, const char *comment)
{
    char t[IPADDR_STRLEN + 8];
    cidr_format(c, t, sizeof t);
    sqlite3_stmt *s = S(db, S_BLOCK_ADD);
    sqlite3_bind_text(s, 1, t, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, when);
    if (comment) sqlite3_bind_text(s, 3, comment, -1, SQLITE_TRANSIENT);
    return step_done(db, s, "block");
}

int bandb_block_del(struct bandb *db, const struct cidr *c)
{
    char t[IPADDR_STRLEN + 8];
    cidr_format(c, t, sizeof t);
    sqlite3_stmt *s = S(db, S_BLOCK_DEL);
    sqlite3_bind_text(s, 1, t, -1, SQLITE_TRANSIENT);
    if (step_done(db, s, "unblock") < 0) return -1;
    return sqlite3_changes(db->db) > 0 ? 1 : 0;
}

int bandb_blocks(struct bandb *db, void (*cb)(void *ud, const struct cidr *c, int64_t added), void *ud)
{
    sqlite3_stmt *s = S(db, S_BLOCKS);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        struct cidr c;
        if (t && cidr_parse(str_c((const char *)t), &c) == 0) cb(ud, &c, sqlite3_column_int64(s, 1));
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(db, "blocks");
}

int bandb_fail_set(struct bandb *db, const char *jail, const struct ipaddr *ip, const uint32_t *times, unsigned n,
                   int64_t expires)
{
    char ipt[IPADDR_STRLEN];
    char tt[BANDB_MAXTIMES * 11 + 1];       /* <= 10 digits and a space each */
    size_t len = 0;
    if (n > BANDB_MAXTIMES) {
        times += n - BANDB_MAXTIMES;
        n = BANDB_MAXTIMES;
    }
    for (unsigned i = 0; i < n; i++) {
        int w = snprintf(tt + len, sizeof tt - len, i ? " %u" : "%u", (unsigned)times[i]);
        if (w < 0 || (size_t)w >= sizeof tt - len) break;
        len += (size_t)w;
    }
    tt[len] = 0;
    ipaddr_format(ip, ipt, sizeof ipt);
    sqlite3_stmt *s = S(db, S_FAIL_SET);
    sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, ipt, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, tt, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, expires);
    return step_done(db, s, "failures");
}

int bandb_fail_del(struct bandb *db, const char *jail, const struct ipaddr *ip)
{
    char ipt[IPADDR_STRLEN];
    ipaddr_format(ip, ipt, sizeof ipt);
    sqlite3_stmt *s = S(db, S_FAIL_DEL);
    sqlite3_bind_text(s, 1, jail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, ipt, -1, SQLITE_TRANSIENT);
    return step_done(db, s, "failures");
}

int bandb_fail_clear(struct bandb *db) { return step_done(db, S(db, S_FAIL_CLEAR), "failures"); }

int bandb_fail_prune(struct bandb *db, int64_t now)
{
    sqlite3_stmt *s = S(db, S_FAIL_PRUNE);
    sqlite3_bind_int64(s, 1, now);
    return step_done(db, s, "failures");
}

int bandb_fails(struct bandb *db, int64_t now,
                void (*cb)(void *ud, const char *jail, const struct ipaddr *ip, const int64_t *times, unsigned n),
                void *ud)
{
    sqlite3_stmt *s = S(db, S_FAILS);
    sqlite3_bind_int64(s, 1, now);
    int rc;
    int64_t times[BANDB_MAXTIMES];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *jail = (const char *)sqlite3_column_text(s, 0);
        const char *ipt = (const char *)sqlite3_column_text(s, 1);
        const char *tt = (const char *)sqlite3_column_text(s, 2);
        struct ipaddr ip;
        if (!jail || !ipt || !tt || ipaddr_parse(str_c(ipt), &ip) < 0) continue;
        unsigned n = 0;
        while (*tt && n < BANDB_MAXTIMES) {
            char *end;
            long long v = strtoll(tt, &end, 10);
            if (end == tt) break;
            if (v > 0) times[n++] = v;
            tt = end;
            while (*tt == ' ') tt++;
        }
        if (n) cb(ud, jail, &ip, times, n);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(db, "failures");
}

char *bandb_cursor_get(struct bandb *db, const char *source, int *rc)
{
    sqlite3_stmt *s = S(db, S_CUR_GET);
    sqlite3_bind_text(s, 1, source, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(s);
    char *out = NULL;
    *rc = 0;
    if (r == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (t) out = xstrdup((const char *)t);
    } else if (r != SQLITE_DONE) {
        *rc = fail(db, "journal cursor");
    }
    sqlite3_reset(s);
    return out;
}

int bandb_cursor_set(struct bandb *db, const char *source, const char *cursor, int64_t updated)
{
    sqlite3_stmt *s = S(db, S_CUR_SET);
    sqlite3_bind_text(s, 1, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, cursor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, updated);
    return step_done(db, s, "journal cursor");
}
