/*
 * scan - one pass over the inputs of a report command: sources -> lines -> events -> a
 * consumer. The same driver serves every report (offenders, summary, trace, logins), so
 * input handling (files, stdin, compression, rotated families, --since/--until, --last,
 * year reference, unparsed-line accounting, progress) is written once.
 *
 * Parallelism: a plain file is cut into 4 MiB byte ranges; worker threads pread() a range
 * (into recycled buffers, so no page faults and no RSS growth with the file size) and turn the
 * lines that start in it into a per-chunk state (consumer->chunk_new + feed); the main thread
 * merges chunk states strictly in input order (consumer->merge), so a consumer can keep
 * order-dependent state (sessions, queue IDs spanning chunks) in its merge step. At most
 * 2 x threads chunk states exist at once, so memory does not grow with the input size.
 * Line slices (and every slice in an event) are valid until the chunk's merge returns:
 * copy what must live longer.
 * Events of kinds outside parse.kinds (when set) are not fed, and their time is not computed.
 * Streams (stdin, compressed) are read by one thread and fed in batches of lines, each
 * batch its own chunk state.
 */
#ifndef MW_SCAN_H
#define MW_SCAN_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "parse/event.h"
#include "util/hash.h"

struct scan_consumer {
    /* New per-chunk state (called on a worker thread). */
    void *(*chunk_new)(void *global);
    /* One event of the chunk, in input order within the chunk. `line` is the raw line. */
    void (*feed)(void *chunk, const struct event *ev, struct str line);
    /* Merge a chunk into the global state, chunks in input order; frees the chunk state. */
    void (*merge)(void *global, void *chunk);
    /* Optional: prefilter on the raw line; return false to skip parsing it entirely
     * (used by trace to look only at lines holding the searched text). */
    bool (*want_line)(void *global, struct str line);
    void *global;
    /* Optional: prefilter after the syslog envelope (h is parsed lazily: time not computed);
     * return false to skip the line before its message is parsed (the bulk of the cost per
     * line). Such lines are neither fed nor counted in scan_stats.other_progs, so callers
     * that print the stats leave it unset. */
    bool (*want_msg)(void *global, const struct syslog_hdr *h);
    /* Optional, for searches (trace). With a plain file, the driver asks find() for the
     * first place in [p, end) where a wanted line may be (NULL: none there), continues at
     * the start of the line holding it and skips everything before it: skipped lines are
     * neither parsed nor counted in scan_stats.lines. The line found still goes through
     * want_line. off is the file offset of p; [p, end) holds whole lines in a read buffer
     * that is reused, so compare positions as offsets, never as pointers. chunk is the
     * state from chunk_new; calls for one chunk come with increasing offsets. Streams are
     * read line by line and never call find. */
    const char *(*find)(void *chunk, const char *p, const char *end, uint64_t off);
    /* Optional, with find: the first file offset >= off where a wanted line may be
     * (UINT64_MAX: none in this file), so the driver does not even read what cannot match. */
    uint64_t (*skip)(void *chunk, uint64_t off);
    /* Optional: used instead of feed when set; off is the line's position in its input:
     * the byte offset in a plain file, an increasing uncompressed offset in a stream. */
    void (*feed_at)(void *chunk, const struct event *ev, struct str line, uint64_t off);
    /* Optional: called on the main thread before input number idx (0, 1, ... in reading
     * order after rotated expansion) is read; map/len is the plain file's mapping and size
     * (for the consumer's bookkeeping; valid until the next file_begin or the end of
     * scan_run), NULL/0 for a stream or the journal. */
    void (*file_begin)(void *global, size_t idx, const char *path, const char *map, size_t len);
    /* Optional: only the syslog envelope is parsed before feed(): ev->h is set (time
     * included), ev->kind is EV_OTHER, ev->src SRC_NONE, ev->port -1; every other field is
     * NOT initialised and parse.kinds is not applied; the consumer calls parse_message() on a copy where it
     * needs the kind (summary: most lines need only the envelope, and full parsing is the
     * larger part of the time per line). */
    bool envelope_only;
    /* Optional: bytes per job for plain files (0: the driver's 4 MiB). A consumer with
     * little per-chunk state reads faster in smaller jobs whose buffer stays in the CPU's
     * cache (offenders: 1 MiB, measured); one with costly chunk merges wants larger ones. */
    size_t chunk_bytes;
};

struct scan_opts {
    char **paths;          /* inputs, "-" = stdin; NULL/0 = default log */
    size_t npaths;
    bool rotated;          /* expand each path to its logrotate family */
    int64_t since, until;  /* event time window (INT64_MIN/INT64_MAX = open) */
    int64_t ref;           /* reference time for year-less stamps; 0 = each file's mtime */
    uint64_t last_lines;   /* only the last N lines of the input (0 = all) */
    int threads;           /* 0 = number of CPUs (capped at 8) */
    struct parse_opts parse;
    bool progress;         /* progress bar on stderr when it is a terminal */
    bool journal;          /* read the systemd journal instead of paths ... */
    const char *journal_path;          /* ... this journal file/directory (NULL: the system's) */
    const char *const *journal_matches;/* journalctl-style matches, NULL-terminated, or NULL */
};

struct scan_stats {
    uint64_t files, files_failed, lines, bytes, cut_lines;
    uint64_t unparsed;             /* lines without a syslog envelope */
    uint64_t out_of_window;        /* events outside --since/--until */
    struct hmap other_progs;       /* program -> uint64_t count of lines of unknown programs */
    int64_t first_t, last_t;       /* time span of the events seen (0 when none) */
};

/*
 * Run the scan. Returns 0 when at least one input could be read (problems with others were
 * reported as warnings naming the file), -1 when nothing could be read. stats is filled
 * either way; free it with scan_stats_free().
 */
int scan_run(const struct scan_opts *o, const struct scan_consumer *c, struct scan_stats *st);
void scan_stats_free(struct scan_stats *st);
/* Default number of worker threads (CPUs, at most 8). */
int scan_default_threads(void);

#endif
