/* store - see store.h. */
#include "guard/store.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* migrations[i] brings the schema from version i to version i + 1. Append only. */
static const char *const migrations[] = {
    /* 0 -> 1: last logins */
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (0);"
    "CREATE TABLE logins ("
    "  user TEXT NOT NULL,"
    "  proto TEXT NOT NULL,"
    "  first_login INTEGER NOT NULL,"
    "  last_login INTEGER NOT NULL,"
    "  last_ip TEXT,"
    "  last_local_ip TEXT,"
    "  login_count INTEGER NOT NULL DEFAULT 0,"
    "  last_n INTEGER NOT NULL DEFAULT 0,"
    "  last_source TEXT NOT NULL DEFAULT 'log',"
    "  PRIMARY KEY (user, proto)"
    ");"
    "CREATE INDEX logins_last ON logins (last_login);"
    "CREATE TABLE login_failures ("
    "  user TEXT NOT NULL PRIMARY KEY,"
    "  first_fail INTEGER NOT NULL,"
    "  last_fail INTEGER NOT NULL,"
    "  last_fail_ip TEXT,"
    "  last_fail_proto TEXT"
    ");"
    "CREATE INDEX login_failures_last ON login_failures (last_fail);",
    /* 1 -> 2: the guard daemon (guard/bandb.h): bans with history, log positions, blocks */
    "CREATE TABLE guard_bans ("
    "  id INTEGER PRIMARY KEY,"
    "  jail TEXT NOT NULL,"
    "  ip TEXT NOT NULL,"                /* canonical address text */
    "  prefix INTEGER NOT NULL,"
    "  time_of_ban INTEGER NOT NULL,"
    "  bantime INTEGER NOT NULL,"        /* -1 permanent */
    "  end_time INTEGER,"                /* NULL when permanent */
    "  failures INTEGER NOT NULL,"
    "  ban_count INTEGER NOT NULL,"      /* earlier bans when this one was made */
    "  ended_at INTEGER,"
    "  ended_how TEXT"
    ");"
    "CREATE INDEX guard_bans_ip ON guard_bans (ip, prefix, jail, time_of_ban);"
    "CREATE INDEX guard_bans_open ON guard_bans (ended_at, end_time);"
    "CREATE TABLE guard_logpos ("
    "  path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, pos INTEGER, hash INTEGER, updated INTEGER"
    ");"
    "CREATE TABLE guard_blocks ("
    "  cidr TEXT PRIMARY KEY, added INTEGER NOT NULL, comment TEXT"
    ");",
    /* 2 -> 3: prefix bans keep the member bans that caused them (canonical addresses or
     * CIDRs, space separated); recidive counts recent bans of a target across jails */
    ("ALTER TABLE guard_bans ADD COLUMN members TEXT;"
     "CREATE INDEX guard_bans_recent ON guard_bans (ip, prefix, time_of_ban);"),
    /* 3 -> 4: journal cursors of the guard's systemd-journal jails (guard/jfollow.h) */
    "CREATE TABLE guard_journal ("
    "  source TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated INTEGER"
    ");",
};
#define SCHEMA_CURRENT ((int)(sizeof migrations / sizeof migrations[0]))

struct store {
    sqlite3 *db;
    int version;
    bool busy;
};

int store_schema_current(void) { return SCHEMA_CURRENT; }
int store_schema_version(const struct store *s) { return s->version; }
bool store_is_busy(const struct store *s) { return s->busy; }

static int fail(struct store *s, int rc, char *err, size_t errlen, const char *what)
{
    int base = rc & 0xff;
    s->busy = base == SQLITE_BUSY || base == SQLITE_LOCKED;
    snprintf(err, errlen, "%s: %s%s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
             s->busy ? " (busy timeout reached)" : "");
    return -1;
}

static int exec(struct store *s, const char *sql, char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, err, errlen, what);
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, err, errlen, "preparing a statement");
}

/* -1 error, else the version (0: no schema yet) */
static int read_version(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                &st, err, errlen) < 0)
        return -1;
    int rc = sqlite3_step(st);
    int have = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return fail(s, rc, err, errlen, "reading the schema version");
    if (!have) return 0;
    if (prepare(s, "SELECT max(version) FROM schema_version", &st, err, errlen) < 0) return -1;
    rc = sqlite3_step(st);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return fail(s, rc, err, errlen, "reading the schema version");
    return v;
}

