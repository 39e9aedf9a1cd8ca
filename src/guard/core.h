/*
 * core - the ban-decision layer shared by the daemon (`mailwarden guard`) and `simulate`:
 * line -> parsed event (once per line) -> each watching jail's filter -> ignore list ->
 * tracker -> ban decision (bantime rule with the ban history) -> active bans with their
 * timer. It never touches the firewall, the database or the clock: effects go out through
 * callbacks (the daemon writes the ban and queues firewall operations; simulate prints),
 * history comes in through one, and every entry point takes `now`. That keeps it testable
 * from text and lets the follow-up issue split the firewall into a privileged helper.
 *
 * Time: a failure's time is its line's timestamp (the filter's hit time); a failure older
 * than now - findtime is ignored. A line without a usable timestamp, or one more than a day
 * in the future, counts at `now`. Bans start at `now` (simulate passes the line's time).
 *
 * Prefix escalation (jail option prefix.escalate): when prefix.count distinct members of a
 * /prefix.ipv4 (IPv6: /prefix.ipv6) network were banned in a jail within prefix.window, the
 * jail bans the network. A ban of a network takes over the narrower bans of the same jail
 * inside it (they end with how "prefix"; the network's ban lasts at least as long as the
 * longest of them), and no narrower ban is made while it lasts: firewall interval sets
 * refuse overlapping elements, and the admin sees one ban per network. The members that
 * caused it stay with the ban (struct ban.members) for `status`.
 * With ipv6_prefix = N an IPv6 failure counts for its /N network, which is what is banned.
 *
 * recidive (filter mailwarden-recidive): every ban made in another jail is a failure of
 * its target in each recidive jail; maxretry of them within findtime ban the target there
 * (on all the jail's ports, for its bantime). The count comes from the ban history
 * (callback `recent`, the database in the daemon), else from the in-memory tracker.
 *
 * Ownership: the core borrows the guard_conf (it must outlive the core) and owns its
 * filters, tracker and bans. Not thread-safe.
 */
#ifndef MW_CORE_H
#define MW_CORE_H
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "guard/jailconf.h"
#include "guard/tracker.h"
#include "guard/bans.h"
#include "guard/jailfilter.h"
#include "parse/event.h"

struct gjail {
    const struct jail_conf *c;
    int id;
    struct jfilter *filter;
    uint64_t total_failed, total_banned;
    uint32_t nwide;             /* active bans of a network (not one address): new bans
                                   check whether one covers them */
    uint32_t nlen4[33], nlen6[129];  /* ... per prefix length, so only those are looked up */
    uint64_t lines, total_ignored;  /* lines fed to the jail; failures of ignored addresses */
};

struct core;

struct core_cb {
    void *ud;
    /* a new ban (already in core's table) */
    void (*on_ban)(void *ud, struct gjail *j, const struct ban *b);
    /* a ban ends ("expired", "unban", ...), called before it is removed */
    void (*on_unban)(void *ud, struct gjail *j, const struct ban *b, const char *how);
    /* earlier bans of t (in jail j, or in every jail when overall); NULL = none */
    long (*history)(void *ud, const struct gjail *j, const struct cidr *t, bool overall);
    /* recidive: bans of t in every jail but j that started at or after `since` (the ban
     * just made included); -1 or NULL = unknown: the core counts in memory instead */
    long (*recent)(void *ud, const struct gjail *j, const struct cidr *t, int64_t since);
    /* optional: a line no parser models (EV_UNPARSED: program empty; EV_OTHER), for metrics */
    void (*on_unparsed)(void *ud, struct str program);
};

/* NULL with a message when a jail's filter cannot be set up. */
struct core *core_new(const struct guard_conf *conf, const struct core_cb *cb, char *err, size_t errlen);
void core_free(struct core *c);

size_t core_njails(const struct core *c);
struct gjail *core_jail(struct core *c, size_t i);
struct gjail *core_jail_by_name(struct core *c, const char *name);
struct tracker *core_tracker(struct core *c);
struct bans *core_bans(struct core *c);

/* One raw line, for the jails listed (indices; NULL/0 = every jail). */
void core_line(struct core *c, const int *jails, size_t njails, struct str line, int64_t now);
/* Replay (simulate): like core_line, but `now` is the line's own time (the last good one
 * when it has none); ref is the reference for year-less stamps. Bans due by then are
 * lifted first. */
void core_line_replay(struct core *c, const int *jails, size_t njails, struct str line, int64_t ref);
/* One failure of ip in jail j at time t (after filtering). Returns true when it banned. */
bool core_failure(struct core *c, struct gjail *j, const struct ipaddr *ip, int64_t t, unsigned n, int64_t now);
/* Lift every ban due at now; drop stale tracker entries. */
void core_expire(struct core *c, int64_t now);
/* Ban by hand (`ban JAIL IP`); bantime < 0 uses the jail's rule. Returns the ban or NULL
 * when the cap is reached. */
const struct ban *core_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures);
/* Restore a ban from the database or a reload (no callback); members: what caused a
 * prefix ban (NULL/0 none). */
void core_restore(struct core *c, struct gjail *j, const struct cidr *t, int64_t start, int64_t bantime,
                  uint32_t failures, uint32_t count, const struct cidr *members, size_t nmembers);
/* Unban target in jail j (NULL = every jail). Returns how many bans ended. */
size_t core_unban(struct core *c, struct gjail *j, const struct cidr *t, const char *how);
/* Is ip ignored by jail j (ignoreip/ignoreself)? */
bool core_ignored(const struct gjail *j, const struct ipaddr *ip);
/* Does network t hold (or lie in) an address jail j ignores? */
bool core_ignored_net(const struct gjail *j, const struct cidr *t);
/* The target a failure of ip counts for and is banned as in jail j: the address, or its
 * /ipv6_prefix network for IPv6 when the jail counts per prefix. */
struct cidr core_fail_target(const struct gjail *j, const struct ipaddr *ip);
/* Groups of member bans per network (prefix escalation state; for tests and status). */
size_t core_prefix_groups(const struct core *c);

uint64_t core_lines(const struct core *c);

/* `explain`: print how the line is parsed and what each jail makes of it. */
void core_explain(struct core *c, struct str line, int64_t now, FILE *out);

#endif
