/*
 * ini - fail2ban configuration semantics; see ini.h. The Python sources this mirrors are
 * named at each function (configparser.py of Python 3.11, fail2ban 1.0 client/ modules).
 */
#include "guard/ini.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INTERPOLATION_DEPTH 10   /* configparser.MAX_INTERPOLATION_DEPTH */
#define MAX_TAG_REPLACE_COUNT 25     /* helpers.MAX_TAG_REPLACE_COUNT */
#define MAX_TAG_PASSES 1000

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Python's str.isspace() for the ASCII range. */
static bool py_space(unsigned char c)
{
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
}

static bool word_char(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

static char *lower_dup(const char *s, size_t n)
{
    char *r = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) r[i] = (char)tolower((unsigned char)s[i]);
    r[n] = 0;
    return r;
}

/* ---- document ---------------------------------------------------------------------- */

struct ini *ini_new(void)
{
    struct ini *d = xcalloc(1, sizeof *d);
    d->cap = 8;
    d->secs = xcalloc(d->cap, sizeof *d->secs);
    d->secs[0].name = xstrdup("DEFAULT");
    d->nsecs = 1;
    return d;
}

static void sec_clear(struct ini_sec *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->opts[i].key);
        free(s->opts[i].val);
    }
    free(s->opts);
    free(s->name);
}

void ini_free(struct ini *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nsecs; i++) sec_clear(&d->secs[i]);
    free(d->secs);
    for (size_t i = 0; i < d->nfiles; i++) free(d->files[i]);
    free(d->files);
    free(d);
}

static struct ini_sec *sec_find(const struct ini *d, const char *name)
{
    if (strcmp(name, "DEFAULT") == 0) return &d->secs[0];
    for (size_t i = 1; i < d->nsecs; i++)
        if (strcmp(d->secs[i].name, name) == 0) return &d->secs[i];
    return NULL;
}

static struct ini_sec *sec_add(struct ini *d, const char *name)
{
    struct ini_sec *s = sec_find(d, name);
    if (s) return s;
    d->secs = xgrow(d->secs, &d->cap, d->nsecs + 1, sizeof *d->secs);
    s = &d->secs[d->nsecs++];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name);
    return s;
}

static struct ini_opt *opt_find(const struct ini_sec *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->opts[i].key, key) == 0) return &s->opts[i];
    return NULL;
}

/* Set (replace in place, keeping the position, as a Python dict does) or append. */
static struct ini_opt *opt_set(struct ini_sec *s, const char *key, const char *val, const char *file, int line)
{
    struct ini_opt *o = opt_find(s, key);
    if (o) {
        free(o->val);
        o->val = xstrdup(val);
    } else {
        s->opts = xgrow(s->opts, &s->cap, s->n + 1, sizeof *s->opts);
        o = &s->opts[s->n++];
        o->key = xstrdup(key);
        o->val = xstrdup(val);
    }
    o->file = file;
    o->line = line;
    return o;
}

static const char *file_intern(struct ini *d, const char *fname)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i], fname) == 0) return d->files[i];
    d->files = xgrow(d->files, &d->fcap, d->nfiles + 1, sizeof *d->files);
    d->files[d->nfiles] = xstrdup(fname);
    return d->files[d->nfiles++];
}

bool ini_has_section(const struct ini *d, const char *sec)
{
    return strcmp(sec, "DEFAULT") != 0 && sec_find(d, sec) != NULL;
}

const struct ini_sec *ini_section(const struct ini *d, const char *sec) { return sec_find(d, sec); }

const struct ini_opt *ini_own(const struct ini *d, const char *sec, const char *key)
{
    const struct ini_sec *s = sec_find(d, sec);
    return s ? opt_find(s, key) : NULL;
}

const char *ini_raw(const struct ini *d, const char *sec, const char *key)
{
    const struct ini_opt *o = ini_own(d, sec, key);
    if (!o) o = opt_find(&d->secs[0], key);
    return o ? o->val : NULL;
}

/* ---- parsing (ConfigParser._read) --------------------------------------------------- */

struct added {                      /* elements_added of one text: "sec" and "sec\x01opt" */
    char **v;
    size_t n, cap;
};

static bool added_has(const struct added *a, const char *s)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], s) == 0) return true;
    return false;
}

static void added_put(struct added *a, char *s)   /* takes s */
{
    a->v = xgrow(a->v, &a->cap, a->n + 1, sizeof *a->v);
    a->v[a->n++] = s;
}

static void added_free(struct added *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
}

/* Finish the current option: join the collected lines, strip trailing whitespace. */
static void flush_opt(struct ini_sec *s, char *key, struct buf *val, const char *file, int line)
{
    if (!s || !key) return;
    size_t n = val->len;
    while (n > 0 && py_space((unsigned char)val->p[n - 1])) n--;
    char *v = xstrndup(val->p ? val->p : "", n);
    opt_set(s, key, v, file, line);
    free(v);
}

