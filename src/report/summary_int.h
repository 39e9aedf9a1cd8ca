/*
 * summary_int - the figures of `mailwarden summary` as the three printers (text, JSON, HTML)
 * and the consumer (summary.c) share them. Internal to src/report/summary*.c and the unit
 * test; everything else uses summary.h.
 *
 * Ownership: a struct sm_stats owns its maps (keys and values inline, see util/hash.h);
 * sm_stats_free() releases them. Nested pflogsumm tables ("deferred{cmd}{reason}") are flat
 * maps whose key is the path joined with SM_SEP and whose value is an int64_t count.
 */
#ifndef MW_SUMMARY_INT_H
#define MW_SUMMARY_INT_H
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include "report/summary.h"
#include "util/hash.h"
#include "util/arena.h"

#define SM_SEP '\x1f'        /* joins the levels of a nested table key */
#define SM_TABLE_MAX 200000  /* distinct keys per table (attacker-growable); then "(other)" */

/* Per-hour / per-day columns, pflogsumm's order. */
enum { COL_RCVD, COL_DLVD, COL_DFRD, COL_BNCD, COL_RJCT, COL_MAX };

/* Nested and flat count tables: value int64_t. */
enum sm_table {
    /* pflogsumm's detail sections */
    NT_DEFER,        /* cmd / reason */
    NT_BOUNCE,       /* relay / reason */
    NT_REJECT,       /* type / reason / data */
    NT_WARN,         /* reject warnings: type / reason / data */
    NT_HOLD, NT_DISCARD,
    NT_SMTP,         /* smtp delivery failures: reason / host */
    NT_WARNING,      /* Warnings: cmd / text */
    NT_FATAL, NT_PANIC,
    NT_MASTER,       /* master daemon message */
    /* beyond pflogsumm */
    NT_EXPIRED,      /* sender of expired messages */
    NT_DV_LOGIN,     /* proto / user */
    NT_DV_LOGIN_IP,  /* client IP of successful logins */
    NT_DV_FAIL_IP,   /* proto / IP: failed login attempts */
    NT_DV_AUTH_USER, /* auth: failure lines by user */
    NT_DV_AUTH_IP,   /* auth: failure lines by IP */
    NT_DV_LMTP_USER, /* LMTP/LDA deliveries by user */
    NT_SASL_OK_USER, NT_SASL_OK_IP,
    NT_SASL_FAIL_IP, NT_SASL_FAIL_USER, NT_SASL_FAIL_METHOD,
    NT_TLS,          /* service / protocol */
    NT_PS,           /* postscreen event -> count */
    NT_PS_IP,        /* postscreen: IPs that failed a test or were rejected */
    NT_MAX
};

struct sm_ucnt { int64_t cnt, size; };                       /* senders, recipients, sender domains */
struct sm_rdom { int64_t cnt, size, defers; double dly_sum, dly_max; }; /* recipient domains */
struct sm_conn { int64_t cnt, secs, max; };                  /* smtpd connection time */
struct sm_day  { int64_t v[COL_MAX]; struct sm_conn conn; int64_t expired, pflines; };
struct sm_host { int64_t v[COL_MAX]; int64_t lines, expired; };

/* Everything that adds up: a chunk's figures and the global ones have this shape. */
struct sm_stats {
    int64_t rcvd, dlvrd, fwdd, dfrd, dfrd_cnt, bncd, rjctd, wrnd, hld, dscrdd;
    int64_t size_rcvd, size_dlvrd, expired;
    int64_t filter_hops, reinjected;          /* content-filter round trips seen / not re-counted */
    int64_t hour[24][COL_MAX];
    struct sm_conn hconn[24];
    int64_t smtpd_conn, smtpd_secs;
    /* beyond pflogsumm */
    int64_t smtpd_connects, smtpd_connects_v6, smtpd_tls;   /* "connect from" lines; TLS sessions */
    int64_t dv_logins, dv_login_fail_sessions, dv_login_fail_attempts, dv_no_auth;
    int64_t dv_auth_fail, dv_lmtp_ok, dv_lmtp_fail;
    int64_t sasl_ok, sasl_fail;
    int64_t ps_connect, ps_reject, ps_pass_new, ps_pass_old, ps_allow;  /* the frequent postscreen events; folded into t[NT_PS] by summary_finish() */
    struct hmap days;          /* int32 yyyymmdd -> struct sm_day */
    struct hmap recip_dom;     /* -> struct sm_rdom */
    struct hmap sendg_dom, recip_user, sendg_user;  /* -> struct sm_ucnt */
    struct hmap smtpd_dom;     /* -> struct sm_conn */
    struct hmap hosts;         /* syslog host -> struct sm_host (--by-host) */
    struct hmap nosize;        /* qid -> struct sm_nosize */
    struct hmap t[NT_MAX];     /* -> int64_t */
    int64_t overflow;          /* keys not stored because a table was full */
};

