/*
 * logins - who still uses their mailbox: a scan consumer (parse/scan.h) that collects, per
 * user and protocol, the successful logins and, per user name, the last failed attempt.
 *
 *   successful  Dovecot "*-login: Login: user=<u>, ..., rip=IP" (protocol imap, pop3,
 *               submission, managesieve) and Postfix "client=name[ip], sasl_method=M,
 *               sasl_username=u" (protocol smtp), counted once per SMTP session: the
 *               client= lines of further messages in the same smtpd session (same host
 *               and pid, no "connect from" in between) are not new logins
 *   failed      Dovecot "auth: DRIVER(u,IP): unknown user|Password mismatch|...",
 *               "*-login: Disconnected ... (auth failed, N attempts ...): user=<u>" and
 *               Postfix "SASL M authentication failed: ..., sasl_username=u"
 *
 * Only a successful login creates a user in the login table; a name seen only in failures
 * (what brute forcers try: admin, info, root, ...) lives in the separate failure table and
 * never shows up as a user who logged in.
 *
 * Counting against stored data (logins --update): the caller passes the per (user,
 * protocol) watermark already in the database - the newest stored login time W and how
 * many logins were counted at exactly W. A login of the input counts as new when it is
 * newer than W; of the logins at exactly W only those beyond the stored number are new.
 * So reading the same lines twice (cron on a growing log, overlapping rotated files) never
 * counts twice, and a first import with --rotated counts everything.
 * Limits of the rule (documented in docs/logins.md): lines older than W are taken as
 * already counted (an older rotated file imported after a newer one updates first-seen
 * but not the count), and logins of one user written out of time order across two runs
 * can be missed, never doubled.
 *
 * Memory: one entry per (user, protocol) with a successful login (capped at
 * LOGINS_MAX_USERS) and one per failed user name (capped at LOGINS_MAX_FAIL_NAMES: names
 * are attacker text; further names are dropped and counted). User names longer than
 * LOGINS_USER_MAX bytes are skipped and counted. Owned by the logins object.
 */
#ifndef MW_LOGINS_H
#define MW_LOGINS_H
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "parse/scan.h"
#include "util/hash.h"

#define LOGINS_USER_MAX 512           /* bytes of a user name we keep */
#define LOGINS_PROTO_MAX 16           /* "managesieve" + NUL fits */
#define LOGINS_MAX_USERS 1000000      /* (user, protocol) pairs with successful logins */
#define LOGINS_MAX_FAIL_NAMES 200000  /* distinct user names in failures */

/* Per (user, protocol): what the input says about successful logins. */
struct login_agg {
    int64_t first, last;              /* first and last login time */
    uint64_t n;                       /* logins in the input */
    uint64_t n_new;                   /* of these, newer than the watermark (t > W) */
    uint64_t n_eq;                    /* of these, at exactly W */
    uint64_t n_at_last;               /* logins at exactly `last` */
    struct ipaddr ip;                 /* client of the last login */
    struct ipaddr lip;                /* local address of the last login (hook only) */
};

/* Per user name: the last failed attempt. */
struct fail_agg {
    int64_t first, last;
    struct ipaddr ip;                 /* client of the last failure */
    char proto[LOGINS_PROTO_MAX];     /* "imap", "pop3", "smtp", ... or "" (auth: line) */
};

/* Stored watermark of a (user, protocol). */
struct login_mark {
    int64_t last;
    uint64_t n_at_last;
};

struct logins;
struct logins *logins_new(void);
/*
 * Watermarks (may be empty): key logins_key(user, proto). They are read by the worker
 * threads during the scan: add all of them before scan_run() and none during it.
 */
void logins_set_mark(struct logins *l, struct str user, struct str proto, int64_t last, uint64_t n_at_last);
/* The consumer to pass to scan_run(); global is the logins object. */
struct scan_consumer logins_consumer(struct logins *l);
/* The event kinds it uses (for scan_opts.parse.kinds). */
uint64_t logins_kinds(void);
/* Record one login / failure directly (tests, the guard daemon's live feed). */
void logins_add_login(struct logins *l, struct str user, struct str proto, int64_t t,
                      const struct ipaddr *ip);
void logins_add_failure(struct logins *l, struct str user, struct str proto, int64_t t,
                        const struct ipaddr *ip);

