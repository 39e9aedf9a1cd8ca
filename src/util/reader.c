/*
 * reader - the log input layer (see reader.h for the contract).
 *
 * Two paths:
 * - map: a plain (not compressed) regular file is mmap'd read-only once (MAP_PRIVATE,
 *   MADV_SEQUENTIAL); reader_next() walks the map with lines_next(), so the threaded callers
 *   that split reader_map() with lines_split() see exactly the same lines.
 * - stream: stdin, pipes, FIFOs, character devices, descriptors given to reader_open_fd() and
 *   every compressed input. Raw bytes are read in blocks (1 MiB by default) into `in`; a
 *   decoder (zlib, liblzma, libzstd, libbz2) turns them into blocks in `out` (for plain
 *   streams `out` is `in`). Lines that lie inside one block are returned as slices of the
 *   block; a line that crosses a block boundary is assembled in `asm_buf`, which holds at most
 *   READER_MAX_LINE + 1 bytes: the rest of a longer line is counted and dropped, so a 10 MB
 *   line costs no more memory than a short one.
 *
 * Compression is recognised by magic bytes only (the first 6 bytes are peeked before
 * anything else is read, for files and for stdin alike).
 *
 * Ownership: the reader owns the path copies, buffers, decoder state, the mapping and the
 * descriptor (except stdin and descriptors passed to reader_open_fd(), which stay open).
 * Errors are reported in r->err, always prefixed with the path as shown by reader_path().
 */
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "util/reader.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <lzma.h>
#include <zstd.h>
#include <bzlib.h>

#define READER_BLOCK (1024 * 1024)
#define OUT_START (64 * 1024)           /* decoded blocks start here and double up to block */
#define XZ_MEMLIMIT (256u << 20)        /* xz -9e needs 65 MiB; refuse absurd dictionaries */
#define MAGIC_LEN 6

enum rd_state { ST_OK, ST_EOF, ST_ERR_PENDING, ST_DONE };

struct reader {
    char *path;                 /* as given */
    char *shown;                /* as shown in messages: "(stdin)" for "-" */
    int fd;
    bool own_fd;
    enum reader_comp comp;
    time_t mtime;
    enum rd_state state;
    char err[512];
    struct reader_stats st;

    /* map path */
    bool mapped;
    const char *map;            /* points at "" for an empty file */
    size_t map_len, map_pos;
    void *map_base;             /* what to munmap (NULL when nothing was mapped) */

    /* stream path */
    size_t block;               /* read / decode block size (the most either buffer grows to) */
    unsigned char *in;          /* raw bytes read from fd, in_cap bytes */
    size_t in_cap, in_pos, in_len;
    bool in_eof;
    unsigned char *out;         /* decoded bytes (== in for plain streams) */
    unsigned char *out_own;     /* allocated out buffer (NULL for plain streams) */
    size_t out_cap, out_pos, out_len;
    bool out_full;              /* the last decode filled out: grow it next time */
    bool peeked;                /* in[0..in_len) holds the magic peek, not yet used */
    char *asm_buf;              /* line assembly, READER_MAX_LINE + 1 bytes */
    size_t asm_len;
    bool asm_over;              /* the line being assembled exceeded asm_buf */
    bool asm_any;               /* bytes of an unfinished line were consumed */

    /* decoders */
    bool dec_init;
    bool member_done;           /* gzip/bzip2: a member/stream ended, another may follow */
    bool dec_finished;          /* xz: LZMA_STREAM_END seen, nothing more to decode */
    size_t zstd_last;           /* hint of the last ZSTD_decompressStream() call that made
                                 * progress; 0 = at a frame boundary */
    z_stream z;
    lzma_stream lz;
    ZSTD_DStream *zs;
    bz_stream bz;
};

static const char *comp_name(enum reader_comp c)
{
    switch (c) {
    case RD_GZIP: return "gzip";
    case RD_XZ: return "xz";
    case RD_ZSTD: return "zstd";
    case RD_BZIP2: return "bzip2";
    default: return "plain";
    }
}

