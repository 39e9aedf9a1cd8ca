/*
 * prefix - what prefix escalation (jail options prefix.*) needs to know about the bans of a
 * jail, grouped by network: per (jail, prefix P of length plen)
 *   - the recent member bans: the last `need` distinct member targets (addresses or
 *     networks longer than plen) with the time each was banned, so that "K distinct
 *     members of P banned within the window" is one lookup;
 *   - the active member bans: every target inside P that is banned now, so that a prefix
 *     ban can take them over (nftables interval sets refuse overlapping elements, and one
 *     ban per network is what an admin wants to see) without scanning every ban.
 * Part of the ban-decision layer (no I/O, no clock: times come in).
 *
 * Bounds: a group exists only while it has an active member or a recent one inside its
 * window; every member is a ban, so groups and members are bounded by the ban cap (maxbans).
 * `need` is at most PFX_MAXNEED. pfx_sweep() drops groups whose window has passed and that
 * have no active member (O(groups), called about once a minute by the core).
 *
 * Ownership: the table owns its groups and their arrays. Not thread-safe.
 */
#ifndef MW_PREFIX_H
#define MW_PREFIX_H
#include <stddef.h>
#include <stdint.h>
#include "util/ipaddr.h"
#include "util/hash.h"

#define PFX_MAXNEED 64

struct pfxtab {
    struct hmap map;            /* (jail, family, plen, P) -> struct pgroup */
};

void pfx_init(struct pfxtab *p);
void pfx_free(struct pfxtab *p);
/* The prefix of length plen that holds target m. */
struct cidr pfx_of(const struct cidr *m, unsigned plen);

/* A new ban of member m in jail at time t: record it as recent (distinct; an address
 * banned again only moves its time) and as active. Returns how many distinct members were
 * banned within [t - window, t] (m included); their targets go to out (at most max, oldest
 * first). */
size_t pfx_member_ban(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen, unsigned need,
                      int64_t t, int64_t window, struct cidr *out, size_t max);
/* Restore (start, reload): active, and recent when banned within the window. */
void pfx_member_restore(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen, unsigned need,
                        int64_t t, int64_t window);
/* A member's ban ended. */
void pfx_member_end(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen);
/* The active members of P (a copy the caller frees; *n their count). */
struct cidr *pfx_active(const struct pfxtab *p, uint16_t jail, const struct cidr *P, size_t *n);
/* P was banned: forget its recent members (a later escalation starts counting afresh). */
void pfx_reset_recent(struct pfxtab *p, uint16_t jail, const struct cidr *P);
/* Drop groups with nothing active whose window ended before now. Returns how many. */
size_t pfx_sweep(struct pfxtab *p, int64_t now);
static inline size_t pfx_groups(const struct pfxtab *p) { return hmap_count(&p->map); }

#endif