int ini_parse(struct ini *d, const char *text, size_t len, const char *fname,
              char *err, size_t errlen)
{
    const char *file = file_intern(d, fname);
    struct added added = { 0 };
    struct ini_sec *cursect = NULL;
    char *sectname = NULL, *optname = NULL;
    int optline = 0;
    struct buf val = BUF_INIT(INI_MAX_VALUE);
    size_t indent_level = 0;
    int lineno = 0, rc = 0;
    size_t pos = 0;

    while (pos < len) {
        /* universal newlines, as Python's text mode */
        size_t start = pos, end = pos;
        while (end < len && text[end] != '\n' && text[end] != '\r') end++;
        pos = end;
        if (pos < len) {
            if (text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n') pos += 2;
            else pos++;
        }
        lineno++;
        const char *line = text + start;
        size_t llen = end - start;
        if (memchr(line, 0, llen)) {
            seterr(err, errlen, "%s:%d: NUL byte in configuration", fname, lineno);
            rc = -1;
            break;
        }

        /* comments: inline " ;" (or ';' at column 0), full-line '#' or ';' */
        size_t comment_start = (size_t)-1;
        for (size_t i = 0; i < llen; i++)
            if (line[i] == ';' && (i == 0 || py_space((unsigned char)line[i - 1]))) {
                comment_start = i;
                break;
            }
        size_t a = 0, b = llen;
        while (a < b && py_space((unsigned char)line[a])) a++;
        if (a < b && (line[a] == '#' || line[a] == ';')) comment_start = 0;
        size_t vend = comment_start == (size_t)-1 ? llen : comment_start;
        size_t vs = 0, ve = vend;
        while (vs < ve && py_space((unsigned char)line[vs])) vs++;
        while (ve > vs && py_space((unsigned char)line[ve - 1])) ve--;

        if (vs == ve) {
            /* empty_lines_in_values: an empty (not comment) line inside a value is kept */
            if (comment_start == (size_t)-1 && cursect && optname)
                if (buf_putc(&val, '\n') < 0) goto toolong;
            continue;
        }
        size_t cur_indent = 0;
        while (cur_indent < llen && py_space((unsigned char)line[cur_indent])) cur_indent++;

        if (cursect && optname && cur_indent > indent_level) {
            if (buf_putc(&val, '\n') < 0 || buf_append(&val, line + vs, ve - vs) < 0) goto toolong;
            continue;
        }
        indent_level = cur_indent;
        const char *v = line + vs;
        size_t vl = ve - vs;

        /* section header: \[(?P<header>.+)\] matched at the start (greedy to the last ']') */
        size_t rb = vl;
        if (v[0] == '[') {
            for (size_t i = vl; i-- > 2;)
                if (v[i] == ']') { rb = i; break; }
        }
        if (v[0] == '[' && rb != vl) {
            flush_opt(cursect, optname, &val, file, optline);
            free(optname);
            optname = NULL;
            buf_reset(&val);
            free(sectname);
            sectname = xstrndup(v + 1, rb - 1);
            if (strcmp(sectname, "DEFAULT") == 0) {
                cursect = &d->secs[0];
            } else if (sec_find(d, sectname)) {
                if (added_has(&added, sectname)) {
                    seterr(err, errlen, "%s:%d: section [%s] already exists", fname, lineno, sectname);
                    rc = -1;
                    break;
                }
                cursect = sec_find(d, sectname);
                added_put(&added, xstrdup(sectname));
            } else {
                cursect = sec_add(d, sectname);
                added_put(&added, xstrdup(sectname));
            }
            continue;
        }
        if (!cursect) {
            seterr(err, errlen, "%s:%d: file contains no section headers", fname, lineno);
            rc = -1;
            break;
        }
        /* option: (?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$ */
        size_t di = 0;
        while (di < vl && v[di] != '=' && v[di] != ':') di++;
        if (di == vl) {
            seterr(err, errlen, "%s:%d: parsing error: %.*s", fname, lineno, (int)(vl > 80 ? 80 : vl), v);
            rc = -1;
            break;
        }
        size_t ke = di;
        while (ke > 0 && py_space((unsigned char)v[ke - 1])) ke--;
        if (ke == 0) {
            seterr(err, errlen, "%s:%d: option without a name", fname, lineno);
            rc = -1;
            break;
        }
        flush_opt(cursect, optname, &val, file, optline);
        free(optname);
        buf_reset(&val);
        optname = lower_dup(v, ke);
        optline = lineno;
        char *key = xasprintf("%s\x01%s", sectname, optname);
        if (added_has(&added, key)) {
            free(key);
            seterr(err, errlen, "%s:%d: option '%s' in section [%s] already exists", fname, lineno,
                   optname, sectname);
            rc = -1;
            break;
        }
        added_put(&added, key);
        size_t os_ = di + 1;
        while (os_ < vl && py_space((unsigned char)v[os_])) os_++;
        if (buf_append(&val, v + os_, vl - os_) < 0) goto toolong;
        continue;
toolong:
        seterr(err, errlen, "%s:%d: value too long", fname, lineno);
        rc = -1;
        break;
    }
    if (rc == 0) flush_opt(cursect, optname, &val, file, optline);
    free(optname);
    free(sectname);
    buf_free(&val);
    added_free(&added);
    return rc;
}

/* ---- reading files with includes (configparserinc.py) ------------------------------- */

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Read a whole (small) file. 1 ok, 0 missing/unreadable, -1 too big (err set). */
static int slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return 0;
    }
    if ((unsigned long long)st.st_size > INI_MAX_FILE) {
        fclose(f);
        seterr(err, errlen, "%s: configuration file too large", path);
        return -1;
    }
    struct buf b = BUF_INIT(INI_MAX_FILE + 1);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (buf_append(&b, tmp, n) < 0) {
            fclose(f);
            buf_free(&b);
            seterr(err, errlen, "%s: configuration file too large", path);
            return -1;
        }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        return 0;
    }
    *len = b.len;
    *out = b.p ? b.p : xstrdup("");
    return 1;
}

