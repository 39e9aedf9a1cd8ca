/*
 * journal - the systemd journal as a line source (libsystemd sd-journal).
 *
 * Each entry becomes a syslog line in RFC 3339 form with microseconds:
 *   "2026-11-22T21:12:13.123456+00:00 HOST IDENT[PID]: MESSAGE"
 * from __REALTIME_TIMESTAMP, _HOSTNAME, SYSLOG_IDENTIFIER (else _COMM), _PID (else
 * SYSLOG_PID) and MESSAGE, so everything after the source (parsers, reports, jails) is the
 * same code as for text logs, and gives the same results on the same messages. Control
 * characters in MESSAGE are written as "#NNN" octal, as rsyslog does.
 *
 * Sources: the local system journal, or files / a directory of journal files (copied from
 * another host). Matches use journalctl's syntax: "FIELD=value" terms, "+" for OR.
 * Ownership: journal_next()'s line lives in the source's buffer until the next call.
 */
#ifndef MW_JOURNAL_H
#define MW_JOURNAL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

struct jsource;

/* path NULL: the local system journal; else a journal file or a directory of them.
 * matches: NULL-terminated list (may be NULL). since: epoch seconds or INT64_MIN.
 * NULL on failure with a message in err. */
struct jsource *journal_open(const char *path, const char *const *matches, int64_t since,
                             char *err, size_t errlen);
/* 1: *line is the next entry as a syslog line; 0: end; -1: error (message in err). */
int journal_next(struct jsource *j, struct str *line, char *err, size_t errlen);
/* Cursor of the current entry (malloc'd, caller frees), or NULL. */
char *journal_cursor(struct jsource *j);
/* Continue after the entry with this cursor. 0 or -1. */
int journal_seek_cursor(struct jsource *j, const char *cursor);
void journal_close(struct jsource *j);

/* ---- following (the guard's journal source, guard/jfollow.h) ---- */
/* The fd to poll for changes (sd_journal_get_fd), or -1 with a message in err. */
int journal_fd(struct jsource *j, char *err, size_t errlen);
/* Acknowledge a wake-up of the fd (sd_journal_process): <0 error, else an SD_JOURNAL_* value. */
int journal_process(struct jsource *j);
/* Realtime (microseconds since the epoch) of the entry journal_next() returned last. */
uint64_t journal_usec(const struct jsource *j);
/* Resume after the entry of cursor: 1 the entry exists (the next journal_next() returns
 * the one after it), 0 it no longer exists (vacuumed or rotated away: the position is
 * unspecified, seek elsewhere), -1 error. */
int journal_resume(struct jsource *j, const char *cursor);
/* Continue at the first entry at or after usec (microseconds since the epoch). 0 or -1. */
int journal_seek_usec(struct jsource *j, uint64_t usec);
/* Realtime (microseconds) recorded in a cursor string ("...;t=HEX;..."), or 0. */
uint64_t journal_cursor_usec(const char *cursor);
/* Whether this build has journal support. */
bool journal_available(void);

#endif
