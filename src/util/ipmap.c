/* ipmap - see ipmap.h. */
#include "util/ipmap.h"
#include "util/hash.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

/* entry: the value (at offset 0, so 8-byte aligned as the stride is a multiple of 8), then the
 * key: address 16 bytes, family 1 */
#define KEY(m, e) ((e) + (m)->valsize)

static uint64_t ip_hash(const struct ipmap *m, const struct ipaddr *ip)
{
    uint64_t a, b;
    memcpy(&a, ip->b, 8);
    memcpy(&b, ip->b + 8, 8);
    return hash_mix64(hash_mix64(m->seed ^ a ^ ((uint64_t)ip->family << 56)) ^ b);
}

static inline char *ent(const struct ipmap *m, uint32_t idx) { return m->ents + (size_t)idx * m->stride; }

void ipmap_init(struct ipmap *m, size_t valsize)
{
    memset(m, 0, sizeof *m);
    m->valsize = valsize;
    m->stride = (valsize + 17 + 7) & ~(size_t)7;
    m->seed = hash_seed(m);
}

void ipmap_free(struct ipmap *m)
{
    free(m->ents);
    free(m->slots);
    m->ents = NULL;
    m->slots = NULL;
    m->count = m->cap = m->nslots = 0;
}

/* the key as stored: the address's bytes beyond its family's length are zero */
static void key_of(const struct ipaddr *ip, uint8_t k[17])
{
    memset(k, 0, 17);
    size_t n = ip->family == 4 ? 4 : 16;
    memcpy(k, ip->b, n);
    k[16] = ip->family;
}

static uint32_t find_slot(const struct ipmap *m, const struct ipaddr *ip, const uint8_t k[17])
{
    uint32_t mask = m->nslots - 1, i = (uint32_t)ip_hash(m, ip) & mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (!s || memcmp(KEY(m, ent(m, s - 1)), k, 17) == 0) return i;
        i = (i + 1) & mask;
    }
}

void *ipmap_get(const struct ipmap *m, const struct ipaddr *ip)
{
    if (!m->count) return NULL;
    uint8_t k[17];
    key_of(ip, k);
    struct ipaddr norm = { .family = ip->family };
    memcpy(norm.b, k, 16);
    uint32_t s = m->slots[find_slot(m, &norm, k)];
    return s ? ent(m, s - 1) : NULL;
}

static void rehash(struct ipmap *m, uint32_t nslots)
{
    free(m->slots);
    m->slots = xcalloc(nslots, sizeof *m->slots);
    m->nslots = nslots;
    for (uint32_t idx = 0; idx < m->count; idx++) {
        const uint8_t *k = (const uint8_t *)KEY(m, ent(m, idx));
        struct ipaddr ip = { .family = k[16] };
        memcpy(ip.b, k, 16);
        uint32_t i = (uint32_t)ip_hash(m, &ip) & (nslots - 1);
        while (m->slots[i]) i = (i + 1) & (nslots - 1);
        m->slots[i] = idx + 1;
    }
}

void *ipmap_put(struct ipmap *m, const struct ipaddr *ip, bool *isnew)
{
    if ((uint64_t)(m->count + 1) * 10 > (uint64_t)m->nslots * 7) rehash(m, m->nslots ? m->nslots * 2 : 64);
    uint8_t k[17];
    key_of(ip, k);
    struct ipaddr norm = { .family = ip->family };
    memcpy(norm.b, k, 16);
    uint32_t i = find_slot(m, &norm, k);
    if (m->slots[i]) {
        if (isnew) *isnew = false;
        return ent(m, m->slots[i] - 1);
    }
    if (m->count == m->cap) {
        size_t ncap = m->cap ? (size_t)m->cap * 2 : 64;
        m->ents = xrealloc(m->ents, ncap * m->stride);
        m->cap = (uint32_t)ncap;
    }
    char *e = ent(m, m->count);
    memset(e, 0, m->stride);
    memcpy(KEY(m, e), k, 17);
    m->slots[i] = ++m->count;
    if (isnew) *isnew = true;
    return e;
}