/* Parsed files of one ini_read() call, so a file included many times is parsed once. */
struct pcache {
    char **path;
    struct ini **doc;     /* NULL: missing */
    size_t n, cap, cap2;
    size_t listed;        /* entries produced into include lists (bound) */
};

static void pcache_free(struct pcache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->path[i]);
        ini_free(c->doc[i]);
    }
    free(c->path);
    free(c->doc);
}

/* Parse one file standalone. *out NULL when it does not exist. */
static int parse_cached(struct pcache *c, const char *path, struct ini **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->path[i], path) == 0) {
            *out = c->doc[i];
            return 0;
        }
    if (c->n >= INI_MAX_FILES) {
        seterr(err, errlen, "%s: too many configuration files", path);
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    int r = slurp(path, &text, &len, err, errlen);
    if (r < 0) return -1;
    struct ini *doc = NULL;
    if (r > 0) {
        doc = ini_new();
        if (ini_parse(doc, text, len, path, err, errlen) < 0) {
            free(text);
            ini_free(doc);
            return -1;
        }
        free(text);
    }
    c->path = xgrow(c->path, &c->cap, c->n + 1, sizeof *c->path);
    c->doc = xgrow(c->doc, &c->cap2, c->n + 1, sizeof *c->doc);
    c->path[c->n] = xstrdup(path);
    c->doc[c->n] = doc;
    c->n++;
    *out = doc;
    return 0;
}

struct strlist {
    char **v;
    size_t n, cap;
};

static void sl_push(struct strlist *l, const char *s)
{
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = xstrdup(s);
}

static bool sl_has(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0) return true;
    return false;
}

static void sl_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* os.path.splitext(p)[0] + ".local" */
static char *local_twin(const char *p)
{
    const char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    while (*base == '.') base++;               /* leading dots do not start an extension */
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - p) : strlen(p);
    return xasprintf("%.*s.local", (int)stem, p);
}

static int get_includes(struct pcache *c, const struct strlist *files, const struct strlist *seen,
                        int depth, struct strlist *out, char *err, size_t errlen);

/* __getIncludesUncached: [before...] + [resource] + [after...] */
static int includes_of(struct pcache *c, const char *resource, const struct strlist *seen, int depth,
                       struct strlist *out, char *err, size_t errlen)
{
    struct ini *doc;
    if (parse_cached(c, resource, &doc, err, errlen) < 0) return -1;
    if (!doc) return 0;
    if (++c->listed > INI_MAX_FILES) {
        seterr(err, errlen, "%s: too many included files", resource);
        return -1;
    }
    char *dir = xstrdup(resource);
    char *sl = strrchr(dir, '/');
    if (sl) sl[0] = 0;
    else dir[0] = 0;
    struct strlist before = { 0 }, after = { 0 };
    int rc = 0;
    if (ini_has_section(doc, "INCLUDES")) {
        static const char *const which[2] = { "before", "after" };
        for (int w = 0; w < 2 && rc == 0; w++) {
            char *v = NULL;
            int g = ini_get(doc, "INCLUDES", which[w], NULL, &v, err, errlen);
            if (g < 0) { rc = -1; break; }
            if (g == 0) continue;
            if (depth >= INI_MAX_DEPTH) {
                seterr(err, errlen, "%s: includes nested too deeply", resource);
                free(v);
                rc = -1;
                break;
            }
            struct strlist *dst = w == 0 ? &before : &after;
            char *save = v;
            for (char *p = v; rc == 0;) {
                char *nl = strchr(p, '\n');
                if (nl) *nl = 0;
                char *r = p[0] == '/' || !dir[0] ? xstrdup(p) : xasprintf("%s/%s", dir, p);
                if (!sl_has(seen, r)) {
                    struct strlist s2 = { 0 }, one = { 0 };
                    for (size_t i = 0; i < seen->n; i++) sl_push(&s2, seen->v[i]);
                    sl_push(&s2, resource);
                    sl_push(&one, r);
                    rc = get_includes(c, &one, &s2, depth + 1, dst, err, errlen);
                    sl_free(&s2);
                    sl_free(&one);
                }
                free(r);
                if (!nl) break;
                p = nl + 1;
            }
            free(save);
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < before.n; i++) sl_push(out, before.v[i]);
        sl_push(out, resource);
        for (size_t i = 0; i < after.n; i++) sl_push(out, after.v[i]);
    }
    sl_free(&before);
    sl_free(&after);
    free(dir);
    return rc;
}

