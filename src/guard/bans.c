/* bans - see bans.h. */
#include "guard/bans.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

struct bankey {
    uint16_t jail;
    uint8_t fam, prefix;
    uint8_t addr[16];
};

static struct bankey mkkey(uint16_t jail, const struct cidr *c)
{
    struct bankey k;
    memset(&k, 0, sizeof k);
    k.jail = jail;
    k.fam = c->addr.family;
    k.prefix = c->prefix;
    memcpy(k.addr, c->addr.b, c->addr.family == 4 ? 4 : 16);
    return k;
}

void bans_init(struct bans *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    hmap_init(&b->map, sizeof(struct ban));
    b->cap = cap ? cap : BANS_DEFAULT_CAP;
}

void bans_free(struct bans *b)
{
    size_t it = 0;
    struct ban *x;
    while ((x = bans_next(b, &it))) free(x->members);
    hmap_free(&b->map);
    free(b->heap);
    memset(b, 0, sizeof *b);
}

static bool before(const struct ban *a, const struct ban *c) { return a->end < c->end; }

static void heap_set(struct bans *b, size_t i, struct ban *x)
{
    b->heap[i] = x;
    x->heap_idx = (uint32_t)(i + 1);
}

static void sift_up(struct bans *b, size_t i)
{
    struct ban *x = b->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(x, b->heap[parent])) break;
        heap_set(b, i, b->heap[parent]);
        i = parent;
    }
    heap_set(b, i, x);
}

static void sift_down(struct bans *b, size_t i)
{
    struct ban *x = b->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct ban *best = x;
        if (l < b->nheap && before(b->heap[l], best)) { m = l; best = b->heap[l]; }
        if (r < b->nheap && before(b->heap[r], best)) { m = r; }
        if (m == i) break;
        heap_set(b, i, b->heap[m]);
        i = m;
    }
    heap_set(b, i, x);
}

static void heap_remove(struct bans *b, struct ban *x)
{
    if (!x->heap_idx) return;
    size_t i = x->heap_idx - 1;
    x->heap_idx = 0;
    b->nheap--;
    if (i == b->nheap) return;
    struct ban *y = b->heap[b->nheap];
    heap_set(b, i, y);
    sift_down(b, i);
    sift_up(b, y->heap_idx - 1);
}

static void heap_push(struct bans *b, struct ban *x)
{
    b->heap = xgrow(b->heap, &b->capheap, b->nheap + 1, sizeof *b->heap);
    heap_set(b, b->nheap, x);
    b->nheap++;
    sift_up(b, b->nheap - 1);
}

struct ban *bans_find(const struct bans *b, uint16_t jail, const struct cidr *target)
{
    struct bankey k = mkkey(jail, target);
    return hmap_get(&b->map, (struct str){ (const char *)&k, sizeof k });
}

struct ban *bans_add(struct bans *b, uint16_t jail, const struct cidr *target, int64_t start,
                     int64_t bantime, uint32_t failures, uint32_t count)
{
    struct bankey k = mkkey(jail, target);
    struct str ks = { (const char *)&k, sizeof k };
    struct ban *x = hmap_get(&b->map, ks);
    if (x) {
        heap_remove(b, x);
        free(x->members);
    } else {
        if (hmap_count(&b->map) >= b->cap) return NULL;
        x = hmap_put(&b->map, ks, NULL);
    }
    x->jail = jail;
    x->target = *target;
    x->start = start;
    x->bantime = bantime;
    x->end = bantime < 0 ? BAN_PERMANENT : start + bantime;
    x->failures = failures;
    x->count = count;
    x->heap_idx = 0;
    x->members = NULL;
    x->nmembers = 0;
    if (x->end != BAN_PERMANENT) heap_push(b, x);
    return x;
}

void bans_set_members(struct ban *x, const struct cidr *m, size_t n)
{
    free(x->members);
    x->members = NULL;
    x->nmembers = 0;
    if (n > BAN_MAXMEMBERS) n = BAN_MAXMEMBERS;
    if (!n) return;
    x->members = xmalloc(n * sizeof *m);     /* owned by the ban; freed with it */
    memcpy(x->members, m, n * sizeof *m);
    x->nmembers = (uint8_t)n;
}

void bans_remove(struct bans *b, struct ban *x)
{
    heap_remove(b, x);
    free(x->members);
    x->members = NULL;
    struct bankey k = mkkey(x->jail, &x->target);
    hmap_del(&b->map, (struct str){ (const char *)&k, sizeof k });
}

struct ban *bans_due(const struct bans *b, int64_t now)
{
    return b->nheap && b->heap[0]->end <= now ? b->heap[0] : NULL;
}

int64_t bans_next_end(const struct bans *b)
{
    return b->nheap ? b->heap[0]->end : INT64_MAX;
}

struct ban *bans_next(const struct bans *b, size_t *it)
{
    struct str k;
    void *v;
    return hmap_next(&b->map, it, &k, &v) ? v : NULL;
}

size_t bans_jail_count(const struct bans *b, uint16_t jail)
{
    size_t it = 0, n = 0;
    struct ban *x;
    while ((x = bans_next(b, &it))) n += x->jail == jail;
    return n;
}

int64_t bantime_calc(const struct bantime_rule *r, uint32_t count, double rnd01)
{
    if (r->bantime < 0) return -1;
    if (!r->increment) return r->bantime;
    double t = (double)r->bantime * (r->factor > 0 ? r->factor : 1.0);
    if (r->nmult) {
        t *= (double)r->mult[count < r->nmult ? count : r->nmult - 1];
    } else {
        t *= (double)(1ULL << (count < 20 ? count : 20));
    }
    if (r->rndtime > 0) t += rnd01 * (double)r->rndtime;
    if (r->maxtime > 0 && t > (double)r->maxtime) t = (double)r->maxtime;
    if (t > 1e15) t = 1e15;
    if (t < 1) t = 1;
    return (int64_t)t;
}
