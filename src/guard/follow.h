/*
 * follow - the file source of the guard: log files followed with inotify, surviving every
 * logrotate mode and restarts, each file read once however many jails watch it.
 *
 * Source contract (shared with the journal source of the follow-up issue): a source has
 * one pollable fd for the daemon's epoll loop, a process() call that delivers every complete
 * new line to a callback (borrowed slice, valid during the call), a periodic tick, and a
 * position to persist (for files: device, inode, offset, hash of the first line; for the
 * journal: a cursor) that is written in the same transaction as the bans it led to.
 *
 * Rotation (all checked on every inotify wake-up of the file's directory and on a 1 s tick,
 * so a missed event only delays):
 *   rename + create      the path names a new inode: the old file is drained to its end and
 *                        kept open for `grace` seconds, read whenever it grows (daemons
 *                        write to it until they reopen), then its unterminated last line is
 *                        delivered and it is closed; the new file is read from offset 0
 *   delete + recreate    the same (the deleted inode stays readable through our fd)
 *   copytruncate         same inode, size below our offset, or the first line's hash
 *                        changed (truncated and regrown past our offset between two looks):
 *                        read again from 0
 * Lines: split at '\n'; '\r' before it removed; a line longer than FOLLOW_MAX_LINE is cut
 * (counted) and the rest up to the next '\n' skipped; an unterminated last line is kept
 * until its '\n' arrives (or the file is closed after rotation). The saved offset is always
 * at a line start.
 *
 * Start: with a saved position whose inode, hash and size agree, reading resumes there.
 * When the path now names another inode, a sibling in the same directory with the saved
 * inode (mail.log.1, mail.log-20261122) is read from the saved offset first. Otherwise
 * reading starts `back` seconds before now (the largest findtime of the jails watching the
 * file): found by a backward scan of line timestamps, reading at most FOLLOW_MAX_READBACK
 * bytes, so a restart never rescans gigabytes.
 *
 * Ownership: the follow set owns its files; ffile pointers stay valid until follow_free().
 * Errors: files that cannot be opened are retried on every tick (warning once); read errors
 * are logged (rate-limited) and retried. Nothing here exits.
 */
#ifndef MW_FOLLOW_H
#define MW_FOLLOW_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"
#include "guard/bandb.h"

#define FOLLOW_MAX_LINE (64 * 1024)
#define FOLLOW_MAX_READBACK (256LL << 20)
#define FOLLOW_DEFAULT_GRACE 60

struct follow;
struct ffile;

typedef void (*follow_line_fn)(void *ud, struct ffile *f, struct str line);

struct follow *follow_new(follow_line_fn cb, void *ud);
void follow_free(struct follow *fw);
/* The inotify fd to poll (readable: call follow_process). */
int follow_fd(const struct follow *fw);
void follow_set_grace(struct follow *fw, int seconds);

/*
 * Add a file (the same path twice returns the same ffile). saved: the persisted position,
 * or NULL; back: seconds to read back when there is no usable position (0 = start at the
 * end). now: current time. The file is opened and positioned now; nothing is read until
 * follow_process/follow_tick.
 */
struct ffile *follow_add(struct follow *fw, const char *path, const struct logpos *saved, int64_t back, int64_t now);
/* Drain inotify events and read what is new in the files concerned. */
void follow_process(struct follow *fw, int64_t now);
/* Look at every file (missed events, old files past their grace, files that appeared). */
void follow_tick(struct follow *fw, int64_t now);

const char *ffile_path(const struct ffile *f);
void ffile_set_user(struct ffile *f, void *user);
void *ffile_user(const struct ffile *f);
/* The position to persist; returns true (and clears the flag) when it changed since the
 * last call. */
bool ffile_pos(struct ffile *f, struct logpos *out);
uint64_t ffile_lines(const struct ffile *f);
uint64_t ffile_cut_lines(const struct ffile *f);
size_t follow_count(const struct follow *fw);
struct ffile *follow_get(const struct follow *fw, size_t i);

/* Offset of the first line at or after `cutoff` (timestamps read with syslog_parse, ref =
 * now), scanning backward from the end of fd (size bytes) at most `maxback` bytes. Exposed
 * for tests. */
uint64_t follow_readback_offset(int fd, uint64_t size, int64_t cutoff, int64_t now, int64_t maxback);
/* Hash of the first line of fd (0 when it has no complete first line yet). */
uint64_t follow_first_line_hash(int fd);

#endif
