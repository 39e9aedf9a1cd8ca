/* buf - see buf.h. */
#include "util/buf.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>

static int reserve(struct buf *b, size_t n)
{
    if (n > b->max - b->len || b->len + n + 1 < n) return -1;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < need) nc *= 2;
        if (nc > b->max + 1) nc = b->max + 1;
        b->p = xrealloc(b->p, nc);
        b->cap = nc;
    }
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int buf_putc(struct buf *b, char c) { return buf_append(b, &c, 1); }

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(struct buf *b) { b->len = 0; if (b->p) b->p[0] = 0; }

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
