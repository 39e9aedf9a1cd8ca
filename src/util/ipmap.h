/*
 * ipmap - a compact map from an IP address to a small fixed-size value, for per-address state
 * that an attacker can grow (one entry per source address). Entries sit in one dense array
 * (address 16 bytes + family + the value, 4-byte aligned) indexed by an open-addressing
 * table of uint32 slots kept at most 70 % full: about 20 + valsize + ~8 bytes per entry,
 * where a general byte-string map pays a node allocation, a key copy and a pointer slot.
 * No single deletion: the caller caps the map (ipmap_count) and clears it.
 *
 * The index is keyed with a per-map random seed, so chosen source addresses cannot aim for
 * collisions. Ownership: the map owns its arrays; values are zeroed on insert and stay at
 * their address until the next insert (the array may move). Not thread-safe.
 */
#ifndef MW_IPMAP_H
#define MW_IPMAP_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/ipaddr.h"

struct ipmap {
    char *ents;
    size_t stride, valsize;
    uint32_t count, cap;        /* entries / allocated */
    uint32_t *slots;            /* index + 1, 0 = empty */
    uint32_t nslots;
    uint64_t seed;
};

void ipmap_init(struct ipmap *m, size_t valsize);
void ipmap_free(struct ipmap *m);                     /* also: clear (the map stays usable) */
void *ipmap_get(const struct ipmap *m, const struct ipaddr *ip);
void *ipmap_put(struct ipmap *m, const struct ipaddr *ip, bool *isnew);
static inline size_t ipmap_count(const struct ipmap *m) { return m->count; }

#endif