/* _getIncludes: each file followed by its .local twin, then expanded */
static int get_includes(struct pcache *c, const struct strlist *files, const struct strlist *seen,
                        int depth, struct strlist *out, char *err, size_t errlen)
{
    struct strlist exp = { 0 };
    for (size_t i = 0; i < files->n; i++) {
        sl_push(&exp, files->v[i]);
        char *loc = local_twin(files->v[i]);
        if (!sl_has(files, loc) && is_file(loc)) sl_push(&exp, loc);
        free(loc);
    }
    int rc = 0;
    for (size_t i = 0; i < exp.n && rc == 0; i++)
        rc = includes_of(c, exp.v[i], seen, depth, out, err, errlen);
    sl_free(&exp);
    return rc;
}

/* Merge a standalone-parsed file into d (SafeConfigParserWithIncludes.read, merge part). */
static void merge_doc(struct ini *d, const struct ini *src)
{
    for (size_t i = 0; i < src->secs[0].n; i++) {
        const struct ini_opt *o = &src->secs[0].opts[i];
        opt_set(&d->secs[0], o->key, o->val, file_intern(d, o->file), o->line);
    }
    for (size_t si = 1; si < src->nsecs; si++) {
        const struct ini_sec *s = &src->secs[si];
        /* conditional section "name?cond": options become "opt?cond" in section name */
        const char *name = s->name;
        const char *cond = NULL;
        char *base = NULL;
        const char *q = strchr(name, '?');
        if (q && q > name && q[1]) {
            bool ok = true;
            for (const char *p = name; p < q; p++)
                if (!word_char((unsigned char)*p)) ok = false;
            if (ok) {
                base = xstrndup(name, (size_t)(q - name));
                cond = q;
                name = base;
            }
        }
        struct ini_sec *dst = sec_find(d, name);
        if (dst && dst != &d->secs[0]) {
            char *kn = xasprintf("KNOWN/%s", name);
            struct ini_sec *known = NULL;
            for (size_t i = 0; i < s->n; i++) {
                char *k = cond ? xasprintf("%s%s", s->opts[i].key, cond) : xstrdup(s->opts[i].key);
                struct ini_opt *old = opt_find(dst, k);
                if (old) {
                    if (!known) known = sec_add(d, kn);
                    dst = sec_find(d, name);            /* sec_add may move sections */
                    old = opt_find(dst, k);
                    opt_set(known, k, old->val, old->file, old->line);
                }
                free(k);
            }
            free(kn);
        }
        dst = sec_add(d, name);
        for (size_t i = 0; i < s->n; i++) {
            const struct ini_opt *o = &s->opts[i];
            char *k = cond ? xasprintf("%s%s", o->key, cond) : xstrdup(o->key);
            opt_set(dst, k, o->val, file_intern(d, o->file), o->line);
            free(k);
        }
        free(base);
    }
}

int ini_read(struct ini *d, const char *const *paths, size_t n, char *err, size_t errlen)
{
    struct pcache c = { 0 };
    struct strlist files = { 0 }, seen = { 0 }, full = { 0 };
    for (size_t i = 0; i < n; i++) sl_push(&files, paths[i]);
    int rc = get_includes(&c, &files, &seen, 0, &full, err, errlen);
    int nread = 0;
    for (size_t i = 0; rc == 0 && i < full.n; i++) {
        struct ini *doc;
        if (parse_cached(&c, full.v[i], &doc, err, errlen) < 0) { rc = -1; break; }
        if (!doc) continue;
        merge_doc(d, doc);
        file_intern(d, full.v[i]);
        nread++;
    }
    sl_free(&files);
    sl_free(&full);
    pcache_free(&c);
    return rc < 0 ? -1 : nread;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void glob_sorted(const char *pattern, struct strlist *out)
{
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return;
    qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
    for (size_t i = 0; i < g.gl_pathc; i++) sl_push(out, g.gl_pathv[i]);
    globfree(&g);
}

int ini_read_base(struct ini *d, const char *base, char *err, size_t errlen)
{
    struct strlist cand = { 0 }, exist = { 0 };
    char *p = xasprintf("%s.conf", base);
    sl_push(&cand, p);
    free(p);
    p = xasprintf("%s.d/*.conf", base);
    glob_sorted(p, &cand);
    free(p);
    p = xasprintf("%s.local", base);
    sl_push(&cand, p);
    free(p);
    p = xasprintf("%s.d/*.local", base);
    glob_sorted(p, &cand);
    free(p);
    for (size_t i = 0; i < cand.n; i++)
        if (is_file(cand.v[i])) sl_push(&exist, cand.v[i]);
    int rc;
    if (exist.n == 0) {
        seterr(err, errlen, "%s: found no accessible config files (%s.conf, %s.local)", base, base, base);
        rc = 0;
    } else {
        rc = ini_read(d, (const char *const *)exist.v, exist.n, err, errlen);
    }
    sl_free(&cand);
    sl_free(&exist);
    return rc;
}

/* ---- vars --------------------------------------------------------------------------- */

void ini_vars_setn(struct ini_vars *v, const char *key, size_t klen, const char *val, size_t vlen)
{
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->kv[i].key) == klen && memcmp(v->kv[i].key, key, klen) == 0) {
            free(v->kv[i].val);
            v->kv[i].val = xstrndup(val, vlen);
            return;
        }
    v->kv = xgrow(v->kv, &v->cap, v->n + 1, sizeof *v->kv);
    v->kv[v->n].key = xstrndup(key, klen);
    v->kv[v->n].val = xstrndup(val, vlen);
    v->n++;
}

