/*
 * jfollow - the journal source of the guard: jails with backend = systemd read the systemd
 * journal (the system journal, or a file / directory of journal files) through sd-journal,
 * each entry turned into a syslog line by parse/journal.c, so the filters, the tracker and
 * the bans are the same code as for followed files (guard/follow.h: the same source contract).
 *
 * Readers: one per (journal, journalmatch); jails with the same pair share it, so an entry
 * is read once however many of them watch it. Each reader's sd-journal fd is in one epoll set
 * whose fd the daemon polls; jfollow_process() acknowledges the wake-ups (sd_journal_process)
 * and delivers every new entry; jfollow_tick() (1 s) does the same for every reader, so a
 * missed notification only delays, and retries journals that could not be opened yet.
 *
 * Position: the cursor of the last delivered entry, saved in the database (bandb cursor
 * table, key "journal:PATH|MATCHES" or "journal:system|MATCHES") in the same transaction as
 * the bans it led to. Start: with a saved cursor whose entry still exists, reading resumes
 * right after it (no entry counted twice, none lost); when the entry is gone (the file was
 * rotated away or vacuumed) a warning is logged and reading starts at the later of the
 * cursor's own time and now - findtime; without a cursor, at now - findtime (the largest
 * findtime of the reader's jails), so a start never rescans the whole journal.
 * Rotation and vacuum while running are sd-journal's business: a directory (or the system
 * journal) is watched with inotify and new files are merged in; a single file opened with
 * journalfiles= is read as it grows but not replaced when rotated (use a directory).
 *
 * Ownership: the set owns its readers and their journals. Errors are logged (rate-limited)
 * and retried; nothing here exits.
 */
#ifndef MW_JFOLLOW_H
#define MW_JFOLLOW_H
#include <stddef.h>
#include <stdint.h>
#include "util/str.h"
#include "guard/bandb.h"
#include "guard/jailconf.h"

struct jfollow;

/* One entry as a syslog line (borrowed, valid during the call) for the jails listed. */
typedef void (*jfollow_line_fn)(void *ud, const int *jails, size_t njails, struct str line);

struct jfollow *jfollow_new(jfollow_line_fn cb, void *ud);
void jfollow_free(struct jfollow *jf);
/* Jail number `jail` (core index) with backend = systemd reads through this set. */
void jfollow_add_jail(struct jfollow *jf, int jail, const struct jail_conf *jc);
/* Open the journals and position them (saved cursors from db, which may be NULL). */
void jfollow_start(struct jfollow *jf, struct bandb *db, int64_t now);
/* The fd to poll (readable: call jfollow_process); -1 when there is no reader. */
int jfollow_fd(const struct jfollow *jf);
void jfollow_process(struct jfollow *jf, int64_t now);
void jfollow_tick(struct jfollow *jf, int64_t now);
/* Write the cursors that changed since the last save; before(ud) is called once before the
 * first write (the daemon opens its transaction there). */
void jfollow_save(struct jfollow *jf, struct bandb *db, int64_t now, void (*before)(void *ud), void *ud);
size_t jfollow_count(const struct jfollow *jf);
/* Entries delivered so far (all readers). */
uint64_t jfollow_entries(const struct jfollow *jf);
/* The database key of a journal source (malloc'd, caller frees). */
char *jfollow_key(const char *path, char *const *jmatch);

#endif
