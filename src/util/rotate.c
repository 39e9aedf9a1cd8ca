/*
 * rotate - expand a log's base path to its rotated family, oldest first (see reader.h).
 *
 * Members recognised next to BASE (same directory, regular files after following symlinks):
 *   BASE-YYYYMMDD[HH][.gz|.xz|.zst|.bz2]   logrotate "dateext" (by date and hour, ascending)
 *   BASE.N[.gz|.xz|.zst|.bz2]              numbered (N descending: BASE.1 is newer than .2;
 *                                          savelog's BASE.0 is the newest of them)
 *   BASE                                   the live file, always last
 * Order when both kinds exist: all dateext members, then all numbered ones. The two are
 * alternatives in a logrotate configuration, so both together mean the configuration changed;
 * we cannot tell in which direction, and pick one fixed, documented order.
 * When the same member exists plain and compressed (mail.log.1 and mail.log.1.gz while
 * logrotate is compressing it), only the plain one is taken: the compressed one may still be
 * incomplete, and taking both would count every line twice.
 * Anything else (BASE.bak, BASE-foo, BASE.1.old, BASE-2026) is ignored.
 *
 * Ownership: rotate_expand() returns a malloc'd array of malloc'd paths; rotate_free()
 * releases both. "-" (stdin) expands to itself.
 */
#include "util/reader.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum member_kind { MK_DATE, MK_NUM };

struct member {
    enum member_kind kind;
    uint64_t key;       /* YYYYMMDDHH for dateext, N for numbered */
    int suffix;         /* 0 = plain, else index+1 into suffixes[] */
    char *path;
};

static const char *const suffixes[] = { ".gz", ".xz", ".zst", ".bz2" };

/* s (len n) is "" or one of the compression suffixes: the index+1, 0 for "", -1 otherwise. */
static int suffix_index(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (strlen(suffixes[i]) == n && memcmp(s, suffixes[i], n) == 0) return (int)i + 1;
    return -1;
}

static size_t digits(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i;
}

static uint64_t to_u64(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

/* Classify a directory entry name against base name b. true when it is a member. */
static bool classify(const char *name, const char *b, size_t blen, struct member *m)
{
    size_t n = strlen(name);
    if (n <= blen + 1 || memcmp(name, b, blen) != 0) return false;
    const char *rest = name + blen + 1;
    size_t rlen = n - blen - 1;
    size_t d = digits(rest, rlen);
    int sx = suffix_index(rest + d, rlen - d);
    if (sx < 0) return false;
    if (name[blen] == '-') {
        if (d != 8 && d != 10) return false;
        uint64_t v = to_u64(rest, d);
        if (d == 8) v *= 100;
        unsigned mon = (unsigned)(v / 10000 % 100), day = (unsigned)(v / 100 % 100);
        unsigned hour = (unsigned)(v % 100);
        if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23) return false;
        m->kind = MK_DATE;
        m->key = v;
    } else if (name[blen] == '.') {
        /* 1-9 digits, no leading zeros except "0" itself (savelog). */
        if (d == 0 || d > 9 || (d > 1 && rest[0] == '0')) return false;
        m->kind = MK_NUM;
        m->key = to_u64(rest, d);
    } else {
        return false;
    }
    m->suffix = sx;
    return true;
}

/* Oldest first: dateext ascending, then numbered descending; plain before compressed. */
static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    if (x->kind != y->kind) return x->kind == MK_DATE ? -1 : 1;
    if (x->key != y->key) {
        bool lt = x->key < y->key;
        if (x->kind == MK_NUM) lt = !lt;
        return lt ? -1 : 1;
    }
    return x->suffix - y->suffix;
}

static bool is_regular(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

size_t rotate_expand(const char *base, char ***out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = 0;
    if (strcmp(base, "-") == 0) {
        char **v = xmalloc(sizeof *v);
        v[0] = xstrdup(base);
        *out = v;
        return 1;
    }

    const char *slash = strrchr(base, '/');
    char *dir = slash ? xstrndup(base, (size_t)(slash - base) + (slash == base)) : xstrdup(".");
    const char *bname = slash ? slash + 1 : base;
    size_t blen = strlen(bname);

    struct member *mv = NULL;
    size_t mn = 0, mcap = 0;
    int dir_errno = 0;
    DIR *dp = blen ? opendir(dir) : NULL;
    if (blen && !dp) dir_errno = errno;
    if (dp) {
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            struct member m;
            if (!classify(de->d_name, bname, blen, &m)) continue;
            /* base already ends in '/' only for "/" itself, which has blen == 0. */
            m.path = xasprintf("%.*s%s", (int)(bname - base), base, de->d_name);
            if (!is_regular(m.path)) { free(m.path); continue; }
            mv = xgrow(mv, &mcap, mn + 1, sizeof *mv);
            mv[mn++] = m;
        }
        closedir(dp);
    }
    free(dir);
    if (mn > 1) qsort(mv, mn, sizeof *mv, member_cmp);

    bool have_base = blen && is_regular(base);
    char **v = xmalloc((mn + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < mn; i++) {
        /* Same member plain and compressed: sorted plain first, keep only that one. */
        if (i > 0 && mv[i].kind == mv[i - 1].kind && mv[i].key == mv[i - 1].key) {
            free(mv[i].path);
            continue;
        }
        v[k++] = mv[i].path;
    }
    free(mv);
    if (have_base) v[k++] = xstrdup(base);

    if (k == 0) {
        free(v);
        if (err && errlen) {
            if (dir_errno && dir_errno != ENOENT)
                snprintf(err, errlen, "%s: %s", base, strerror(dir_errno));
            else
                snprintf(err, errlen, "%s: No such file or directory (and no rotated members)", base);
        }
        return 0;
    }
    *out = v;
    return k;
}

void rotate_free(char **paths, size_t n)
{
    if (!paths) return;
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}
