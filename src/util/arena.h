/*
 * arena - bump allocator for data that all dies together (a report's tables, a parsed
 * config). The arena owns every block it hands out; arena_free() releases them all at once.
 * Not thread-safe: one arena per thread.
 */
#ifndef MW_ARENA_H
#define MW_ARENA_H
#include <stddef.h>
#include "util/str.h"

struct arena_blk;
struct arena {
    struct arena_blk *head;
    size_t used_total;
    struct arena_blk *spare;   /* cleared standard blocks, reused before new ones */
};

void *arena_alloc(struct arena *a, size_t n);         /* 16-byte aligned, zeroed */
char *arena_strdup(struct arena *a, struct str s);    /* NUL-terminated copy */
struct str arena_str(struct arena *a, struct str s);  /* copy as a slice (also NUL-terminated) */
void arena_free(struct arena *a);
/* Forget every allocation but keep the standard-size blocks for the next ones: refilling
 * them costs no page faults (arena_free() releases them). */
void arena_clear(struct arena *a);

#endif