void ini_vars_set(struct ini_vars *v, const char *key, const char *val)
{
    ini_vars_setn(v, key, strlen(key), val, strlen(val));
}

const char *ini_vars_get(const struct ini_vars *v, const char *key)
{
    if (!v) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->kv[i].key, key) == 0) return v->kv[i].val;
    return NULL;
}

void ini_vars_copy(struct ini_vars *dst, const struct ini_vars *src)
{
    if (!src) return;
    for (size_t i = 0; i < src->n; i++) ini_vars_set(dst, src->kv[i].key, src->kv[i].val);
}

void ini_vars_free(struct ini_vars *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->kv[i].key);
        free(v->kv[i].val);
    }
    free(v->kv);
    v->kv = NULL;
    v->n = v->cap = 0;
}

/* ---- interpolation (BasicInterpolation + fail2ban's BasicInterpolationWithName) --- */

/* One level of the interpolation map: __name__ and the "sec/opt" values mapped for it. */
struct frame {
    const struct frame *up;
    struct ini_vars v;
};

static const char *frame_get(const struct frame *f, const char *key)
{
    for (; f; f = f->up) {
        const char *r = ini_vars_get(&f->v, key);
        if (r) return r;
    }
    return NULL;
}

struct ictx {
    const struct ini *d;
    const char *sec;                 /* section being read */
    const struct ini_sec *s;         /* its options (DEFAULT for DEFAULT) */
    const struct ini_vars *vars;     /* keys lower-cased */
    const char *option;              /* for messages */
    char *err;
    size_t errlen;
};

static const char *map_get(const struct ictx *c, const struct frame *f, const char *key)
{
    const char *r = frame_get(f, key);
    if (r) return r;
    if ((r = ini_vars_get(c->vars, key))) return r;
    const struct ini_opt *o = opt_find(c->s, key);
    if (o) return o->val;
    o = opt_find(&c->d->secs[0], key);
    return o ? o->val : NULL;
}

/* _map_section_options: make %(sec/opt)s, %(known/opt)s, %(default/opt)s resolvable. */
static void map_section_options(const struct ictx *c, struct frame *f, const char *rest)
{
    if (!strchr(rest, '/') || !strstr(rest, "%(")) return;
    for (const char *p = rest; (p = strstr(p, "%(")) != NULL;) {
        const char *q = p + 2, *s0 = q;
        while (*q && (word_char((unsigned char)*q) || *q == '-')) q++;
        if (q == s0 || *q != '/') { p += 2; continue; }
        const char *sl = q;
        const char *o0 = q + 1;
        q = o0;
        while (*q && *q != ')') q++;
        if (q == o0 || q[0] != ')' || q[1] != 's') { p += 2; continue; }
        char *sopt = lower_dup(s0, (size_t)(q - s0));
        char *sec = xstrndup(s0, (size_t)(sl - s0));
        char *opt = lower_dup(o0, (size_t)(q - o0));
        p = q + 2;
        if (!map_get(c, f, sopt)) {
            const char *v = NULL;
            bool usedef = false;
            if (strcasecmp(sec, "default") == 0) {
                usedef = true;
            } else if (strcasecmp(sec, "known") == 0) {
                char *kn = xasprintf("KNOWN/%s", c->sec);
                const struct ini_sec *ks = sec_find(c->d, kn);
                free(kn);
                const struct ini_opt *o = ks ? opt_find(ks, opt) : NULL;
                if (o) v = o->val;
                else usedef = true;
            } else {
                const struct ini_sec *ss = sec_find(c->d, sec);
                if (ss) {
                    const struct ini_opt *o = opt_find(ss, opt);
                    if (o) v = o->val;
                    else usedef = true;
                }
            }
            if (usedef) {
                const struct ini_opt *o = opt_find(&c->d->secs[0], opt);
                if (o) v = o->val;
            }
            if (v) ini_vars_set(&f->v, sopt, v);
        }
        free(sopt);
        free(sec);
        free(opt);
    }
}

static int interpolate(const struct ictx *c, const struct frame *up, const char *rest,
                       struct buf *out, int depth)
{
    if (depth > MAX_INTERPOLATION_DEPTH) {
        seterr(c->err, c->errlen, "[%s] %s: interpolation nested too deeply (more than %d levels)",
               c->sec, c->option, MAX_INTERPOLATION_DEPTH);
        return -1;
    }
    struct frame f = { up, { 0 } };
    ini_vars_set(&f.v, "__name__", c->sec);
    map_section_options(c, &f, rest);
    int rc = 0;
    const char *p = rest;
    while (*p) {
        const char *pc = strchr(p, '%');
        if (!pc) {
            if (buf_puts(out, p) < 0) goto toolong;
            break;
        }
        if (buf_append(out, p, (size_t)(pc - p)) < 0) goto toolong;
        if (pc[1] == '%') {
            if (buf_putc(out, '%') < 0) goto toolong;
            p = pc + 2;
        } else if (pc[1] == '(') {
            const char *close = strchr(pc + 2, ')');
            if (!close || close == pc + 2 || close[1] != 's') {
                seterr(c->err, c->errlen, "[%s] %s: bad interpolation variable reference %.60s",
                       c->sec, c->option, pc);
                rc = -1;
                break;
            }
            char *var = lower_dup(pc + 2, (size_t)(close - pc - 2));
            const char *v = map_get(c, &f, var);
            if (!v) {
                seterr(c->err, c->errlen, "[%s] %s: bad interpolation: option '%s' not found",
                       c->sec, c->option, var);
                free(var);
                rc = -1;
                break;
            }
            free(var);
            p = close + 2;
            if (strchr(v, '%')) {
                if (interpolate(c, &f, v, out, depth + 1) < 0) { rc = -1; break; }
            } else if (buf_puts(out, v) < 0) {
                goto toolong;
            }
        } else {
            seterr(c->err, c->errlen, "[%s] %s: '%%' must be followed by '%%' or '(', found: %.40s",
                   c->sec, c->option, pc);
            rc = -1;
            break;
        }
        continue;
toolong:
        seterr(c->err, c->errlen, "[%s] %s: interpolated value too long", c->sec, c->option);
        rc = -1;
        break;
    }
    ini_vars_free(&f.v);
    return rc;
}

