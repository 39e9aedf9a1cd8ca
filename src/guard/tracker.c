/* tracker - see tracker.h. */
#include "guard/tracker.h"
#include "util/hash.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

/* Entry layout: this header, then the address (4 bytes in an IPv4 pool, 16 in an IPv6 one),
 * then the ring of the last maxretry failure times (uint32 seconds). The family is the pool's,
 * so an IPv4 entry does not carry 12 bytes of zeros. */
struct ent {
    uint32_t prev, next;        /* LRU links: index + 1, 0 = none; next doubles as free link */
    uint8_t n, head, dirty, pad; /* dirty: changed since tracker_visit() last saw it */
    uint8_t addr[];
};
#define ENT_HDR ((size_t)offsetof(struct ent, addr))

struct pool {
    unsigned maxretry;
    int64_t findtime;
    size_t stride;
    uint8_t fam, alen;          /* 4: IPv4 (4-byte addresses); 6: IPv6 (16) */
    char *ents;
    uint32_t used, cap;         /* entries handed out (high water) / allocated */
    uint32_t freelist;          /* index + 1 */
    uint32_t *slots;            /* index + 1, 0 = empty */
    uint32_t nslots, count;
    uint32_t lru_head, lru_tail;
};

/* one pool per jail and family */
#define NFAM 2
struct tracker {
    struct pool pools[TRK_MAXJAILS][NFAM];
    int njails;
    size_t cap, total;
    uint64_t evictions;
    uint64_t seed;
};

static inline struct ent *E(const struct pool *p, uint32_t idx)
{
    return (struct ent *)(p->ents + (size_t)idx * p->stride);
}

static inline uint32_t *T(const struct pool *p, const struct ent *e)
{
    return (uint32_t *)((char *)e + ENT_HDR + p->alen);
}

static struct pool *pool_of(struct tracker *t, int jail, uint8_t family)
{
    return &t->pools[jail][family == 4 ? 0 : 1];
}

static uint64_t key_hash(const struct tracker *t, const struct pool *p, const uint8_t *addr)
{
    if (p->alen == 4) {
        uint32_t a;
        memcpy(&a, addr, 4);
        return hash_mix64(t->seed ^ a);
    }
    uint64_t a, b;
    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    return hash_mix64(hash_mix64(t->seed ^ a) ^ b ^ t->seed);
}

struct tracker *tracker_new(size_t cap)
{
    struct tracker *t = xcalloc(1, sizeof *t);
    t->cap = cap ? cap : TRK_DEFAULT_CAP;
    t->seed = hash_seed(t);
    return t;
}

void tracker_set_cap(struct tracker *t, size_t cap) { t->cap = cap ? cap : TRK_DEFAULT_CAP; }

void tracker_free(struct tracker *t)
{
    if (!t) return;
    for (int i = 0; i < t->njails; i++)
        for (int f = 0; f < NFAM; f++) {
            free(t->pools[i][f].ents);
            free(t->pools[i][f].slots);
        }
    free(t);
}

int tracker_add_jail(struct tracker *t, unsigned maxretry, int64_t findtime)
{
    if (t->njails >= TRK_MAXJAILS) return -1;
    if (maxretry < 1) maxretry = 1;
    if (maxretry > TRK_MAXRETRY) maxretry = TRK_MAXRETRY;
    for (int f = 0; f < NFAM; f++) {
        struct pool *p = &t->pools[t->njails][f];
        memset(p, 0, sizeof *p);
        p->maxretry = maxretry;
        p->findtime = findtime > 0 ? findtime : 1;
        p->fam = f == 0 ? 4 : 6;
        p->alen = f == 0 ? 4 : 16;
        p->stride = ENT_HDR + p->alen + 4 * (size_t)maxretry;
    }
    return t->njails++;
}

/* slot index of the key, or of the empty slot where it would go */
static uint32_t find_slot(const struct tracker *t, const struct pool *p, const uint8_t *k)
{
    uint32_t mask = p->nslots - 1, i = (uint32_t)key_hash(t, p, k) & mask;
    for (;;) {
        uint32_t s = p->slots[i];
        if (!s) return i;
        struct ent *e = E(p, s - 1);
        if (memcmp(e->addr, k, p->alen) == 0) return i;
        i = (i + 1) & mask;
    }
}