/* Number of new logins of an aggregate against its watermark (see the counting rule). */
uint64_t logins_new_count(const struct logins *l, struct str key, const struct login_agg *a);
/* Key of the (user, protocol) tables: user bytes, NUL, protocol bytes. Returns the length
 * written into buf (cap >= LOGINS_USER_MAX + LOGINS_PROTO_MAX + 1), 0 when it does not fit. */
size_t logins_key(char *buf, size_t cap, struct str user, struct str proto);
/* Split such a key. */
void logins_key_split(struct str key, struct str *user, struct str *proto);

/* The tables after the scan (owned by l): key -> struct login_agg, user -> struct fail_agg. */
const struct hmap *logins_table(const struct logins *l);
const struct hmap *logins_failures(const struct logins *l);
/* Skipped names (too long) and dropped ones (table caps). */
uint64_t logins_skipped(const struct logins *l);
void logins_free(struct logins *l);

/* ---- the report ---- */

/* One user as the report shows it (from the logs or from the database). Strings are owned
 * by whoever built the row set (struct login_rows). */
struct login_row {
    char *user;
    bool logged_in;                   /* false: listed in --users, never logged in */
    int64_t first, last;              /* over all protocols */
    uint64_t count;                   /* over all protocols */
    char proto[LOGINS_PROTO_MAX];     /* protocol of the last login */
    char ip[IPADDR_STRLEN];           /* client of the last login ("" unknown) */
    bool has_fail;
    int64_t fail_t;
    char fail_ip[IPADDR_STRLEN];
    char fail_proto[LOGINS_PROTO_MAX];
    /* per protocol: counts and last login, for JSON */
    struct login_proto { char name[LOGINS_PROTO_MAX]; uint64_t count; int64_t last; } protos[6];
    size_t nprotos;
};

struct login_rows {
    struct login_row *v;
    size_t n, cap;
    struct hmap idx;                  /* user -> size_t index into v */
};

void login_rows_init(struct login_rows *r);
/* Add one (user, protocol) aggregate to the rows (merging protocols of a user). */
void login_rows_add(struct login_rows *r, struct str user, struct str proto, int64_t first,
                    int64_t last, uint64_t count, const char *ip);
/* Find the row of user (NULL when none). */
struct login_row *login_rows_find(struct login_rows *r, struct str user);
/* Set the last failure of a row. */
void login_row_set_fail(struct login_row *row, int64_t t, const char *ip, const char *proto);
/* Build rows from a finished scan (from the logs, no database): the login rows, then
 * (after login_rows_add_listed) login_rows_fails_from_logins for the failures. */
void login_rows_from_logins(struct login_rows *r, const struct logins *l);
void login_rows_fails_from_logins(struct login_rows *r, const struct logins *l);
void login_rows_free(struct login_rows *r);

/*
 * The user list of --users: one user per line (`doveadm user '*'` output); leading and
 * trailing blanks are trimmed, empty lines and lines starting with '#' are skipped, only
 * the first blank-separated word counts. Lines longer than LOGINS_USER_MAX are skipped and
 * counted in *skipped. Names are compared case-insensitively (ASCII). The set owns its keys.
 */
struct user_list {
    struct hmap names;                /* lower-cased name -> size_t index into order */
    char **order;                     /* original spellings, in list order (owned) */
    size_t n, cap;
    uint64_t skipped;
};
void user_list_init(struct user_list *u);
/* Parse a buffer of lines (may be called for several consecutive buffers that end at line
 * boundaries). */
void user_list_parse(struct user_list *u, struct str text);
bool user_list_has(const struct user_list *u, struct str user);
void user_list_free(struct user_list *u);

struct login_filter {
    int64_t now;
    int64_t inactive;                 /* seconds; 0 = off: only users idle at least that long */
    bool never;                       /* only users of the list that never logged in */
    const struct user_list *users;    /* NULL: everyone known; else exactly these users */
};

/* Add a row (logged_in = false) for every listed user that has none. */
void login_rows_add_listed(struct login_rows *r, const struct user_list *u);
/*
 * Apply the filter: drops rows that do not qualify and sorts: never logged in first, then
 * by last login (oldest first), then name.
 */
void login_rows_finish(struct login_rows *r, const struct login_filter *f);
void logins_print_text(FILE *f, const struct login_rows *r, int64_t now);
void logins_print_json(FILE *f, const struct login_rows *r, int64_t now);

/* Write s for a terminal: printable ASCII and valid UTF-8 as is, anything else as \xNN. */
void logins_put_safe(FILE *f, struct str s);

#endif