int ini_get(const struct ini *d, const char *sec, const char *key, const struct ini_vars *vars,
            char **out, char *err, size_t errlen)
{
    const struct ini_sec *s = sec_find(d, sec);
    if (!s) return 0;
    struct ini_vars lv = { 0 };
    if (vars)
        for (size_t i = 0; i < vars->n; i++) {
            char *k = lower_dup(vars->kv[i].key, strlen(vars->kv[i].key));
            ini_vars_set(&lv, k, vars->kv[i].val);
            free(k);
        }
    char *lk = lower_dup(key, strlen(key));
    struct ictx c = { d, sec, s, &lv, lk, err, errlen };
    const char *raw = map_get(&c, NULL, lk);
    int rc = 0;
    if (raw) {
        struct buf b = BUF_INIT(INI_MAX_VALUE);
        if (interpolate(&c, NULL, raw, &b, 1) < 0) {
            rc = -1;
        } else {
            *out = b.p ? b.p : xstrdup("");
            b.p = NULL;
            rc = 1;
        }
        buf_free(&b);
    }
    free(lk);
    ini_vars_free(&lv);
    return rc;
}

int ini_get_ex(const struct ini *d, const char *sec, const char *key, const struct ini_vars *vars,
               char **out, char *err, size_t errlen)
{
    /* ^([\w\-]+)/([^\s>]+)$ */
    const char *sl = strchr(key, '/');
    bool secopt = sl && sl > key && sl[1];
    for (const char *p = key; secopt && p < sl; p++)
        if (!word_char((unsigned char)*p) && *p != '-') secopt = false;
    for (const char *p = sl ? sl + 1 : key; secopt && *p; p++)
        if (py_space((unsigned char)*p) || *p == '>') secopt = false;
    if (secopt) {
        char *s = xstrndup(key, (size_t)(sl - key));
        const char *opt = sl + 1;
        int r = 0;
        if (strcasecmp(s, "known") == 0) {
            char *kn = xasprintf("KNOWN/%s", sec);
            r = ini_get(d, kn, opt, NULL, out, err, errlen);
            free(kn);
            if (r == 0) r = ini_get(d, sec, opt, NULL, out, err, errlen);
        } else {
            r = ini_get(d, strcasecmp(s, "default") == 0 ? "DEFAULT" : s, opt, NULL, out, err, errlen);
        }
        free(s);
        if (r != 0) return r;
    }
    return ini_get(d, sec, key, vars, out, err, errlen);
}

/* ---- filter arguments (helpers.extractOptions) --------------------------------------- */