static void rehash(const struct tracker *t, struct pool *p, uint32_t nslots)
{
    uint32_t *old = p->slots, on = p->nslots;
    p->slots = xcalloc(nslots, sizeof *p->slots);
    p->nslots = nslots;
    for (uint32_t i = 0; i < on; i++) {
        if (!old[i]) continue;
        struct ent *e = E(p, old[i] - 1);
        uint32_t j = (uint32_t)key_hash(t, p, e->addr) & (nslots - 1);
        while (p->slots[j]) j = (j + 1) & (nslots - 1);
        p->slots[j] = old[i];
    }
    free(old);
}

static void lru_unlink(struct pool *p, uint32_t idx)
{
    struct ent *e = E(p, idx);
    if (e->prev) E(p, e->prev - 1)->next = e->next; else p->lru_head = e->next;
    if (e->next) E(p, e->next - 1)->prev = e->prev; else p->lru_tail = e->prev;
    e->prev = e->next = 0;
}

static void lru_append(struct pool *p, uint32_t idx)
{
    struct ent *e = E(p, idx);
    e->prev = p->lru_tail;
    e->next = 0;
    if (p->lru_tail) E(p, p->lru_tail - 1)->next = idx + 1; else p->lru_head = idx + 1;
    p->lru_tail = idx + 1;
}

