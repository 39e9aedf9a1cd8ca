/*
 * failstore - the tracker's failure times kept across restarts and reloads, so an attacker
 * cannot reset his count by waiting for a restart (fail2ban keeps them too). Per (jail, IP)
 * the remembered times (at most maxretry, see tracker.h) go into bandb's guard_failures
 * table: the entries that changed every FAILSTORE_SAVE_SECS (a few upserts per loop turn
 * under attack, nothing when quiet), every entry at stop and before a reload. A crash
 * loses at most FAILSTORE_SAVE_SECS of counting, never a ban.
 *
 * On start, rows whose newest failure is older than findtime are dropped; older times of a
 * row are filtered with the jail's current findtime, addresses the jail now ignores or has
 * banned are skipped, and a jail that no longer exists loses its rows.
 *
 * Ownership: borrows the core and the database. Errors: database errors are logged
 * (rate-limited); counting goes on in memory.
 */
#ifndef MW_FAILSTORE_H
#define MW_FAILSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "guard/bandb.h"
#include "guard/core.h"

#define FAILSTORE_SAVE_SECS 5

/* Load the saved failures into the core's tracker. Returns how many entries. */
size_t failstore_restore(struct core *c, struct bandb *db, int64_t now);
/* Write the entries changed since the last save (all: every entry, replacing the table)
 * and prune expired rows. Call inside a transaction. Returns how many were written. */
size_t failstore_save(struct core *c, struct bandb *db, bool all, int64_t now);
/* A ban made the tracker forget (jail, target): drop its row too. */
void failstore_forget(struct bandb *db, const char *jail, const struct cidr *t);

#endif