int ini_split_option(const char *spec, char **name, struct ini_vars *opts, char *err, size_t errlen)
{
    /* ^([^\[]+)(?:\[(.*)\])?\s*$ */
    const char *lb = strchr(spec, '[');
    size_t nlen = lb ? (size_t)(lb - spec) : strlen(spec);
    if (nlen == 0) {
        seterr(err, errlen, "unexpected option syntax: %.60s", spec);
        return -1;
    }
    const char *optstr = NULL;
    size_t olen = 0;
    if (lb) {
        const char *end = spec + strlen(spec);
        while (end > lb && py_space((unsigned char)end[-1])) end--;
        if (end <= lb + 1 || end[-1] != ']') {
            seterr(err, errlen, "unexpected option syntax: %.60s", spec);
            return -1;
        }
        optstr = lb + 1;
        olen = (size_t)(end - 1 - optstr);
    } else {
        /* trailing whitespace is allowed by \s*$ but belongs to the name ([^\[]+ is greedy) */
    }
    *name = xstrndup(spec, nlen);
    size_t i = 0;
    while (optstr && i <= olen) {
        size_t p = i;
        while (p < olen && py_space((unsigned char)optstr[p])) p++;
        size_t k0 = p;
        while (p < olen && (isalnum((unsigned char)optstr[p]) || optstr[p] == '_' || optstr[p] == '-' ||
                            optstr[p] == '.' || (unsigned char)optstr[p] >= 0x80))
            p++;
        if (p > k0 && p < olen && optstr[p] == '=') {
            size_t k1 = p;
            p++;
            const char *v;
            size_t vl;
            char q = optstr[p];
            const char *cq = (q == '"' || q == '\'') && p < olen ?
                memchr(optstr + p + 1, q, olen - p - 1) : NULL;
            if (cq) {
                v = optstr + p + 1;
                vl = (size_t)(cq - v);
                p = (size_t)(cq - optstr) + 1;
            } else {
                v = optstr + p;
                while (p < olen && optstr[p] != ',' && optstr[p] != ']') p++;
                vl = (size_t)(optstr + p - v);
            }
            /* terminator: ',' | \]\s*\[ | $ | anything else is an error */
            if (p == olen || (p + 1 == olen && optstr[p] == '\n')) {
                p = olen + 1;
            } else if (optstr[p] == ',') {
                p++;
            } else if (optstr[p] == ']') {
                size_t t = p + 1;
                while (t < olen && py_space((unsigned char)optstr[t])) t++;
                if (t < olen && optstr[t] == '[') p = t + 1;
                else goto wrong_a;
            } else {
                goto wrong_a;
            }
            /* key and value stripped */
            size_t ks = k0, ke = k1;
            while (vl && py_space((unsigned char)v[0])) { v++; vl--; }
            while (vl && py_space((unsigned char)v[vl - 1])) vl--;
            ini_vars_setn(opts, optstr + ks, ke - ks, v, vl);
            i = p;
            continue;
wrong_a:
            seterr(err, errlen, "unexpected syntax at %zu after option '%.*s': %.25s", p,
                   (int)(k1 - k0), optstr + k0, optstr + p);
            free(*name);
            *name = NULL;
            return -1;
        }
        /* ,?\s*$ */
        p = i;
        if (p < olen && optstr[p] == ',') p++;
        while (p < olen && py_space((unsigned char)optstr[p])) p++;
        if (p >= olen) break;
        seterr(err, errlen, "expected option, wrong syntax at %zu: %.25s", i, optstr + i);
        free(*name);
        *name = NULL;
        return -1;
    }
    return 0;
}

/* ---- <tag> substitution (helpers.substituteRecursiveTags) --------------------------- */

/* Next <tag> at or after from: TAG_CRE = <([^ <>]+)> */
static bool tag_search(const char *s, size_t from, size_t *ts, size_t *te)
{
    for (const char *p = strchr(s + from, '<'); p; p = strchr(p + 1, '<')) {
        const char *q = p + 1;
        while (*q && *q != ' ' && *q != '<' && *q != '>') q++;
        if (*q == '>' && q > p + 1) {
            *ts = (size_t)(p - s);
            *te = (size_t)(q - s) + 1;
            return true;
        }
    }
    return false;
}

/* Replace every occurrence of pat in *val by rep. -1 when the result grows too big. */
static int replace_all(char **val, const char *pat, const char *rep)
{
    size_t pl = strlen(pat), rl = strlen(rep);
    struct buf b = BUF_INIT(INI_MAX_VALUE);
    const char *p = *val;
    for (const char *q; (q = strstr(p, pat)) != NULL; p = q + pl)
        if (buf_append(&b, p, (size_t)(q - p)) < 0 || buf_append(&b, rep, rl) < 0) {
            buf_free(&b);
            return -1;
        }
    if (buf_puts(&b, p) < 0) {
        buf_free(&b);
        return -1;
    }
    free(*val);
    *val = b.p ? b.p : xstrdup("");
    return 0;
}

struct repcount {          /* per tag: how often each other tag was replaced into it */
    struct ini_vars counts; /* value = decimal count */
};

int ini_subst_tags(struct ini_vars *tags, const struct ini_vars *ignore, ini_lookup_fn lookup,
                   void *ud, char *err, size_t errlen)
{
    size_t n = tags->n;
    bool *done = xcalloc(n ? n : 1, sizeof *done);
    struct repcount *rc = xcalloc(n ? n : 1, sizeof *rc);
    int ret = 0;
    for (int pass = 0; ret == 0; pass++) {
        if (pass >= MAX_TAG_PASSES) {
            seterr(err, errlen, "tag substitution does not terminate");
            ret = -1;
            break;
        }
        bool again = false;
        for (size_t ti = 0; ti < n && ret == 0; ti++) {
            const char *tag = tags->kv[ti].key;
            if (done[ti] || ini_vars_get(ignore, tag)) continue;
            char *value = xstrdup(tags->kv[ti].val);
            struct ini_vars rplc = { 0 };
            ini_vars_copy(&rplc, &rc[ti].counts);
            size_t ts, te;
            bool found = tag_search(value, 0, &ts, &te);
            while (found) {
                char *rtag = xstrndup(value + ts + 1, te - ts - 2);
                if (ini_vars_get(ignore, rtag)) {
                    free(rtag);
                    found = tag_search(value, te, &ts, &te);
                    continue;
                }
                const char *cnt = ini_vars_get(&rplc, rtag);
                long count = cnt ? strtol(cnt, NULL, 10) : 0;
                if (strcmp(rtag, tag) == 0 || (cnt ? count : 1) > MAX_TAG_REPLACE_COUNT) {
                    seterr(err, errlen, "properties contain self referencing definitions and cannot "
                           "be resolved, fail tag: %s, found: %s", tag, rtag);
                    free(rtag);
                    ret = -1;
                    break;
                }
                char *repl = NULL;
                const char *tv = ini_vars_get(tags, rtag);
                if (tv) {
                    repl = xstrdup(tv);
                } else if (lookup) {
                    bool failed = false;
                    repl = lookup(ud, rtag, &failed);
                    if (failed) {
                        free(repl);
                        free(rtag);
                        ret = -1;
                        break;
                    }
                }
                if (!repl) {
                    free(rtag);
                    found = tag_search(value, te, &ts, &te);
                    continue;
                }
                char *pat = xasprintf("<%s>", rtag);
                int r = replace_all(&value, pat, repl);
                free(pat);
                free(repl);
                if (r < 0) {
                    seterr(err, errlen, "value of '%s' grows too big substituting <%s>", tag, rtag);
                    free(rtag);
                    ret = -1;
                    break;
                }
                char num[32];
                snprintf(num, sizeof num, "%ld", count + 1);
                ini_vars_set(&rplc, rtag, num);
                free(rtag);
                found = tag_search(value, ts, &ts, &te);
            }
            if (ret == 0 && strcmp(value, tags->kv[ti].val) != 0) {
                size_t a, b;
                if (tag_search(value, 0, &a, &b)) {
                    ini_vars_free(&rc[ti].counts);
                    rc[ti].counts = rplc;
                    rplc = (struct ini_vars){ 0 };
                    again = true;
                }
                free(tags->kv[ti].val);
                tags->kv[ti].val = value;
                value = NULL;
            }
            if (ret == 0 && !strchr(tags->kv[ti].val, '<')) done[ti] = true;
            free(value);
            ini_vars_free(&rplc);
        }
        if (!again) break;
    }
    for (size_t i = 0; i < n; i++) ini_vars_free(&rc[i].counts);
    free(rc);
    free(done);
    return ret;
}