/* Remove the entry in slot i (backward-shift deletion keeps probe chains intact). */
static void remove_slot(struct tracker *t, struct pool *p, uint32_t i)
{
    uint32_t idx = p->slots[i] - 1, mask = p->nslots - 1;
    lru_unlink(p, idx);
    struct ent *e = E(p, idx);
    e->next = p->freelist;
    p->freelist = idx + 1;
    p->slots[i] = 0;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint32_t s = p->slots[j];
        if (!s) break;
        struct ent *x = E(p, s - 1);
        uint32_t home = (uint32_t)key_hash(t, p, x->addr) & mask;
        /* move x back into the hole unless its home lies cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            p->slots[i] = s;
            p->slots[j] = 0;
            i = j;
        }
    }
    p->count--;
    t->total--;
}

static uint32_t newest(const struct pool *p, const struct ent *e)
{
    return e->n ? T(p, e)[(e->head + e->n - 1) % p->maxretry] : 0;
}

static void remove_idx(struct tracker *t, struct pool *p, uint32_t idx)
{
    struct ent *e = E(p, idx);
    remove_slot(t, p, find_slot(t, p, e->addr));
}

static void evict_one(struct tracker *t)
{
    struct pool *best = NULL;
    uint32_t bt = 0;
    for (int i = 0; i < t->njails * NFAM; i++) {
        struct pool *p = &t->pools[i / NFAM][i % NFAM];
        if (!p->lru_head) continue;
        uint32_t nt = newest(p, E(p, p->lru_head - 1));
        if (!best || nt < bt) { best = p; bt = nt; }
    }
    if (!best) return;
    remove_idx(t, best, best->lru_head - 1);
    t->evictions++;
}

static uint32_t clamp_t(int64_t when)
{
    if (when < 0) return 0;
    if (when > (int64_t)UINT32_MAX) return UINT32_MAX;
    return (uint32_t)when;
}

static unsigned in_window(const struct pool *p, const struct ent *e, int64_t now)
{
    unsigned c = 0;
    for (unsigned k = 0; k < e->n; k++) {
        int64_t x = T(p, e)[(e->head + k) % p->maxretry];
        if (x >= now - p->findtime) c++;
    }
    return c;
}

unsigned tracker_fail(struct tracker *t, int jail, const struct ipaddr *ip, int64_t when, unsigned n)
{
    if (jail < 0 || jail >= t->njails || !ip->family) return 0;
    struct pool *p = pool_of(t, jail, ip->family);
    const uint8_t *k = ip->b;
    uint32_t idx;
    uint32_t i = p->nslots ? find_slot(t, p, k) : 0;
    if (p->nslots && p->slots[i]) {
        idx = p->slots[i] - 1;
        lru_unlink(p, idx);
    } else {
        while (t->total >= t->cap) evict_one(t);
        if ((uint64_t)(p->count + 1) * 10 > (uint64_t)p->nslots * 7)
            rehash(t, p, p->nslots ? p->nslots * 2 : 64);
        if (p->freelist) {
            idx = p->freelist - 1;
            p->freelist = E(p, idx)->next;
        } else {
            if (p->used == p->cap) {
                size_t ncap = p->cap ? (size_t)p->cap * 2 : 64;
                p->ents = xrealloc(p->ents, ncap * p->stride);
                p->cap = (uint32_t)ncap;
            }
            idx = p->used++;
        }
        struct ent *e = E(p, idx);
        memset(e, 0, p->stride);
        memcpy(e->addr, k, p->alen);
        i = find_slot(t, p, k);
        p->slots[i] = idx + 1;
        p->count++;
        t->total++;
    }
    lru_append(p, idx);
    struct ent *e = E(p, idx);
    if (n > p->maxretry) n = p->maxretry;
    if (n == 0) n = 1;
    uint32_t tv = clamp_t(when);
    e->dirty = 1;
    for (unsigned r = 0; r < n; r++) {
        if (e->n < p->maxretry) {
            T(p, e)[(e->head + e->n) % p->maxretry] = tv;
            e->n++;
        } else {
            T(p, e)[e->head] = tv;
            e->head = (uint8_t)((e->head + 1) % p->maxretry);
        }
    }
    return in_window(p, e, when);
}

unsigned tracker_count(const struct tracker *t, int jail, const struct ipaddr *ip, int64_t now)
{
    if (jail < 0 || jail >= t->njails || !ip->family) return 0;
    const struct pool *p = &t->pools[jail][ip->family == 4 ? 0 : 1];
    if (!p->nslots) return 0;
    uint32_t i = find_slot(t, p, ip->b);
    return p->slots[i] ? in_window(p, E(p, p->slots[i] - 1), now) : 0;
}

void tracker_forget(struct tracker *t, int jail, const struct ipaddr *ip)
{
    if (jail < 0 || jail >= t->njails || !ip->family) return;
    struct pool *p = pool_of(t, jail, ip->family);
    if (!p->nslots) return;
    uint32_t i = find_slot(t, p, ip->b);
    if (p->slots[i]) remove_slot(t, p, i);
}

size_t tracker_expire(struct tracker *t, int64_t now)
{
    size_t n = 0;
    for (int j = 0; j < t->njails * NFAM; j++) {
        struct pool *p = &t->pools[j / NFAM][j % NFAM];
        while (p->lru_head) {
            struct ent *e = E(p, p->lru_head - 1);
            if ((int64_t)newest(p, e) >= now - p->findtime) break;
            remove_idx(t, p, p->lru_head - 1);
            n++;
        }
    }
    return n;
}

void tracker_clear_jail(struct tracker *t, int jail)
{
    if (jail < 0 || jail >= t->njails) return;
    for (int f = 0; f < NFAM; f++) {
        struct pool *p = &t->pools[jail][f];
        t->total -= p->count;
        free(p->ents);
        free(p->slots);
        struct pool keep = *p;
        memset(p, 0, sizeof *p);
        p->maxretry = keep.maxretry;
        p->findtime = keep.findtime;
        p->stride = keep.stride;
        p->fam = keep.fam;
        p->alen = keep.alen;
    }
}

size_t tracker_jail_count(const struct tracker *t, int jail)
{
    return jail >= 0 && jail < t->njails ? t->pools[jail][0].count + t->pools[jail][1].count : 0;
}
size_t tracker_total(const struct tracker *t) { return t->total; }
uint64_t tracker_evictions(const struct tracker *t) { return t->evictions; }
size_t tracker_stride(const struct tracker *t, int jail, int family)
{
    return jail >= 0 && jail < t->njails ? t->pools[jail][family == 4 ? 0 : 1].stride : 0;
}

size_t tracker_bytes(const struct tracker *t)
{
    size_t b = 0;
    for (int j = 0; j < t->njails; j++)
        for (int f = 0; f < NFAM; f++)
            b += (size_t)t->pools[j][f].cap * t->pools[j][f].stride + (size_t)t->pools[j][f].nslots * 4;
    return b;
}

size_t tracker_visit(struct tracker *t, bool dirty_only, tracker_visit_fn fn, void *ud)
{
    size_t n = 0;
    uint32_t times[TRK_MAXRETRY];
    for (int jf = 0; jf < t->njails * NFAM; jf++) {
        int j = jf / NFAM;
        struct pool *p = &t->pools[j][jf % NFAM];
        for (uint32_t idx = p->lru_head; idx; idx = E(p, idx - 1)->next) {
            struct ent *e = E(p, idx - 1);
            if (dirty_only && !e->dirty) continue;
            e->dirty = 0;
            struct ipaddr ip;
            memset(&ip, 0, sizeof ip);
            ip.family = p->fam;
            memcpy(ip.b, e->addr, p->alen);
            for (unsigned k = 0; k < e->n; k++) times[k] = T(p, e)[(e->head + k) % p->maxretry];
            fn(ud, j, &ip, times, e->n);
            n++;
        }
    }
    return n;
}