static int migrate(struct store *s, char *err, size_t errlen)
{
    if (exec(s, "BEGIN IMMEDIATE", err, errlen, "locking the database for a schema upgrade") < 0)
        return -1;
    /* another process may have migrated while we waited for the lock */
    int v = read_version(s, err, errlen);
    if (v < 0) goto bad;
    for (; v < SCHEMA_CURRENT; v++) {
        char what[64];
        snprintf(what, sizeof what, "schema upgrade %d -> %d", v, v + 1);
        if (exec(s, migrations[v], err, errlen, what) < 0) goto bad;
        sqlite3_stmt *st;
        if (prepare(s, "UPDATE schema_version SET version = ?1", &st, err, errlen) < 0) goto bad;
        sqlite3_bind_int(st, 1, v + 1);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) { fail(s, rc, err, errlen, what); goto bad; }
    }
    if (exec(s, "COMMIT", err, errlen, "committing the schema upgrade") < 0) goto bad;
    s->version = v;
    return 0;
bad:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

struct store *store_open(const char *path, int busy_ms, unsigned flags, char *err, size_t errlen)
{
    struct store *s = xcalloc(1, sizeof *s);
    int of = (flags & STORE_RDONLY) ? SQLITE_OPEN_READONLY
           : SQLITE_OPEN_READWRITE | ((flags & STORE_NOCREATE) ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &s->db, of | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto bad;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, busy_ms > 0 ? busy_ms : 0);
    char e2[256];
    int v = read_version(s, e2, sizeof e2);
    if (v < 0) { snprintf(err, errlen, "%s: %s", path, e2); goto bad; }
    s->version = v;
    if (v > SCHEMA_CURRENT) {
        snprintf(err, errlen, "%s: database schema version %d is newer than this mailwarden "
                 "understands (%d); upgrade mailwarden", path, v, SCHEMA_CURRENT);
        goto bad;
    }
    if (v < SCHEMA_CURRENT) {
        if (flags & STORE_RDONLY) {
            if (v == 0) snprintf(err, errlen, "%s: not a mailwarden database (no schema)", path);
            else snprintf(err, errlen, "%s: database schema version %d needs an upgrade to %d: "
                          "run a command that writes it (mailwarden logins --update)", path, v, SCHEMA_CURRENT);
            goto bad;
        }
        /* WAL is a property of the file: set it once, outside any transaction */
        if (v == 0 && exec(s, "PRAGMA journal_mode = WAL", e2, sizeof e2, "enabling WAL") < 0) {
            snprintf(err, errlen, "%s: %s", path, e2);
            goto bad;
        }
        if (migrate(s, e2, sizeof e2) < 0) { snprintf(err, errlen, "%s: %s", path, e2); goto bad; }
    }
    if (!(flags & STORE_RDONLY)) sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return s;
bad:
    if (s->db) {
        int base = sqlite3_errcode(s->db) & 0xff;
        if (base == SQLITE_BUSY || base == SQLITE_LOCKED) s->busy = true;
    }
    /* the caller only sees NULL; a busy open is still visible through the message */
    sqlite3_close(s->db);
    free(s);
    return NULL;
}

void *store_sqlite(struct store *s) { return s->db; }

void store_close(struct store *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    free(s);
}

/* ---- logins ---- */

/* The row of a (user, proto), merged with what the input knows about it. ?1 user, ?2 proto,
 * ?3 first, ?4 last, ?5 ip, ?6 local ip, ?7 new logins, ?8 logins at `last`, ?9 source. */
static const char upsert_login_sql[] =
    "INSERT INTO logins (user, proto, first_login, last_login, last_ip, last_local_ip,"
    "                    login_count, last_n, last_source)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT (user, proto) DO UPDATE SET"
    "  first_login = min(first_login, excluded.first_login),"
    "  login_count = login_count + excluded.login_count,"
    "  last_n = CASE WHEN excluded.last_login > last_login THEN excluded.last_n"
    "                WHEN excluded.last_login = last_login THEN max(last_n, excluded.last_n)"
    "                ELSE last_n END,"
    "  last_ip = CASE WHEN excluded.last_login >= last_login THEN excluded.last_ip ELSE last_ip END,"
    "  last_local_ip = CASE WHEN excluded.last_login >= last_login"
    "                       THEN coalesce(excluded.last_local_ip, last_local_ip) ELSE last_local_ip END,"
    "  last_source = CASE WHEN excluded.last_login >= last_login THEN excluded.last_source ELSE last_source END,"
    "  last_login = max(last_login, excluded.last_login)";

