/* prefix - see prefix.h. */
#include "guard/prefix.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

struct pkey {
    uint16_t jail;
    uint8_t fam, plen;
    uint8_t addr[16];
};

struct precent {
    struct cidr m;
    int64_t t;
};

struct pgroup {
    int64_t until;              /* the newest recent member leaves the window then */
    struct precent *rec;        /* need slots (owned) */
    uint8_t nrec, need;
    struct cidr *act;           /* active members (owned) */
    size_t nact, capact;
};

static struct pkey mkkey(uint16_t jail, const struct cidr *P)
{
    struct pkey k;
    memset(&k, 0, sizeof k);
    k.jail = jail;
    k.fam = P->addr.family;
    k.plen = P->prefix;
    memcpy(k.addr, P->addr.b, P->addr.family == 4 ? 4 : 16);
    return k;
}

#define KEY(k) ((struct str){ (const char *)&(k), sizeof(k) })

static bool same(const struct cidr *a, const struct cidr *b)
{
    return a->prefix == b->prefix && ipaddr_eq(&a->addr, &b->addr);
}

void pfx_init(struct pfxtab *p) { hmap_init(&p->map, sizeof(struct pgroup)); }

static void group_free(struct pgroup *g)
{
    free(g->rec);
    free(g->act);
}

void pfx_free(struct pfxtab *p)
{
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&p->map, &it, &k, &v)) group_free(v);
    hmap_free(&p->map);
}

struct cidr pfx_of(const struct cidr *m, unsigned plen)
{
    struct cidr P = *m;
    if (plen < P.prefix) P.prefix = (uint8_t)plen;
    ipaddr_mask(&P.addr, P.prefix);
    return P;
}

static struct pgroup *group(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen, unsigned need)
{
    struct cidr P = pfx_of(m, plen);
    struct pkey k = mkkey(jail, &P);
    bool isnew = false;
    struct pgroup *g = hmap_put(&p->map, KEY(k), &isnew);
    if (need > PFX_MAXNEED) need = PFX_MAXNEED;
    if (need < 1) need = 1;
    if (isnew || g->need != need) {
        /* new, or the jail's prefix.count changed by a reload: start the recent list anew */
        free(g->rec);
        g->rec = xcalloc(need, sizeof *g->rec);     /* owned by the group */
        g->nrec = 0;
        g->need = (uint8_t)need;
    }
    return g;
}

static void add_active(struct pgroup *g, const struct cidr *m)
{
    for (size_t i = 0; i < g->nact; i++)
        if (same(&g->act[i], m)) return;
    g->act = xgrow(g->act, &g->capact, g->nact + 1, sizeof *g->act);
    g->act[g->nact++] = *m;
}

/* Record m at t in the recent list; drop what left the window. Returns the count. */
static size_t add_recent(struct pgroup *g, const struct cidr *m, int64_t t, int64_t window)
{
    size_t w = 0;
    for (size_t i = 0; i < g->nrec; i++) {
        if (g->rec[i].t < t - window || same(&g->rec[i].m, m)) continue;
        g->rec[w++] = g->rec[i];
    }
    if (w == g->need) {                     /* full: the oldest goes */
        size_t o = 0;
        for (size_t i = 1; i < w; i++)
            if (g->rec[i].t < g->rec[o].t) o = i;
        g->rec[o] = g->rec[--w];
    }
    g->rec[w].m = *m;
    g->rec[w].t = t;
    g->nrec = (uint8_t)(w + 1);
    int64_t newest = t;
    for (size_t i = 0; i < g->nrec; i++)
        if (g->rec[i].t > newest) newest = g->rec[i].t;
    g->until = newest + window;
    return g->nrec;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct precent *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return ipaddr_cmp(&x->m.addr, &y->m.addr);
}

size_t pfx_member_ban(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen, unsigned need,
                      int64_t t, int64_t window, struct cidr *out, size_t max)
{
    struct pgroup *g = group(p, jail, m, plen, need);
    add_active(g, m);
    size_t n = add_recent(g, m, t, window);
    struct precent tmp[PFX_MAXNEED];
    memcpy(tmp, g->rec, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, rec_cmp);
    for (size_t i = 0; i < n && i < max; i++) out[i] = tmp[i].m;
    return n;
}

void pfx_member_restore(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen, unsigned need,
                        int64_t t, int64_t window)
{
    struct pgroup *g = group(p, jail, m, plen, need);
    add_active(g, m);
    add_recent(g, m, t, window);
}

void pfx_member_end(struct pfxtab *p, uint16_t jail, const struct cidr *m, unsigned plen)
{
    struct cidr P = pfx_of(m, plen);
    struct pkey k = mkkey(jail, &P);
    struct pgroup *g = hmap_get(&p->map, KEY(k));
    if (!g) return;
    for (size_t i = 0; i < g->nact; i++)
        if (same(&g->act[i], m)) {
            g->act[i] = g->act[--g->nact];
            break;
        }
}

struct cidr *pfx_active(const struct pfxtab *p, uint16_t jail, const struct cidr *P, size_t *n)
{
    struct pkey k = mkkey(jail, P);
    struct pgroup *g = hmap_get(&p->map, KEY(k));
    *n = g ? g->nact : 0;
    if (!*n) return NULL;
    struct cidr *v = xmalloc(*n * sizeof *v);      /* the caller frees */
    memcpy(v, g->act, *n * sizeof *v);
    return v;
}

void pfx_reset_recent(struct pfxtab *p, uint16_t jail, const struct cidr *P)
{
    struct pkey k = mkkey(jail, P);
    struct pgroup *g = hmap_get(&p->map, KEY(k));
    if (g) g->nrec = 0;
}

size_t pfx_sweep(struct pfxtab *p, int64_t now)
{
    struct pkey *dead = NULL;
    size_t nd = 0, cap = 0, it = 0;
    struct str k;
    void *v;
    while (hmap_next(&p->map, &it, &k, &v)) {
        struct pgroup *g = v;
        if (g->nact || (g->nrec && g->until >= now)) continue;
        dead = xgrow(dead, &cap, nd + 1, sizeof *dead);
        memcpy(&dead[nd++], k.p, sizeof *dead);
    }
    for (size_t i = 0; i < nd; i++) {
        struct pgroup *g = hmap_get(&p->map, KEY(dead[i]));
        if (g) group_free(g);
        hmap_del(&p->map, KEY(dead[i]));
    }
    free(dead);
    return nd;
}
