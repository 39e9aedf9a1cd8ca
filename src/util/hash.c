/* hash - see hash.h. */
#include "util/hash.h"
#include "util/xalloc.h"
#include "util/arena.h"
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct hmap_node {
    size_t klen;
    size_t voff;                 /* offset of the value area from the node start */
    _Alignas(16) char key[];     /* key bytes, NUL, padding, value */
};

/* A slot holds the node's hash next to the pointer: a probe past another key, and above
 * all a miss (a probe run of several slots at 70 % load), reads only the slot array, not a
 * node elsewhere in memory per slot. */
struct hmap_slot {
    struct hmap_node *n;
    uint64_t hash;
};

static inline void *node_val(struct hmap_node *n) { return (char *)n + n->voff; }

void hmap_init(struct hmap *m, size_t valsize)
{
    m->tab = NULL;
    m->cap = m->count = 0;
    m->valsize = valsize;
    m->ar = NULL;
}

void hmap_init_arena(struct hmap *m, size_t valsize, struct arena *ar)
{
    hmap_init(m, valsize);
    m->ar = ar;
}

/* The table's hash: eight bytes per step (str_hash's byte-wise FNV was a tenth of the time
 * of `summary`, whose keys are queue IDs and addresses), with a full 64-bit finaliser so
 * the low bits used as the slot index depend on every input byte. */
static inline uint64_t hmix(uint64_t h) { return hash_mix64(h); }

uint64_t hash_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)salt;
    return seed;
}

static inline uint64_t hkey(struct str k)
{
    const unsigned char *p = (const unsigned char *)k.p;
    size_t n = k.len;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h = (h << 31) | (h >> 33);
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (n) {
        w = (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 | p[n - 1];
    }
    return hmix(h ^ w);
}

/* Key bytes equal (n bytes each): inline, as the hash already matched and keys are short. */
static inline uint64_t ld8(const char *p) { uint64_t x; memcpy(&x, p, 8); return x; }
static inline uint32_t ld4(const char *p) { uint32_t x; memcpy(&x, p, 4); return x; }
static inline bool keq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (ld8(a + i) != ld8(b + i)) return false;
        return ld8(a + n - 8) == ld8(b + n - 8);          /* the last 8 (may overlap) */
    }
    if (n >= 4) return ld4(a) == ld4(b) && ld4(a + n - 4) == ld4(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static inline __attribute__((always_inline)) size_t find_slot(const struct hmap *m, struct str key, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const struct hmap_slot *sl = &m->tab[i];
        if (!sl->n) return i;
        if (sl->hash == h && sl->n->klen == key.len && keq(sl->n->key, key.p, key.len))
            return i;
        i = (i + 1) & mask;
    }
}

void *hmap_get(const struct hmap *m, struct str key)
{
    if (!m->count) return NULL;
    size_t i = find_slot(m, key, hkey(key));
    return m->tab[i].n ? node_val(m->tab[i].n) : NULL;
}

static void grow(struct hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct hmap_slot *nt = xcalloc(ncap, sizeof *nt);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->tab[i].n) continue;
        size_t j = (size_t)m->tab[i].hash & (ncap - 1);
        while (nt[j].n) j = (j + 1) & (ncap - 1);
        nt[j] = m->tab[i];
    }
    free(m->tab);
    m->tab = nt;
    m->cap = ncap;
}

void *hmap_put(struct hmap *m, struct str key, bool *isnew)
{
    if ((m->count + 1) * 10 > m->cap * 7) grow(m);
    uint64_t h = hkey(key);
    size_t i = find_slot(m, key, h);
    if (m->tab[i].n) {
        if (isnew) *isnew = false;
        return node_val(m->tab[i].n);
    }
    size_t voff = (offsetof(struct hmap_node, key) + key.len + 1 + 15) & ~(size_t)15;
    struct hmap_node *n;
    if (m->ar) {
        n = arena_alloc(m->ar, voff + m->valsize);      /* zeroed */
    } else {
        n = xmalloc(voff + m->valsize);
        memset((char *)n + voff, 0, m->valsize);
    }
    n->klen = key.len;
    n->voff = voff;
    if (key.len) memcpy(n->key, key.p, key.len);
    n->key[key.len] = 0;
    m->tab[i] = (struct hmap_slot){ n, h };
    m->count++;
    if (isnew) *isnew = true;
    return node_val(n);
}

bool hmap_del(struct hmap *m, struct str key)
{
    if (!m->count) return false;
    size_t mask = m->cap - 1, i = find_slot(m, key, hkey(key));
    if (!m->tab[i].n) return false;
    if (!m->ar) free(m->tab[i].n);
    m->tab[i].n = NULL;
    m->count--;
    /* backward-shift: move later members of the probe run into the hole */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->tab[j].n) break;
        size_t home = (size_t)m->tab[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->tab[i] = m->tab[j];
            m->tab[j].n = NULL;
            i = j;
        }
    }
    return true;
}

bool hmap_next(const struct hmap *m, size_t *it, struct str *key, void **val)
{
    while (*it < m->cap) {
        struct hmap_node *n = m->tab[(*it)++].n;
        if (n) {
            if (key) *key = (struct str){ n->key, n->klen };
            if (val) *val = node_val(n);
            return true;
        }
    }
    return false;
}

void hmap_clear(struct hmap *m)
{
    if (!m->ar)
        for (size_t i = 0; i < m->cap; i++) free(m->tab[i].n);
    if (m->cap > HMAP_KEEP_SLOTS) {
        free(m->tab);
        m->tab = NULL;
        m->cap = 0;
    } else if (m->count) {
        memset(m->tab, 0, m->cap * sizeof *m->tab);
    }
    m->count = 0;
}

void hmap_free(struct hmap *m)
{
    if (!m->ar)
        for (size_t i = 0; i < m->cap; i++) free(m->tab[i].n);
    free(m->tab);
    m->tab = NULL;
    m->cap = m->count = 0;
}
