/*
 * fuzz_lines - libFuzzer target for the line layer (src/util/reader.c).
 *
 * Each input goes through:
 *   1. lines_next() over the bytes: every line is a slice of its raw line, at most
 *      READER_MAX_LINE long, '\r' and cut rules hold, and lines + separators account for
 *      every input byte;
 *   2. lines_split() into 1..8 parts: the lines of the parts are the lines of the whole;
 *   3. a memfd holding the bytes, read with reader_open() (the mmap path, via
 *      /proc/self/fd/N) and reader_open_fd() (the stream path, small blocks so lines cross
 *      block boundaries). Plain input must give exactly the lines of step 1. Input that
 *      starts with a compression magic drives the decoders: lines stay bounded, the end is
 *      0 or -1 once (with the name in the message), then 0; output is capped so that a
 *      small bomb stays fast.
 */
#include "util/reader.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define OUT_CAP (8u << 20)

struct ln { size_t off, len; bool cut; };
static struct ln *ref;
static size_t nref, capref;

static void push(size_t off, size_t len, bool cut)
{
    if (nref == capref) {
        capref = capref ? capref * 2 : 1024;
        ref = realloc(ref, capref * sizeof *ref);
        if (!ref) abort();
    }
    ref[nref++] = (struct ln){ off, len, cut };
}

static void split_ref(const char *buf, size_t size)
{
    size_t pos = 0, prev = 0;
    struct str l;
    bool cut;
    nref = 0;
    while (lines_next(buf, size, &pos, &l, &cut)) {
        if (pos <= prev || pos > size) abort();
        if (l.p != buf + prev) abort();
        if (l.len > READER_MAX_LINE) abort();
        const char *nl = memchr(buf + prev, '\n', size - prev);
        size_t raw = nl ? (size_t)(nl - (buf + prev)) : size - prev;
        if (pos != prev + raw + (nl ? 1 : 0)) abort();       /* separators account */
        size_t want = raw && buf[prev + raw - 1] == '\r' ? raw - 1 : raw;
        if (cut != (want > READER_MAX_LINE)) abort();
        if (l.len != (cut ? READER_MAX_LINE : want)) abort();
        push(prev, l.len, cut);
        prev = pos;
    }
    if (prev != size) abort();
}

static void check_split(const char *buf, size_t size, size_t n)
{
    size_t starts[9];
    size_t k = lines_split(buf, size, n, starts);
    if (k < 1 || k > n || starts[0] != 0 || starts[k] != size) abort();
    size_t i = 0;
    for (size_t p = 0; p < k; p++) {
        if (p > 0 && (starts[p] <= starts[p - 1] || buf[starts[p] - 1] != '\n')) abort();
        size_t len = starts[p + 1] - starts[p], pos = 0;
        struct str l;
        bool cut;
        while (lines_next(buf + starts[p], len, &pos, &l, &cut)) {
            if (i >= nref || l.p != buf + ref[i].off || l.len != ref[i].len || cut != ref[i].cut)
                abort();
            i++;
        }
    }
    if (i != nref) abort();
}

/* Read everything from r; plain input must match ref exactly. */
static void check_reader(struct reader *r, const char *buf, const char *name)
{
    bool plain = reader_compression(r) == RD_PLAIN;
    struct str l;
    size_t i = 0;
    int rc;
    while ((rc = reader_next(r, &l)) == 1) {
        if (l.len > READER_MAX_LINE) abort();
        if (plain) {
            if (i >= nref || l.len != ref[i].len || memcmp(l.p, buf + ref[i].off, l.len) != 0) abort();
        }
        i++;
        if (reader_stats(r)->bytes > OUT_CAP) return;   /* decompression bomb: enough */
    }
    if (rc != 0 && rc != -1) abort();
    if (plain && (rc != 0 || i != nref)) abort();
    if (rc == -1 && strncmp(reader_error(r), name, strlen(name)) != 0) abort();
    if (reader_stats(r)->lines != i) abort();
    if (reader_next(r, &l) != 0) abort();
    if (plain) {
        size_t cuts = 0;
        for (size_t k = 0; k < nref; k++) cuts += ref[k].cut;
        if (reader_stats(r)->cut_lines != cuts) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    split_ref(buf, size);
    check_split(buf, size, 1 + (size ? data[size - 1] % 8 : 0));

    int fd = memfd_create("fuzz_lines", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();

    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct reader *r = reader_open(path, err, sizeof err);
    if (!r) abort();
    size_t mlen;
    const char *m = reader_map(r, &mlen);
    if (reader_compression(r) == RD_PLAIN && (!m || mlen != size || (size && memcmp(m, data, size))))
        abort();
    check_reader(r, buf, path);
    reader_close(r);

    static const size_t blocks[] = { 7, 100, 4096, 0 };
    if (lseek(fd, 0, SEEK_SET) != 0) abort();
    r = reader_open_fd(fd, "fuzz-input", blocks[size % 4], err, sizeof err);
    if (!r) abort();
    check_reader(r, buf, "fuzz-input");
    reader_close(r);
    close(fd);
    return 0;
}
