/*
 * reader - the log input layer: one input (a file or stdin) yields lines.
 *
 * - Plain regular files are mmap'd (any size, nothing loaded whole); the mapping is exposed
 *   through reader_map() so callers can split it between threads at line boundaries and use
 *   lines_next() on each part with exactly the same splitting rules.
 * - stdin ("-"), pipes and compressed files are read in large blocks. Compression is detected
 *   by magic bytes, not by name: gzip (zlib, multi-member), xz (liblzma, concatenated
 *   streams, decoder memory capped at 256 MiB), zstd (libzstd, multiple frames), bzip2
 *   (libbz2, multi-stream). Opening a FIFO blocks until it has a writer.
 * - Line rules (the same everywhere): a line ends at '\n'; a trailing '\r' is removed; a last
 *   line without '\n' is still a line; NUL bytes and invalid UTF-8 are passed through as
 *   bytes; a line longer than READER_MAX_LINE is cut to READER_MAX_LINE bytes, the rest up to
 *   the next '\n' is skipped, and the cut is counted (reader_stats) — never fatal.
 * - Errors: reader_open() fails with a message naming the file. A read or decompression
 *   error in the middle (e.g. a truncated .gz) ends that input: reader_next() returns -1
 *   once, reader_error() says what happened (file name included); lines before it were
 *   delivered.
 *
 * Ownership: the reader owns its buffers; the slice from reader_next() is valid until the
 * next call to reader_next() or reader_close(). Not thread-safe (one reader per thread).
 */
#ifndef MW_READER_H
#define MW_READER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <time.h>
#include "util/str.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define READER_MAX_LINE (64 * 1024)

enum reader_comp { RD_PLAIN, RD_GZIP, RD_XZ, RD_ZSTD, RD_BZIP2 };

struct reader_stats {
    uint64_t lines;        /* lines delivered */
    uint64_t bytes;        /* uncompressed bytes consumed */
    uint64_t cut_lines;    /* lines longer than READER_MAX_LINE (cut) */
};

struct reader;

/* Open path ("-" = stdin). NULL on failure with a message in err (names the file). */
struct reader *reader_open(const char *path, char *err, size_t errlen);
/*
 * Read an already open descriptor as a stream (block reads, compression by magic, never
 * mapped, even for a regular file; reading starts at the current offset). name is used by
 * reader_path() and in messages ("(fd)" if NULL); fd stays open after reader_close().
 * blocksize is the read/decode block (0 = the default 1 MiB; tiny values exercise the line
 * assembly in tests). reader_mtime() is st_mtime for a regular file, else the current time.
 * NULL on failure with a message in err.
 */
struct reader *reader_open_fd(int fd, const char *name, size_t blocksize, char *err, size_t errlen);
/* 1: *line is the next line; 0: end of input; -1: error (see reader_error), input ended. */
int reader_next(struct reader *r, struct str *line);
const char *reader_error(const struct reader *r);    /* "" when there was no error */
const char *reader_path(const struct reader *r);     /* as given; "-" shown as "(stdin)" */
enum reader_comp reader_compression(const struct reader *r);
/* Modification time of the file (the reference time for year-less stamps); for stdin the
 * current time. */
time_t reader_mtime(const struct reader *r);
/* For plain regular files: the whole file mapped read-only (len may be 0), else NULL.
 * Reading through reader_next() and through the map may not be mixed. */
const char *reader_map(const struct reader *r, size_t *len);
const struct reader_stats *reader_stats(const struct reader *r);
void reader_close(struct reader *r);

/* Apply the line rules to a complete raw line (without its '\n'): strip one trailing '\r',
 * then cut to READER_MAX_LINE. Shared by lines_next() and the stream path. */
static inline size_t line_finish(const char *p, size_t n, bool *cut)
{
    if (n && p[n - 1] == '\r') n--;
    if (n > READER_MAX_LINE) {
        *cut = true;
        return READER_MAX_LINE;
    }
    *cut = false;
    return n;
}

/*
 * Split the next line out of buf[*pos .. len) with the reader's rules. Returns false when
 * *pos == len. *cut (may be NULL) is set when the line was longer than READER_MAX_LINE.
 * Inline: the scan driver calls it for every line.
 */
static inline bool lines_next(const char *buf, size_t len, size_t *pos, struct str *line, bool *cut)
{
    size_t p = *pos;
    if (p >= len) return false;
    const char *s = buf + p;
    size_t avail = len - p;
    const char *nl = memchr(s, '\n', avail);
    size_t n = nl ? (size_t)(nl - s) : avail;
    bool c;
    line->p = s;
    line->len = line_finish(s, n, &c);
    if (cut) *cut = c;
    *pos = nl ? p + n + 1 : len;
    return true;
}