/* ---- [Definition]/[Init] reader (DefinitionInitConfigReader) ------------------------ */

struct comb_ctx {
    const struct ini *d;
    const struct ini_vars *popts;
    struct ini_vars cache;      /* tag -> value ("" + flag byte for "absent") */
    char *err;
    size_t errlen;
};

static char *comb_lookup(void *ud, const char *tag, bool *failed)
{
    struct comb_ctx *c = ud;
    const char *hit = ini_vars_get(&c->cache, tag);
    if (hit) return hit[0] == 1 ? NULL : xstrdup(hit + 1);
    char *v = NULL;
    int r = ini_get_ex(c->d, "Definition", tag, c->popts, &v, c->err, c->errlen);
    if (r < 0) {
        *failed = true;
        return NULL;
    }
    if (r == 0) {
        ini_vars_set(&c->cache, tag, "\x01");
        return NULL;
    }
    char *cv = xasprintf("\x02%s", v);
    ini_vars_set(&c->cache, tag, cv);
    free(cv);
    return v;
}

int ini_definit(const struct ini *d, const char *const *names, size_t nnames,
                const struct ini_vars *args, struct ini_vars *out, char *err, size_t errlen)
{
    struct ini_vars popts = { 0 }, init = { 0 }, comb = { 0 }, ignore = { 0 };
    ini_vars_copy(&popts, args);
    ini_vars_copy(&init, args);
    int rc = 0;
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        if (ini_vars_get(&popts, names[i])) continue;
        char *v = NULL;
        int r = ini_get(d, "Definition", names[i], &popts, &v, err, errlen);
        if (r < 0) rc = -1;
        else if (r > 0) {
            ini_vars_set(&comb, names[i], v);
            free(v);
        }
    }
    const struct ini_sec *is = ini_has_section(d, "Init") ? sec_find(d, "Init") : NULL;
    for (size_t i = 0; is && i < is->n && rc == 0; i++) {
        const char *k = is->opts[i].key;
        if (strcmp(k, "__name__") == 0) continue;
        char *v = NULL;
        int r = ini_get(d, "Init", k, NULL, &v, err, errlen);
        if (r < 0) { rc = -1; break; }
        if (r == 0) continue;
        if (strncmp(k, "known/", 6) != 0) {
            char *kk = xasprintf("known/%s", k);
            ini_vars_set(&init, kk, v);
            free(kk);
        }
        if (!ini_vars_get(&init, k)) ini_vars_set(&init, k, v);
        free(v);
    }
    if (rc == 0) {
        ini_vars_copy(&comb, &init);
        /* conditional options "opt?cond" exclude "opt" from substitution */
        for (size_t i = 0; i < comb.n; i++) {
            const char *k = comb.kv[i].key, *q = strchr(k, '?');
            if (q && q > k && q[1]) {
                bool ok = true;
                for (const char *p = k; p < q; p++)
                    if (!word_char((unsigned char)*p)) ok = false;
                if (ok) ini_vars_setn(&ignore, k, (size_t)(q - k), "", 0);
            }
        }
        struct comb_ctx cc = { d, &popts, { 0 }, err, errlen };
        rc = ini_subst_tags(&comb, &ignore, comb_lookup, &cc, err, errlen);
        ini_vars_free(&cc.cache);
    }
    if (rc == 0) ini_vars_copy(out, &comb);
    ini_vars_free(&popts);
    ini_vars_free(&init);
    ini_vars_free(&comb);
    ini_vars_free(&ignore);
    return rc;
}