static void set_err(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct reader *r, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof r->err, "%s: ", r->shown);
    if (n < 0 || (size_t)n >= sizeof r->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* ---- line splitting -------------------------------------------------------------------- */

size_t lines_split(const char *buf, size_t len, size_t n, size_t *starts)
{
    if (n == 0) return 0;
    size_t k = 0;
    starts[k++] = 0;
    for (size_t i = 1; i < n && len > 0; i++) {
        /* Aim at an even share, never behind the last boundary. */
        size_t aim = len / n * i + len % n * i / n;
        size_t from = aim > starts[k - 1] ? aim : starts[k - 1];
        if (from >= len) break;
        const char *nl = memchr(buf + from, '\n', len - from);
        if (!nl) break;
        size_t b = (size_t)(nl - buf) + 1;
        if (b >= len) break;
        starts[k++] = b;
    }
    starts[k] = len;
    return k;
}

/* ---- opening --------------------------------------------------------------------------- */

static enum reader_comp detect(const unsigned char *m, size_t n)
{
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return RD_GZIP;
    if (n >= 6 && memcmp(m, "\xfd" "7zXZ\0", 6) == 0) return RD_XZ;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return RD_ZSTD;
    /* "BZh" + block size digit + first block magic (0x31) or end-of-stream magic (0x17):
     * stricter than "BZh" alone so that a text log starting with those letters stays text. */
    if (n >= 5 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h' && m[3] >= '1' && m[3] <= '9' &&
        (m[4] == 0x31 || m[4] == 0x17))
        return RD_BZIP2;
    return RD_PLAIN;
}

static struct reader *reader_new(const char *path, const char *shown)
{
    struct reader *r = xcalloc(1, sizeof *r);
    r->path = xstrdup(path);
    r->shown = xstrdup(shown);
    r->fd = -1;
    r->block = READER_BLOCK;
    r->state = ST_OK;
    return r;
}

static int read_some(int fd, void *p, size_t n, ssize_t *got)
{
    for (;;) {
        ssize_t k = read(fd, p, n);
        if (k >= 0) { *got = k; return 0; }
        if (errno != EINTR) return -1;
    }
}

static int decoder_init(struct reader *r)
{
    switch (r->comp) {
    case RD_GZIP:
        memset(&r->z, 0, sizeof r->z);
        if (inflateInit2(&r->z, 15 + 32) != Z_OK) { set_err(r, "cannot initialise zlib"); return -1; }
        break;
    case RD_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        r->lz = init;
        if (lzma_stream_decoder(&r->lz, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK) {
            set_err(r, "cannot initialise liblzma");
            return -1;
        }
        break;
    }
    case RD_ZSTD:
        r->zs = ZSTD_createDStream();
        if (!r->zs || ZSTD_isError(ZSTD_initDStream(r->zs))) { set_err(r, "cannot initialise libzstd"); return -1; }
        break;
    case RD_BZIP2:
        memset(&r->bz, 0, sizeof r->bz);
        if (BZ2_bzDecompressInit(&r->bz, 0, 0) != BZ_OK) { set_err(r, "cannot initialise libbz2"); return -1; }
        break;
    default:
        return 0;
    }
    r->dec_init = true;
    return 0;
}

static void decoder_end(struct reader *r)
{
    if (!r->dec_init) return;
    switch (r->comp) {
    case RD_GZIP: inflateEnd(&r->z); break;
    case RD_XZ: lzma_end(&r->lz); break;
    case RD_ZSTD: ZSTD_freeDStream(r->zs); r->zs = NULL; break;
    case RD_BZIP2: BZ2_bzDecompressEnd(&r->bz); break;
    default: break;
    }
    r->dec_init = false;
}

/* Set up the stream path on r->fd: allocate buffers, peek the magic, start the decoder.
 * size_hint: the file size when known (a small file gets a small input buffer), else 0. */
static int stream_setup(struct reader *r, size_t block, size_t size_hint)
{
    r->block = block ? block : READER_BLOCK;
    if (r->block < MAGIC_LEN) r->block = MAGIC_LEN;
    r->in_cap = r->block;
    if (size_hint && size_hint < r->in_cap) r->in_cap = size_hint < MAGIC_LEN ? MAGIC_LEN : size_hint;
    r->in = xmalloc(r->in_cap);
    r->asm_buf = xmalloc(READER_MAX_LINE + 1);
    /* Peek only the magic so that the first real read is a full block. */
    while (r->in_len < MAGIC_LEN) {
        ssize_t k;
        if (read_some(r->fd, r->in + r->in_len, MAGIC_LEN - r->in_len, &k) < 0) {
            set_err(r, "%s", strerror(errno));
            return -1;
        }
        if (k == 0) { r->in_eof = true; break; }
        r->in_len += (size_t)k;
    }
    r->comp = detect(r->in, r->in_len);
    if (r->comp == RD_PLAIN) {
        r->out = r->in;
        r->peeked = true;     /* the peeked bytes are the first block */
        return 0;
    }
    r->out_cap = r->block < OUT_START ? r->block : OUT_START;
    r->out_own = xmalloc(r->out_cap);
    r->out = r->out_own;
    return decoder_init(r);
}

struct reader *reader_open(const char *path, char *err, size_t errlen)
{
    bool is_stdin = strcmp(path, "-") == 0;
    struct reader *r = reader_new(path, is_stdin ? "(stdin)" : path);
    struct stat sb;

    if (is_stdin) {
        r->fd = STDIN_FILENO;
        r->own_fd = false;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (r->fd < 0) goto fail_errno;
        r->own_fd = true;
    }
    if (fstat(r->fd, &sb) < 0) goto fail_errno;
    if (S_ISDIR(sb.st_mode)) { errno = EISDIR; goto fail_errno; }

    if (is_stdin || !S_ISREG(sb.st_mode)) {
        r->mtime = time(NULL);
        if (stream_setup(r, 0, 0) < 0) goto fail;
        return r;
    }

    r->mtime = sb.st_mtime;
    unsigned char magic[MAGIC_LEN];
    ssize_t k;
    size_t got = 0;
    while (got < MAGIC_LEN) {
        do k = pread(r->fd, magic + got, MAGIC_LEN - got, (off_t)got); while (k < 0 && errno == EINTR);
        if (k < 0) goto fail_errno;
        if (k == 0) break;
        got += (size_t)k;
    }
    if (detect(magic, got) != RD_PLAIN) {
        size_t hint = (uintmax_t)sb.st_size < READER_BLOCK ? (size_t)sb.st_size + 1 : 0;
        if (stream_setup(r, 0, hint) < 0) goto fail;
        return r;
    }

    r->mapped = true;
    r->comp = RD_PLAIN;
    if (sb.st_size <= 0) {
        r->map = "";
        r->map_len = 0;
    } else {
        if ((uintmax_t)sb.st_size > SIZE_MAX) { errno = EFBIG; goto fail_errno; }
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, r->fd, 0);
        if (m == MAP_FAILED) goto fail_errno;
        (void)madvise(m, (size_t)sb.st_size, MADV_SEQUENTIAL);
        r->map_base = m;
        r->map = m;
        r->map_len = (size_t)sb.st_size;
    }
    /* The mapping keeps the file; the descriptor is not needed any more. */
    close(r->fd);
    r->fd = -1;
    r->own_fd = false;
    return r;

fail_errno:
    set_err(r, "%s", strerror(errno));
fail:
    copy_err(err, errlen, r->err);
    reader_close(r);
    return NULL;
}

