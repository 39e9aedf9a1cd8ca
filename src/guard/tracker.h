/*
 * tracker - failure counting for the guard: per (jail, IP) only the last `maxretry` failure
 * times, so memory per tracked entry is bounded by design and a flood of forged sources
 * cannot exhaust memory.
 *
 * Layout: one pool per jail and address family, entries of a fixed stride chosen from that
 * jail's maxretry:
 *   12 bytes header (LRU prev/next 8, count 1, ring head 1, changed flag 1, pad 1)
 *   + the address: 4 bytes in the IPv4 pool, 16 in the IPv6 pool
 *   + 4 bytes per remembered failure time (seconds, uint32: good until 2106)
 * plus the pool's open-addressing index (uint32 slots, kept between 35 % and 70 % full: on
 * average ~8 bytes per entry). With fail2ban's default maxretry 5 that is 36 + ~8 = ~44 bytes
 * per tracked (jail, IPv4) entry and 48 + ~8 = ~56 per (jail, IPv6) entry. maxretry is capped
 * at TRK_MAXRETRY.
 *
 * Cap and eviction: the total number of entries over all jails is capped (default
 * TRK_DEFAULT_CAP). Inserting beyond the cap evicts the stalest entry of all jails (the LRU
 * head whose newest failure is the oldest; one comparison per jail). Entries whose newest
 * failure is older than findtime are dropped by tracker_expire() (amortised O(dropped), from
 * the LRU head). The index is keyed with a per-process random seed, so an attacker choosing
 * source addresses cannot aim for collisions.
 *
 * IPv4-mapped IPv6 is IPv4 already (util/ipaddr.h parses it so); IPv6 addresses count one
 * by one (prefix counting comes with the follow-up issue: the key is address + family, so a
 * masked address can be passed in).
 *
 * Ownership: the tracker owns its pools; nothing is borrowed. Not thread-safe.
 * Errors: none at run time (allocation failure aborts via xalloc).
 */
#ifndef MW_TRACKER_H
#define MW_TRACKER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/ipaddr.h"

#define TRK_MAXRETRY 255
#define TRK_MAXJAILS 255
#define TRK_DEFAULT_CAP 100000

struct tracker;

struct tracker *tracker_new(size_t cap);
void tracker_free(struct tracker *t);
/* Add a jail; returns its id (0..), or -1 when TRK_MAXJAILS are there. maxretry 1..255. */
int tracker_add_jail(struct tracker *t, unsigned maxretry, int64_t findtime);
void tracker_set_cap(struct tracker *t, size_t cap);

/*
 * Record n failures (n >= 1; more than maxretry count as maxretry) of ip in jail at time
 * `when`. Returns the number of remembered failures inside [when - findtime, when]; when
 * that reaches maxretry the caller bans, and should tracker_forget() the entry.
 */
unsigned tracker_fail(struct tracker *t, int jail, const struct ipaddr *ip, int64_t when, unsigned n);
/* Failures remembered for (jail, ip) within findtime of `now` (0 when not tracked). */
unsigned tracker_count(const struct tracker *t, int jail, const struct ipaddr *ip, int64_t now);
void tracker_forget(struct tracker *t, int jail, const struct ipaddr *ip);
/* Drop entries whose newest failure is older than now - findtime. Returns how many. */
size_t tracker_expire(struct tracker *t, int64_t now);
/* Drop every entry of one jail (config reload). */
void tracker_clear_jail(struct tracker *t, int jail);

size_t tracker_jail_count(const struct tracker *t, int jail);   /* "Currently failed" */
size_t tracker_total(const struct tracker *t);
uint64_t tracker_evictions(const struct tracker *t);
/* Bytes allocated for all pools' entries and indexes (for documentation and tests). */
size_t tracker_bytes(const struct tracker *t);
size_t tracker_stride(const struct tracker *t, int jail, int family);

/*
 * Visit the entries (dirty_only: those that got a failure since their last visit), jail by
 * jail, IPv4 before IPv6, stalest first within each, with their remembered failure times
 * oldest first; clears the changed flags. The daemon persists failure counts with it, so a
 * restart does not reset them.
 */
typedef void (*tracker_visit_fn)(void *ud, int jail, const struct ipaddr *ip, const uint32_t *times, unsigned n);
size_t tracker_visit(struct tracker *t, bool dirty_only, tracker_visit_fn fn, void *ud);

#endif
