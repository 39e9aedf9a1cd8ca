/* arena - see arena.h. Blocks of 64 KiB, larger requests get their own block. */
#include "util/arena.h"
#include "util/xalloc.h"
#include <string.h>
#include <stdlib.h>

struct arena_blk {
    struct arena_blk *next;
    size_t used, size;
    _Alignas(16) char data[];
};

#define ARENA_BLK 65536

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct arena_blk *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = n > ARENA_BLK ? n : ARENA_BLK;
        if (sz == ARENA_BLK && a->spare) {
            b = a->spare;
            a->spare = b->next;
        } else {
            b = xmalloc(sizeof *b + sz);
        }
        b->used = 0;
        b->size = sz;
        if (a->head && n > ARENA_BLK) {
            /* keep the current block in front: it still has room for small requests */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

char *arena_strdup(struct arena *a, struct str s)
{
    char *p = arena_alloc(a, s.len + 1);
    if (s.len) memcpy(p, s.p, s.len);
    p[s.len] = 0;
    return p;
}

struct str arena_str(struct arena *a, struct str s)
{
    return (struct str){ arena_strdup(a, s), s.len };
}

void arena_free(struct arena *a)
{
    arena_clear(a);
    struct arena_blk *b = a->spare;
    while (b) {
        struct arena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->spare = NULL;
}

void arena_clear(struct arena *a)
{
    struct arena_blk *b = a->head;
    while (b) {
        struct arena_blk *n = b->next;
        if (b->size == ARENA_BLK) {
            b->next = a->spare;
            a->spare = b;
        } else {
            free(b);
        }
        b = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