struct reader *reader_open_fd(int fd, const char *name, size_t blocksize, char *err, size_t errlen)
{
    struct reader *r = reader_new(name ? name : "(fd)", name ? name : "(fd)");
    r->fd = fd;
    r->own_fd = false;
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        set_err(r, "%s", strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        set_err(r, "%s", strerror(EISDIR));
        goto fail;
    }
    r->mtime = S_ISREG(sb.st_mode) ? sb.st_mtime : time(NULL);
    if (stream_setup(r, blocksize, 0) < 0) goto fail;
    return r;
fail:
    copy_err(err, errlen, r->err);
    reader_close(r);
    return NULL;
}

/* ---- stream path: raw input ------------------------------------------------------------- */

/* Make sure in[in_pos..in_len) is non-empty unless the input ended. -1 on read error. */
static int in_fill(struct reader *r)
{
    if (r->in_pos < r->in_len || r->in_eof) return 0;
    ssize_t k;
    if (read_some(r->fd, r->in, r->in_cap, &k) < 0) {
        set_err(r, "read error: %s", strerror(errno));
        return -1;
    }
    r->in_pos = 0;
    r->in_len = (size_t)k;
    if (k == 0) r->in_eof = true;
    return 0;
}

/* ---- stream path: decoders ------------------------------------------------------------- *
 * Each step decodes from in[in_pos..in_len) into out[0..block) and sets *produced.
 * Returns 0 to go on, 1 when the stream ended cleanly, -1 on error (message set).
 */

