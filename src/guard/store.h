/*
 * store - the SQLite database of mailwarden (default /var/lib/mailwarden/mailwarden.db):
 * last logins today; bans, log positions and other guard state later. One file shared by
 * the CLI commands, the post-login hook and the guard daemon.
 *
 * Schema: a `schema_version` table holds one row with the version. store_open() brings an
 * older database up to date by running the migrations (store.c: migrations[i] goes from
 * version i to i+1) in one IMMEDIATE transaction; a database newer than this program is
 * refused. A new database is switched to WAL (readers never block the writer and the
 * other way round; only writers queue). New tables are added by appending a migration,
 * never by editing an old one.
 *
 * Version 1:
 *   logins(user, proto, first_login, last_login, last_ip, last_local_ip, login_count,
 *          last_n, last_source)   PRIMARY KEY (user, proto)
 *       one row per user and protocol (imap, pop3, submission, managesieve, smtp, or what
 *       the hook was told); times are epoch seconds; last_n is the number of logins counted
 *       at exactly last_login (the watermark of logins.h); last_source 'log'|'postlogin'
 *   login_failures(user, first_fail, last_fail, last_fail_ip, last_fail_proto)
 *       PRIMARY KEY (user): every name seen in a failed login, including names no account
 *       has; kept apart so that a name only attackers tried is never a user who logged in.
 *       Names without a successful login are capped (STORE_MAX_FAIL_ONLY, oldest dropped).
 *
 * Version 2 (the guard, guard/bandb.h):
 *   guard_bans(id, jail, ip, prefix, time_of_ban, bantime, end_time, failures, ban_count,
 *              ended_at, ended_how)   every ban ever made (history for bantime.increment)
 *   guard_logpos(path, dev, ino, pos, hash, updated)   followed-file positions
 *   guard_blocks(cidr, added, comment)                 the permanent block list
 *
 * Version 3 (prefix escalation, recidive):
 *   guard_bans.members   the member bans that caused a prefix ban (text, space separated)
 *   index guard_bans_recent (ip, prefix, time_of_ban)  recent bans of a target, all jails
 *
 * Version 4 (the guard's journal source, guard/jfollow.h):
 *   guard_journal(source, cursor, updated)   last processed entry per journal source
 *
 * All SQL text is constant; data is always bound (sqlite3_bind_*), never pasted in.
 * Errors: functions return 0 or -1 with a message in err (the SQLite message and what was
 * being done); SQLITE_BUSY after the busy timeout is reported as such (store_is_busy()).
 * Not thread-safe: one store per thread.
 */
#ifndef MW_STORE_H
#define MW_STORE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "report/logins.h"

#define STORE_DEFAULT_PATH "/var/lib/mailwarden/mailwarden.db"
#define STORE_BUSY_DEFAULT_MS 5000      /* commands; the post-login hook uses 100 */
#define STORE_MAX_FAIL_ONLY 200000      /* failure-only user names kept */

enum {
    STORE_RDONLY = 1,     /* open read-only: no migration, version must be current */
    STORE_NOCREATE = 2,   /* fail when the file does not exist */
};

struct store;

/* Open (and create / migrate unless STORE_RDONLY). NULL with a message in err. */
struct store *store_open(const char *path, int busy_ms, unsigned flags, char *err, size_t errlen);
void store_close(struct store *s);
int store_schema_version(const struct store *s);
/* The version this program writes. */
int store_schema_current(void);
/* Was the last failure a lock timeout (SQLITE_BUSY / SQLITE_LOCKED)? */
bool store_is_busy(const struct store *s);

/* The sqlite3 handle, for modules that keep their own prepared statements on the same
 * database (guard/bandb.c). Owned by the store. */
void *store_sqlite(struct store *s);

/* ---- logins ---- */

/* One login as the post-login hook sees it. Strings are NUL-terminated; ip/lip may be NULL
 * or "" when unknown. */
struct store_login {
    const char *user, *proto, *ip, *lip;
    int64_t t;
};
/* Record one login (one statement, atomic). */
int store_login_record(struct store *s, const struct store_login *e, char *err, size_t errlen);

/* Load every (user, proto) watermark into l (before scanning). */
int store_logins_marks(struct store *s, struct logins *l, char *err, size_t errlen);

struct store_apply_stats {
    uint64_t users, new_logins, fail_names, pruned;
};
/* Write a finished scan into the database in one transaction (see logins.h for the
 * counting rule). */
int store_logins_apply(struct store *s, const struct logins *l, struct store_apply_stats *st,
                       char *err, size_t errlen);

/* Report: add every stored (user, proto) row to r. */
int store_logins_rows(struct store *s, struct login_rows *r, char *err, size_t errlen);
/* Report: set the last failure of every row of r that has one stored. */
int store_logins_fails(struct store *s, struct login_rows *r, char *err, size_t errlen);

#endif
