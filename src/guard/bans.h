/*
 * bans - the active bans of every jail and the timer that lifts them, plus the bantime rule
 * (bantime.increment with factor, multipliers or fail2ban's default formula, rndtime,
 * maxtime). Part of the ban-decision layer: no I/O here; the daemon turns what changes into
 * firewall operations and database rows, `simulate` prints it.
 *
 * A ban is keyed by (jail id, CIDR): a single address is a /32 or /128, so prefix bans (the
 * follow-up issue) use the same table. A prefix ban (guard/prefix.h) carries the members that
 * caused it, in an array the ban owns. Lifting is driven by a binary min-heap on the end
 * time (O(log n) per ban/unban, no scan of all bans); permanent bans (bantime -1) are not in
 * the heap.
 *
 * Ownership: the table owns its bans; pointers returned stay valid until that ban is removed
 * (hash nodes never move). Cap: at most `cap` active bans (bans_add fails beyond it, the
 * caller warns; an attacker needs maxretry failures per address to get here).
 */
#ifndef MW_BANS_H
#define MW_BANS_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/ipaddr.h"
#include "util/hash.h"

#define BANS_DEFAULT_CAP 1000000
#define BAN_PERMANENT INT64_MAX     /* end time of a permanent ban */

struct ban {
    uint16_t jail;
    struct cidr target;
    int64_t start, end;            /* end == BAN_PERMANENT for bantime -1 */
    int64_t bantime;               /* seconds, -1 permanent */
    uint32_t failures;
    uint32_t count;                /* number of earlier bans of this target (increment) */
    uint32_t heap_idx;             /* position in the heap + 1; 0 = not in the heap */
    uint8_t nmembers;              /* prefix ban: the member bans that caused it */
    struct cidr *members;          /* owned by the ban (bans_set_members), NULL when none */
};

#define BAN_MAXMEMBERS 64

struct bans {
    struct hmap map;               /* key (jail, family, prefix, addr) -> struct ban */
    struct ban **heap;
    size_t nheap, capheap, cap;
};

void bans_init(struct bans *b, size_t cap);
void bans_free(struct bans *b);
/* Add (or replace) a ban; NULL when the cap is reached. */
struct ban *bans_add(struct bans *b, uint16_t jail, const struct cidr *target, int64_t start,
                     int64_t bantime, uint32_t failures, uint32_t count);
struct ban *bans_find(const struct bans *b, uint16_t jail, const struct cidr *target);
/* Give a ban the members that caused it (copied; replaces earlier ones; n capped at
 * BAN_MAXMEMBERS). */
void bans_set_members(struct ban *x, const struct cidr *m, size_t n);
/* Remove the ban (the pointer is invalid afterwards). */
void bans_remove(struct bans *b, struct ban *x);
/* The ban that ends first, if it ends at or before now (pop it with bans_remove). */
struct ban *bans_due(const struct bans *b, int64_t now);
/* Seconds until the next end (INT64_MAX when none). */
int64_t bans_next_end(const struct bans *b);
static inline size_t bans_count(const struct bans *b) { return hmap_count(&b->map); }
/* Iterate: size_t it = 0; struct ban *x; while ((x = bans_next(b, &it))) ... */
struct ban *bans_next(const struct bans *b, size_t *it);
size_t bans_jail_count(const struct bans *b, uint16_t jail);

/* bantime.* of a jail */
struct bantime_rule {
    int64_t bantime;               /* base, seconds; -1 permanent */
    bool increment;
    double factor;                 /* default 1 */
    uint32_t mult[32];             /* bantime.multipliers (0 = not given) */
    size_t nmult;
    int64_t maxtime;               /* 0 = none */
    int64_t rndtime;               /* 0 = none */
    bool overalljails;             /* count earlier bans in every jail */
};
/*
 * The ban time for a target banned `count` times before (fail2ban's observer): without
 * increment the base; with it base * factor * multipliers[min(count, n-1)] or, without
 * multipliers, base * 2^min(count, 20) * factor; plus a random 0..rndtime; at most maxtime.
 * rnd01 is a random number in [0, 1) (tests pass a fixed one).
 */
int64_t bantime_calc(const struct bantime_rule *r, uint32_t count, double rnd01);

#endif