static int truncated(struct reader *r)
{
    set_err(r, "truncated %s stream (unexpected end of file)", comp_name(r->comp));
    return -1;
}

/* After a gzip member or bzip2 stream: zero padding is ignored, the next member must start
 * with the same magic's first byte, anything else is trailing garbage. */
static int after_member(struct reader *r, unsigned char first)
{
    while (r->in_pos < r->in_len && r->in[r->in_pos] == 0) r->in_pos++;
    if (r->in_pos == r->in_len) return r->in_eof ? 1 : 0;
    if (r->in[r->in_pos] != first) {
        set_err(r, "corrupt %s stream (trailing garbage after end of stream)", comp_name(r->comp));
        return -1;
    }
    return 2;   /* another member follows */
}

static int step_gzip(struct reader *r, size_t *produced)
{
    *produced = 0;
    if (r->member_done) {
        int a = after_member(r, 0x1f);
        if (a != 2) return a;
        if (inflateReset(&r->z) != Z_OK) { set_err(r, "cannot reset zlib"); return -1; }
        r->member_done = false;
    }
    r->z.next_in = r->in + r->in_pos;
    r->z.avail_in = (uInt)(r->in_len - r->in_pos);
    r->z.next_out = r->out;
    r->z.avail_out = (uInt)r->out_cap;
    int rc = inflate(&r->z, Z_NO_FLUSH);
    r->in_pos = r->in_len - r->z.avail_in;
    *produced = r->out_cap - r->z.avail_out;
    switch (rc) {
    case Z_STREAM_END:
        r->member_done = true;
        return 0;
    case Z_OK:
        return 0;
    case Z_BUF_ERROR:   /* no progress possible: needs more input */
        if (r->in_eof && r->in_pos == r->in_len && *produced == 0) return truncated(r);
        return 0;
    case Z_MEM_ERROR:
        set_err(r, "out of memory decoding gzip");
        return -1;
    default:
        set_err(r, "corrupt gzip stream (%s)", r->z.msg ? r->z.msg : "data error");
        return -1;
    }
}

static int step_xz(struct reader *r, size_t *produced)
{
    *produced = 0;
    if (r->dec_finished) return 1;
    r->lz.next_in = r->in + r->in_pos;
    r->lz.avail_in = r->in_len - r->in_pos;
    r->lz.next_out = r->out;
    r->lz.avail_out = r->out_cap;
    lzma_ret rc = lzma_code(&r->lz, r->in_eof ? LZMA_FINISH : LZMA_RUN);
    r->in_pos = r->in_len - r->lz.avail_in;
    *produced = r->out_cap - r->lz.avail_out;
    switch (rc) {
    case LZMA_OK:
        /* liblzma reports "no progress" as LZMA_OK once before LZMA_BUF_ERROR. */
        return 0;
    case LZMA_STREAM_END:
        r->dec_finished = true;
        return *produced ? 0 : 1;
    case LZMA_BUF_ERROR:
        if (r->in_eof) return truncated(r);
        return 0;
    case LZMA_MEM_ERROR:
        set_err(r, "out of memory decoding xz");
        return -1;
    case LZMA_MEMLIMIT_ERROR:
        set_err(r, "xz stream needs more than %u MiB of memory to decode", XZ_MEMLIMIT >> 20);
        return -1;
    case LZMA_FORMAT_ERROR:
        set_err(r, "corrupt xz stream (not in xz format)");
        return -1;
    case LZMA_OPTIONS_ERROR:
        set_err(r, "corrupt xz stream (unsupported options)");
        return -1;
    default:
        set_err(r, "corrupt xz stream (data error)");
        return -1;
    }
}