struct sm_nosize { uint16_t len; char addr[254]; };

/* ar: the arena the maps' nodes come from (a chunk's), NULL for malloc'd nodes */
void sm_stats_init(struct sm_stats *s, struct arena *ar);
void sm_stats_free(struct sm_stats *s);
void sm_stats_clear(struct sm_stats *s);   /* every figure 0; the maps keep their tables */

struct summary {
    struct summary_opts o;
    struct sm_stats g;         /* the figures */
    /* order-dependent state, global (see summary.c) */
    struct hmap qids;          /* qid -> struct qstate */
    struct hmap conns;         /* host|pid -> struct openconn */
    struct hmap intern;        /* string -> struct str (arena copy) */
    struct hmap reinj;         /* qid -> int64_t time: announced by a content filter's "queued as" */
    struct arena arena;
    int64_t last_t, sweep_at;
    /* merged chunks, emptied, for the next ones: their arenas and tables are refilled
     * without page faults or rehashing; chunk_new runs on worker threads */
    pthread_mutex_t pool_mu;
    void *pool[8];
    int npool;
    /* filled by summary_finish() */
    int64_t ndays;             /* distinct days with Postfix lines (pflogsumm's dayCnt) */
    uint64_t lines, bytes, unparsed, cut_lines, files, files_failed;
    int64_t first_t, last_tt;
    bool finished;
};

/* One row of a sorted table. */
struct sm_row { struct str key; int64_t n; const void *val; };

/* Rows of a map sorted for display. The array is malloc'd (caller frees); keys point into
 * the map. */
enum sm_sort {
    SORT_CNT_HOST,   /* count desc, then pflogsumm's normalize_host(key) asc, then key */
    SORT_CNT_SIZE,   /* (cnt, size) desc, then key; val is sm_ucnt/sm_rdom */
    SORT_SIZE_HOST,  /* size desc, then normalize_host; val is sm_ucnt */
    SORT_KEY,        /* key asc (bytes) */
};
struct sm_row *sm_rows(const struct hmap *m, enum sm_sort how, size_t *n);
/* A nested table's keys sorted by bytes, so that the keys under a prefix are one run: the
 * printers ask for the children of every inner node, and a walk over the whole table per
 * node was quadratic. Built from an unchanging map; keys point into it. */
struct sm_nest { size_t n; struct sm_nkv { struct str k; int64_t v; } *e; };
void sm_nest_init(struct sm_nest *x, const struct hmap *m);
/* The prefix of a row's children: prefix, the row's key (at most 2000 bytes) and SM_SEP,
 * written into buf, which holds SM_CHILD_CAP(prefix) bytes (the printers' walks allocate it). */
#define SM_CHILD_CAP(prefix) ((prefix).len + 2001)
struct str sm_child_prefix(char *buf, struct str prefix, struct str key);
void sm_nest_free(struct sm_nest *x);
/* Rows of the direct children of `prefix` (a path of a nested table, ending in SM_SEP, or
 * empty for the top level), with counts summed over their subtrees, sorted by key. */
struct sm_row *sm_children(const struct sm_nest *x, struct str prefix, size_t *n, bool *leaf);

/* pflogsumm's helpers, exposed for the unit test. out must hold at least in.len + 4 bytes
 * (gimme_domain: in.len + 1). They return a slice of in or of out. */
struct str pfs_gimme_domain(struct str in, char *out);
struct str pfs_said_trim(struct str in, size_t maxlen, char *out);
struct str pfs_string_trim(struct str in, size_t maxlen, bool verbose, char *out);
/* proc_smtpd_reject's reason and data: type (RCPT, MAIL ...), reason and key for the
 * detail table. Returns false when the line does not have pflogsumm's reject shape (then
 * only the counters apply). */
struct pfs_reject { struct str type, reason, data; };
bool pfs_reject_detail(struct str logrmdr, bool verbose, bool icase, char *buf, size_t cap,
                       struct pfs_reject *r);
/* normalize_host() for sorting: into out (cap bytes), returns the length. */
size_t pfs_normalize_host(struct str key, char *out, size_t cap);
/* adj_int_units: value and unit (' ', 'k', 'm'). */
void pfs_int_units(double v, int64_t *out, char *unit);

/* memcpy/memmove that accept (NULL, 0): slices may be empty with a NULL pointer. */
static inline void sm_copy(void *d, const void *s, size_t n) { if (n) memcpy(d, s, n); }
static inline void sm_move(void *d, const void *s, size_t n) { if (n) memmove(d, s, n); }

/* Day key yyyymmdd helpers. */
static inline int sm_day_year(int32_t k) { return k / 10000; }
static inline int sm_day_mon(int32_t k) { return k / 100 % 100; }
static inline int sm_day_mday(int32_t k) { return k % 100; }

#endif