/* The hook: one login now. At the same second as the stored last login it is one more
 * at that second (so a later --update of the same log line does not count it again). */
static const char record_login_sql[] =
    "INSERT INTO logins (user, proto, first_login, last_login, last_ip, last_local_ip,"
    "                    login_count, last_n, last_source)"
    " VALUES (?1, ?2, ?3, ?3, ?4, ?5, 1, 1, 'postlogin')"
    " ON CONFLICT (user, proto) DO UPDATE SET"
    "  first_login = min(first_login, excluded.first_login),"
    "  login_count = login_count + 1,"
    "  last_n = CASE WHEN excluded.last_login > last_login THEN 1"
    "                WHEN excluded.last_login = last_login THEN last_n + 1 ELSE last_n END,"
    "  last_ip = CASE WHEN excluded.last_login >= last_login THEN excluded.last_ip ELSE last_ip END,"
    "  last_local_ip = CASE WHEN excluded.last_login >= last_login THEN excluded.last_local_ip ELSE last_local_ip END,"
    "  last_source = CASE WHEN excluded.last_login >= last_login THEN 'postlogin' ELSE last_source END,"
    "  last_login = max(last_login, excluded.last_login)";

static const char upsert_fail_sql[] =
    "INSERT INTO login_failures (user, first_fail, last_fail, last_fail_ip, last_fail_proto)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (user) DO UPDATE SET"
    "  first_fail = min(first_fail, excluded.first_fail),"
    "  last_fail_ip = CASE WHEN excluded.last_fail > last_fail"
    "                        OR (excluded.last_fail = last_fail AND excluded.last_fail_proto IS NOT NULL)"
    "                      THEN excluded.last_fail_ip ELSE last_fail_ip END,"
    "  last_fail_proto = CASE WHEN excluded.last_fail > last_fail"
    "                        OR (excluded.last_fail = last_fail AND excluded.last_fail_proto IS NOT NULL)"
    "                      THEN excluded.last_fail_proto ELSE last_fail_proto END,"
    "  last_fail = max(last_fail, excluded.last_fail)";

/* failure-only names beyond the cap, oldest first */
static const char prune_sql[] =
    "DELETE FROM login_failures WHERE user IN ("
    " SELECT f.user FROM login_failures f"
    " WHERE NOT EXISTS (SELECT 1 FROM logins l WHERE l.user = f.user)"
    " ORDER BY f.last_fail DESC LIMIT -1 OFFSET ?1)";

static void bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
    if (!s || !n) sqlite3_bind_null(st, i);
    else sqlite3_bind_text(st, i, s, (int)n, SQLITE_TRANSIENT);
}

static void bind_ip(sqlite3_stmt *st, int i, const struct ipaddr *a)
{
    char b[IPADDR_STRLEN];
    if (!a->family) { sqlite3_bind_null(st, i); return; }
    size_t n = ipaddr_format(a, b, sizeof b);
    sqlite3_bind_text(st, i, b, (int)n, SQLITE_TRANSIENT);
}

int store_login_record(struct store *s, const struct store_login *e, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare(s, record_login_sql, &st, err, errlen) < 0) return -1;
    bind_text(st, 1, e->user, strlen(e->user));
    bind_text(st, 2, e->proto, strlen(e->proto));
    sqlite3_bind_int64(st, 3, e->t);
    bind_text(st, 4, e->ip, e->ip ? strlen(e->ip) : 0);
    bind_text(st, 5, e->lip, e->lip ? strlen(e->lip) : 0);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, rc, err, errlen, "recording the login");
}

int store_logins_marks(struct store *s, struct logins *l, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare(s, "SELECT user, proto, last_login, last_n FROM logins", &st, err, errlen) < 0) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct str u = { (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) };
        struct str p = { (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1) };
        int64_t n = sqlite3_column_int64(st, 3);
        if (u.p && p.p) logins_set_mark(l, u, p, sqlite3_column_int64(st, 2), n > 0 ? (uint64_t)n : 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, rc, err, errlen, "reading stored logins");
}