/*
 * A line splitter for long buffers that yields exactly what lines_next() yields, but finds
 * the newlines 64 bytes at a time (a bit mask per block) instead of one memchr call per
 * line: for the scan driver's ~130-byte lines the per-call cost of memchr dominated.
 * Usage: struct lines_iter it; lines_iter_init(&it, buf, len, pos); then
 * lines_iter_next(&it, &line, &cut) until false; it.pos is the offset after the last line.
 */
struct lines_iter {
    const char *buf;
    size_t len, pos;
    size_t base;            /* offset of the 64-byte block `mask` describes */
    uint64_t mask;          /* newline bits of buf[base .. base+64) not yet consumed */
};

/* bit i set when p[i] == '\n' (p[0..64) readable); inline: it runs twice per scanned line */
static inline uint64_t lines_nl_mask64(const char *p)
{
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n');
    uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), nl));
    uint64_t m1 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), nl));
    uint64_t m2 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), nl));
    uint64_t m3 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), nl));
    return m0 | m1 << 16 | m2 << 32 | m3 << 48;
#else
    uint64_t m = 0;
    for (int i = 0; i < 64; i++) m |= (uint64_t)(p[i] == '\n') << i;
    return m;
#endif
}

static inline void lines_iter_init(struct lines_iter *it, const char *buf, size_t len, size_t pos)
{
    it->buf = buf;
    it->len = len;
    it->pos = pos;
    it->base = pos & ~(size_t)63;
    it->mask = 0;
    if (it->base + 64 <= len)
        it->mask = lines_nl_mask64(buf + it->base) & (~(uint64_t)0 << (pos - it->base));
    else
        it->base = len;         /* tail: handled by memchr below */
}

static inline bool lines_iter_next(struct lines_iter *it, struct str *line, bool *cut)
{
    size_t p = it->pos;
    if (p >= it->len) return false;
    const char *s = it->buf + p;
    size_t nlpos;
    for (;;) {
        if (it->mask) {
            nlpos = it->base + (size_t)__builtin_ctzll(it->mask);
            it->mask &= it->mask - 1;
            break;
        }
        if (it->base + 128 <= it->len) {    /* next full block */
            it->base += 64;
            it->mask = lines_nl_mask64(it->buf + it->base);
            continue;
        }
        /* the tail (less than a full block left): memchr from the first byte no mask covered;
         * base == len marks tail mode, where that byte is p itself */
        size_t from = it->base + 64 <= it->len ? it->base + 64 : p;
        if (from < p) from = p;
        it->base = it->len;
        const char *nl = from < it->len ? memchr(it->buf + from, '\n', it->len - from) : NULL;
        if (!nl) {
            size_t n = it->len - p;
            line->p = s;
            bool c;
            line->len = line_finish(s, n, &c);
            if (cut) *cut = c;
            it->pos = it->len;
            return true;
        }
        nlpos = (size_t)(nl - it->buf);
        break;
    }
    size_t n = nlpos - p;
    bool c;
    line->p = s;
    line->len = line_finish(s, n, &c);
    if (cut) *cut = c;
    it->pos = nlpos + 1;
    return true;
}

/*
 * Split buf[0..len) into at most n parts that start and end at line boundaries; starts[i]
 * receives the start offset of part i, starts[n'] = len. Returns the number of parts n'
 * (fewer when the buffer is small). starts must hold n + 1 entries.
 * Every part is non-empty and each part but the first starts right after a '\n', so
 * lines_next() over the parts yields exactly the lines of the whole buffer. len == 0 gives
 * one empty part; n == 0 returns 0 and writes nothing.
 */
size_t lines_split(const char *buf, size_t len, size_t n, size_t *starts);

/*
 * Rotated families: expand a base path (/var/log/mail.log) to every member that exists, oldest
 * first: dateext members (mail.log-20261120[.gz|.xz|.zst|.bz2], by date), numbered members
 * (mail.log.N[.gz…], highest N first), then the base itself. Returns the number of paths
 * (0 if nothing exists; then err says so); *out is a malloc'd array of malloc'd strings, free
 * with rotate_free().
 * Details: dateext also matches mail.log-YYYYMMDDHH; when both dateext and numbered members
 * exist, all dateext ones come first (a changed logrotate configuration; the direction
 * cannot be known). A member present both plain and compressed (mail.log.1 and
 * mail.log.1.gz during compression) is listed once, as the plain file. Other names
 * (mail.log.bak, mail.log-foo) and non-regular files are ignored. "-" expands to itself.
 */
size_t rotate_expand(const char *base, char ***out, char *err, size_t errlen);
void rotate_free(char **paths, size_t n);

#endif
