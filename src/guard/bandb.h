/*
 * bandb - the guard's persistent state in SQLite: bans with their history (for
 * bantime.increment and `status`), log positions (path, device, inode, offset, hash of the
 * first line), journal cursors and the permanent block list.
 *
 * The tables are migration 1 -> 2 of the project's store (guard/store.c, schema_version,
 * WAL); bandb opens the database through store_open() and keeps its own statements.
 *
 * Durability: WAL, synchronous=NORMAL: a committed transaction survives a crash of the
 * daemon at any point (it is in the WAL before the firewall is touched; the daemon writes
 * a ban's row before applying it); a power loss may lose the last transactions, which the
 * kernel timeouts bound. busy_timeout 5 s (another `mailwarden` reading the same file).
 * Every statement uses bound parameters; no text from logs reaches SQL text.
 *
 * Ownership: the handle owns its prepared statements. Errors: -1 with bandb_error().
 */
#ifndef MW_BANDB_H
#define MW_BANDB_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util/ipaddr.h"

struct bandb;

#define BANDB_DEFAULT "/var/lib/mailwarden/mailwarden.db"

/* Open or create (parent directory created 0700 when missing). */
struct bandb *bandb_open(const char *path, char *err, size_t errlen);
void bandb_close(struct bandb *db);
const char *bandb_error(const struct bandb *db);
/* The store underneath (for the logins tables on the same database). */
struct store *bandb_store(struct bandb *db);

int bandb_begin(struct bandb *db);
int bandb_commit(struct bandb *db);

/* A new ban (history row). Returns 0 or -1. */
int bandb_ban_add(struct bandb *db, const char *jail, const struct cidr *t, int64_t start,
                  int64_t bantime, uint32_t failures, uint32_t count);
/* The active ban of (jail, target) ends at `when` (unban or expiry); how: "unban",
 * "expired", "flushed". jail NULL: in every jail. */
int bandb_ban_end(struct bandb *db, const char *jail, const struct cidr *t, int64_t when, const char *how);
/* Earlier bans of target (in jail, or all jails when jail is NULL) that started at or after
 * `since`. -1 on error. */
long bandb_ban_count(struct bandb *db, const char *jail, const struct cidr *t, int64_t since);

#define BANDB_MAXMEMBERS 64
struct bandb_ban {
    const char *jail;           /* valid during the callback */
    struct cidr target;
    int64_t start, bantime;
    uint32_t failures, count;
    const struct cidr *members; /* a prefix ban's members (valid during the callback) */
    size_t nmembers;
};
/* The members that caused the active prefix ban (jail, t). */
int bandb_ban_members(struct bandb *db, const char *jail, const struct cidr *t, const struct cidr *m, size_t n);
/* Bans of target t in every jail but `jail` that started at or after `since` (recidive).
 * -1 on error. */
long bandb_ban_count_others(struct bandb *db, const char *jail, const struct cidr *t, int64_t since);
/* Bans not ended and not expired at now (permanent ones included), oldest first. */
int bandb_active(struct bandb *db, int64_t now, void (*cb)(void *ud, const struct bandb_ban *b), void *ud);
/* Mark bans that expired before now as ended (bookkeeping after a restart). */
int bandb_expire(struct bandb *db, int64_t now);

struct logpos {
    dev_t dev;
    ino_t ino;
    uint64_t pos;
    uint64_t hash;              /* of the first line; 0 unknown */
    int64_t updated;
};
/* 1 found, 0 none, -1 error */
int bandb_pos_get(struct bandb *db, const char *path, struct logpos *out);
int bandb_pos_set(struct bandb *db, const char *path, const struct logpos *p);

/* Journal cursors (guard/jfollow.h), one per journal source key. get: the cursor (malloc'd,
 * caller frees) or NULL when none (*rc 0) or on error (*rc -1). */
char *bandb_cursor_get(struct bandb *db, const char *source, int *rc);
int bandb_cursor_set(struct bandb *db, const char *source, const char *cursor, int64_t updated);

int bandb_block_add(struct bandb *db, const struct cidr *c, int64_t when, const char *comment);
/* 1 removed, 0 not there, -1 error */
int bandb_block_del(struct bandb *db, const struct cidr *c);
int bandb_blocks(struct bandb *db, void (*cb)(void *ud, const struct cidr *c, int64_t added), void *ud);

/*
 * Failure times of the tracker per (jail, IP), so a restart does not reset counts: the
 * daemon writes the entries that changed every few seconds and everything at stop; rows
 * whose `expires` (newest time + findtime) has passed are pruned and never restored. At
 * most BANDB_MAXTIMES times per row (the newest are kept).
 */
#define BANDB_MAXTIMES 255
int bandb_fail_set(struct bandb *db, const char *jail, const struct ipaddr *ip, const uint32_t *times, unsigned n,
                   int64_t expires);
int bandb_fail_del(struct bandb *db, const char *jail, const struct ipaddr *ip);
int bandb_fail_clear(struct bandb *db);
int bandb_fail_prune(struct bandb *db, int64_t now);
/* Rows not expired at now; times oldest first, valid during the callback. */
int bandb_fails(struct bandb *db, int64_t now,
                void (*cb)(void *ud, const char *jail, const struct ipaddr *ip, const int64_t *times, unsigned n),
                void *ud);

#endif