int store_logins_apply(struct store *s, const struct logins *l, struct store_apply_stats *out,
                       char *err, size_t errlen)
{
    struct store_apply_stats stt;
    memset(&stt, 0, sizeof stt);
    sqlite3_stmt *up = NULL, *uf = NULL, *pr = NULL;
    if (exec(s, "BEGIN IMMEDIATE", err, errlen, "locking the database") < 0) return -1;
    if (prepare(s, upsert_login_sql, &up, err, errlen) < 0 || prepare(s, upsert_fail_sql, &uf, err, errlen) < 0 ||
        prepare(s, prune_sql, &pr, err, errlen) < 0)
        goto bad;
    size_t it = 0;
    struct str k;
    void *v;
    int rc;
    while (hmap_next(logins_table(l), &it, &k, &v)) {
        const struct login_agg *a = v;
        struct str user, proto;
        logins_key_split(k, &user, &proto);
        uint64_t nn = logins_new_count(l, k, a);
        sqlite3_reset(up);
        bind_text(up, 1, user.p, user.len);
        sqlite3_bind_text(up, 2, proto.p ? proto.p : "", (int)proto.len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 3, a->first);
        sqlite3_bind_int64(up, 4, a->last);
        bind_ip(up, 5, &a->ip);
        bind_ip(up, 6, &a->lip);
        sqlite3_bind_int64(up, 7, (sqlite3_int64)nn);
        sqlite3_bind_int64(up, 8, (sqlite3_int64)a->n_at_last);
        sqlite3_bind_text(up, 9, "log", 3, SQLITE_STATIC);
        if ((rc = sqlite3_step(up)) != SQLITE_DONE) { fail(s, rc, err, errlen, "storing a login"); goto bad; }
        stt.users++;
        stt.new_logins += nn;
    }
    it = 0;
    while (hmap_next(logins_failures(l), &it, &k, &v)) {
        const struct fail_agg *f = v;
        sqlite3_reset(uf);
        bind_text(uf, 1, k.p, k.len);
        sqlite3_bind_int64(uf, 2, f->first);
        sqlite3_bind_int64(uf, 3, f->last);
        bind_ip(uf, 4, &f->ip);
        bind_text(uf, 5, f->proto, strlen(f->proto));
        if ((rc = sqlite3_step(uf)) != SQLITE_DONE) { fail(s, rc, err, errlen, "storing a failure"); goto bad; }
        stt.fail_names++;
    }
    sqlite3_bind_int64(pr, 1, STORE_MAX_FAIL_ONLY);
    if ((rc = sqlite3_step(pr)) != SQLITE_DONE) { fail(s, rc, err, errlen, "pruning failure names"); goto bad; }
    stt.pruned = (uint64_t)sqlite3_changes(s->db);
    sqlite3_finalize(up);
    sqlite3_finalize(uf);
    sqlite3_finalize(pr);
    up = uf = pr = NULL;
    if (exec(s, "COMMIT", err, errlen, "committing") < 0) goto bad;
    if (out) *out = stt;
    return 0;
bad:
    sqlite3_finalize(up);
    sqlite3_finalize(uf);
    sqlite3_finalize(pr);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int store_logins_rows(struct store *s, struct login_rows *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare(s, "SELECT user, proto, first_login, last_login, last_ip, login_count FROM logins",
                &st, err, errlen) < 0)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct str u = { col_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) };
        if (!u.len || memchr(u.p, 0, u.len)) continue;
        int64_t n = sqlite3_column_int64(st, 5);
        login_rows_add(r, u, str_c(col_text(st, 1)), sqlite3_column_int64(st, 2),
                       sqlite3_column_int64(st, 3), n > 0 ? (uint64_t)n : 0, col_text(st, 4));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, rc, err, errlen, "reading logins");
}

int store_logins_fails(struct store *s, struct login_rows *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare(s, "SELECT last_fail, last_fail_ip, last_fail_proto FROM login_failures WHERE user = ?1",
                &st, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, r->v[i].user, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            login_row_set_fail(&r->v[i], sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2));
        else if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return fail(s, rc, err, errlen, "reading failures");
        }
    }
    sqlite3_finalize(st);
    return 0;
}
