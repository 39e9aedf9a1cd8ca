/* json - see json.h. */
#include "util/json.h"
#include <stdlib.h>

void jw_init(struct jw *w, FILE *f, bool pretty)
{
    w->f = f;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
    w->pretty = pretty;
}

static void indent(struct jw *w)
{
    if (!w->pretty) return;
    /* a newline and two spaces per level, in one write (depth < JW_MAXDEPTH) */
    static const char nl[1 + 2 * JW_MAXDEPTH + 1] = "\n                                                                ";
    fwrite(nl, 1, 1 + 2 * (size_t)w->depth, w->f);
}

static void sep(struct jw *w)
{
    if (w->after_key) { w->after_key = false; return; }
    if (w->depth > 0) {
        if (!w->first[w->depth]) fputc(',', w->f);
        indent(w);
    }
    w->first[w->depth] = false;
}

static void open(struct jw *w, char c)
{
    sep(w);
    fputc(c, w->f);
    if (++w->depth >= JW_MAXDEPTH) abort();
    w->first[w->depth] = true;
}

static void close_(struct jw *w, char c)
{
    bool empty = w->first[w->depth];
    w->depth--;
    if (!empty) indent(w);
    fputc(c, w->f);
}

void jw_obj(struct jw *w) { open(w, '{'); }
void jw_obj_end(struct jw *w) { close_(w, '}'); }
void jw_arr(struct jw *w) { open(w, '['); }
void jw_arr_end(struct jw *w) { close_(w, ']'); }

void jw_key(struct jw *w, const char *key)
{
    sep(w);
    fputc('"', w->f);
    json_escape(w->f, str_c(key));
    fputs(w->pretty ? "\": " : "\":", w->f);
    w->after_key = true;
}

/* Length of a valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Printable ASCII other than '"' and '\\': written as is. */
static bool plain(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

void json_escape(FILE *f, struct str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t run = 0;                  /* start of the bytes not written yet, all as they are */
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        if (plain(c)) { i++; continue; }
        if (c >= 0x80) {
            size_t l = utf8_len(p + i, s.len - i);
            if (l) { i += l; continue; }      /* valid UTF-8 stays in the run */
        }
        /* one run in one write: a table of tens of thousands of rows is mostly plain text */
        if (i > run) fwrite(p + run, 1, i - run, f);
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputs("\xef\xbf\xbd", f);     /* invalid UTF-8: U+FFFD */
        run = ++i;
    }
    if (s.len > run) fwrite(p + run, 1, s.len - run, f);
}

void jw_str(struct jw *w, struct str s)
{
    sep(w);
    fputc('"', w->f);
    json_escape(w->f, s);
    fputc('"', w->f);
}

void jw_cstr(struct jw *w, const char *s)
{
    if (!s) jw_null(w);
    else jw_str(w, str_c(s));
}

void jw_int(struct jw *w, int64_t v)
{
    char b[STR_DEC_MAX];
    sep(w);
    size_t n = str_dec(b, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
    fwrite(b + STR_DEC_MAX - n, 1, n, w->f);
}

void jw_uint(struct jw *w, uint64_t v)
{
    char b[STR_DEC_MAX];
    sep(w);
    size_t n = str_dec(b, v, false);
    fwrite(b + STR_DEC_MAX - n, 1, n, w->f);
}

void jw_double(struct jw *w, double v, int decimals) { sep(w); fprintf(w->f, "%.*f", decimals, v); }
void jw_bool(struct jw *w, bool v) { sep(w); fputs(v ? "true" : "false", w->f); }
void jw_null(struct jw *w) { sep(w); fputs("null", w->f); }
void jw_end(struct jw *w) { fputc('\n', w->f); }