static int step_zstd(struct reader *r, size_t *produced)
{
    ZSTD_inBuffer ib = { r->in + r->in_pos, r->in_len - r->in_pos, 0 };
    ZSTD_outBuffer ob = { r->out, r->out_cap, 0 };
    size_t before = ib.size;
    size_t rc = ZSTD_decompressStream(r->zs, &ob, &ib);
    r->in_pos += ib.pos;
    *produced = ob.pos;
    if (ZSTD_isError(rc)) {
        set_err(r, "corrupt zstd stream (%s)", ZSTD_getErrorName(rc));
        return -1;
    }
    if (ib.pos || ob.pos) {
        r->zstd_last = rc;
        return 0;
    }
    /* No progress. At the end of the input that is a clean end only at a frame boundary (an
     * empty call reports the size of the next frame header, so the hint of the last productive
     * call decides). With input left and room in out it cannot happen; never spin on it. */
    if (before == 0 && r->in_eof) return r->zstd_last == 0 ? 1 : truncated(r);
    set_err(r, "corrupt zstd stream (decoder made no progress)");
    return -1;
}

static int step_bzip2(struct reader *r, size_t *produced)
{
    *produced = 0;
    if (r->member_done) {
        int a = after_member(r, 'B');
        if (a != 2) return a;
        BZ2_bzDecompressEnd(&r->bz);
        memset(&r->bz, 0, sizeof r->bz);
        if (BZ2_bzDecompressInit(&r->bz, 0, 0) != BZ_OK) {
            r->dec_init = false;
            set_err(r, "cannot initialise libbz2");
            return -1;
        }
        r->member_done = false;
    }
    unsigned avail_in = (unsigned)(r->in_len - r->in_pos);
    r->bz.next_in = (char *)(r->in + r->in_pos);
    r->bz.avail_in = avail_in;
    r->bz.next_out = (char *)r->out;
    r->bz.avail_out = (unsigned)r->out_cap;
    int rc = BZ2_bzDecompress(&r->bz);
    r->in_pos = r->in_len - r->bz.avail_in;
    *produced = r->out_cap - r->bz.avail_out;
    switch (rc) {
    case BZ_STREAM_END:
        r->member_done = true;
        return 0;
    case BZ_OK:
        if (r->in_eof && r->in_pos == r->in_len && *produced == 0 && r->bz.avail_in == avail_in)
            return truncated(r);
        return 0;
    case BZ_MEM_ERROR:
        set_err(r, "out of memory decoding bzip2");
        return -1;
    default:
        set_err(r, "corrupt bzip2 stream (data error)");
        return -1;
    }
}

/* Refill out[0..out_len). 1: data; 0: end of input; -1: error (message set). */
static int out_fill(struct reader *r)
{
    r->out_pos = r->out_len = 0;
    if (r->comp == RD_PLAIN) {
        if (r->peeked) {
            r->peeked = false;
            if (r->in_len) { r->out_len = r->in_len; return 1; }
        }
        if (r->in_eof) return 0;
        r->in_pos = r->in_len;
        if (in_fill(r) < 0) return -1;
        r->out_len = r->in_len;
        r->in_pos = r->in_len;
        return r->out_len ? 1 : 0;
    }
    /* A full block last time: the data decodes big, take bigger bites (up to block). */
    if (r->out_full && r->out_cap < r->block) {
        r->out_cap = r->out_cap * 2 < r->block ? r->out_cap * 2 : r->block;
        free(r->out_own);
        r->out_own = r->out = xmalloc(r->out_cap);
    }
    for (;;) {
        if (in_fill(r) < 0) return -1;
        size_t produced = 0;
        int rc;
        switch (r->comp) {
        case RD_GZIP: rc = step_gzip(r, &produced); break;
        case RD_XZ: rc = step_xz(r, &produced); break;
        case RD_ZSTD: rc = step_zstd(r, &produced); break;
        default: rc = step_bzip2(r, &produced); break;
        }
        if (produced) {
            r->out_len = produced;
            r->out_full = produced == r->out_cap;
            /* An error found after some output is reported on the next fill. */
            if (rc < 0) r->state = ST_ERR_PENDING;
            return 1;
        }
        if (rc != 0) return rc > 0 ? 0 : -1;
    }
}

