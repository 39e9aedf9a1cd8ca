/*
 * hash - byte-string keyed hash map with inline values. Linear probing, backward-shift
 * deletion, power-of-two table at most 70 % full.
 *
 * Ownership: the map copies each key and owns it together with a value area of `valsize`
 * bytes (zeroed on insert, 16-byte aligned). Pointers returned by hmap_get/hmap_put stay
 * valid until that entry is deleted or the map is freed (nodes never move). Values that own
 * memory must be freed by the caller before hmap_del/hmap_free.
 * Not thread-safe. Tables an attacker can grow need a cap enforced by the caller
 * (hmap_count()).
 */
#ifndef MW_HASH_H
#define MW_HASH_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

/* 64-bit finaliser (murmur3's fmix64): every output bit depends on every input bit. Shared by
 * the tables keyed by attacker-chosen data (util/ipmap, guard/tracker) with hash_seed(). */
static inline uint64_t hash_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}
/* A random per-table seed (getrandom; time and address if that fails), so chosen keys cannot
 * aim for collisions. */
uint64_t hash_seed(const void *salt);

struct hmap_slot;
struct arena;
struct hmap {
    struct hmap_slot *tab;
    size_t cap, count, valsize;
    struct arena *ar;            /* NULL: nodes are malloc'd; else taken from this arena */
};

void hmap_init(struct hmap *m, size_t valsize);
/* Nodes come from `ar` (no malloc per key): for maps that die with the arena. hmap_del()
 * then only unlinks (the node's memory stays in the arena until arena_free()). */
void hmap_init_arena(struct hmap *m, size_t valsize, struct arena *ar);
void *hmap_get(const struct hmap *m, struct str key);
void *hmap_put(struct hmap *m, struct str key, bool *isnew);
bool hmap_del(struct hmap *m, struct str key);
void hmap_free(struct hmap *m);
/* Empty the map but keep its table (up to HMAP_KEEP_SLOTS slots) for the next keys: a map
 * refilled again and again (a chunk's) then does not grow and rehash each time. An arena
 * map's nodes stay in the arena (clear that too). */
#define HMAP_KEEP_SLOTS ((size_t)1 << 16)
void hmap_clear(struct hmap *m);
static inline size_t hmap_count(const struct hmap *m) { return m->count; }

/* Iterate: size_t it = 0; struct str k; void *v; while (hmap_next(m, &it, &k, &v)) ...
 * The map must not be modified while iterating. */
bool hmap_next(const struct hmap *m, size_t *it, struct str *key, void **val);

#endif
