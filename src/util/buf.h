/*
 * buf - owned, growable byte buffer with a hard maximum (curl's dynbuf idea). The buffer owns
 * its memory; buf_free() releases it. Appending past `max` fails with -1 and leaves the
 * content as it was, so hostile input cannot grow it without bound. The content is always
 * NUL-terminated (not counted in len) so it can be handed to C APIs.
 */
#ifndef MW_BUF_H
#define MW_BUF_H
#include <stddef.h>
#include <stdarg.h>
#include "util/str.h"

struct buf {
    char *p;
    size_t len, cap, max;
};

#define BUF_INIT(maxbytes) ((struct buf){ NULL, 0, 0, (maxbytes) })

int buf_append(struct buf *b, const void *p, size_t n);
static inline int buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }
static inline int buf_putstr(struct buf *b, struct str s) { return buf_append(b, s.p, s.len); }
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
static inline struct str buf_str(const struct buf *b) { return (struct str){ b->p ? b->p : "", b->len }; }
static inline const char *buf_cstr(const struct buf *b) { return b->p ? b->p : ""; }

#endif