/* ---- stream path: lines ----------------------------------------------------------------- */

static void asm_add(struct reader *r, const char *p, size_t n)
{
    r->asm_any = true;
    size_t room = READER_MAX_LINE + 1 - r->asm_len;
    if (n > room) {
        n = room;
        r->asm_over = true;
    }
    memcpy(r->asm_buf + r->asm_len, p, n);
    r->asm_len += n;
}

/* Deliver the assembled line and reset the assembly state (the bytes stay valid until the
 * next call because nothing writes into asm_buf before then). */
static void asm_take(struct reader *r, struct str *line)
{
    bool cut = true;
    size_t n = READER_MAX_LINE;
    /* Over means more than READER_MAX_LINE + 1 bytes: cut even after removing a '\r'. */
    if (!r->asm_over) n = line_finish(r->asm_buf, r->asm_len, &cut);
    line->p = r->asm_buf;
    line->len = n;
    if (cut) r->st.cut_lines++;
    r->st.lines++;
    r->asm_len = 0;
    r->asm_over = false;
    r->asm_any = false;
}

static int stream_next(struct reader *r, struct str *line)
{
    for (;;) {
        if (r->out_pos < r->out_len) {
            const char *s = (const char *)r->out + r->out_pos;
            size_t avail = r->out_len - r->out_pos;
            const char *nl = memchr(s, '\n', avail);
            if (!nl) {
                asm_add(r, s, avail);
                r->out_pos = r->out_len;
                r->st.bytes += avail;
                continue;
            }
            size_t n = (size_t)(nl - s);
            r->out_pos += n + 1;
            r->st.bytes += n + 1;
            if (!r->asm_any) {
                /* Whole line inside the block: no copy. */
                bool cut;
                line->p = s;
                line->len = line_finish(s, n, &cut);
                if (cut) r->st.cut_lines++;
                r->st.lines++;
                return 1;
            }
            asm_add(r, s, n);
            asm_take(r, line);
            return 1;
        }
        if (r->state == ST_ERR_PENDING) {
            /* An error came with the last block: first the partial line, then the error. */
            if (r->asm_any) { asm_take(r, line); return 1; }
            r->state = ST_DONE;
            return -1;
        }
        int rc = out_fill(r);
        if (rc > 0) continue;
        if (rc < 0) r->state = ST_ERR_PENDING;
        else r->state = ST_EOF;
        if (r->asm_any) { asm_take(r, line); return 1; }
        if (rc < 0) { r->state = ST_DONE; return -1; }
        return 0;
    }
}

int reader_next(struct reader *r, struct str *line)
{
    if (r->state == ST_EOF || r->state == ST_DONE) return 0;
    if (r->mapped) {
        size_t before = r->map_pos;
        bool cut;
        if (!lines_next(r->map, r->map_len, &r->map_pos, line, &cut)) {
            r->state = ST_EOF;
            return 0;
        }
        r->st.lines++;
        r->st.bytes += r->map_pos - before;
        if (cut) r->st.cut_lines++;
        return 1;
    }
    return stream_next(r, line);
}

/* ---- accessors --------------------------------------------------------------------------- */

const char *reader_error(const struct reader *r) { return r->err; }
const char *reader_path(const struct reader *r) { return r->shown; }
enum reader_comp reader_compression(const struct reader *r) { return r->comp; }
time_t reader_mtime(const struct reader *r) { return r->mtime; }
const struct reader_stats *reader_stats(const struct reader *r) { return &r->st; }

const char *reader_map(const struct reader *r, size_t *len)
{
    if (!r->mapped) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = r->map_len;
    return r->map;
}

void reader_close(struct reader *r)
{
    if (!r) return;
    decoder_end(r);
    if (r->map_base) munmap(r->map_base, r->map_len);
    if (r->own_fd && r->fd >= 0) close(r->fd);
    free(r->in);
    free(r->out_own);
    free(r->asm_buf);
    free(r->path);
    free(r->shown);
    free(r);
}
