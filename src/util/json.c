/* json - see json.h. */
#include "util/json.h"
#include <stdlib.h>
#include <inttypes.h>

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
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->f);
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

void json_escape(FILE *f, struct str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); i++; }
        else if (c == '\n') { fputs("\\n", f); i++; }
        else if (c == '\r') { fputs("\\r", f); i++; }
        else if (c == '\t') { fputs("\\t", f); i++; }
        else if (c < 0x20 || c == 0x7f) { fprintf(f, "\\u%04x", c); i++; }
        else if (c < 0x80) { fputc(c, f); i++; }
        else {
            size_t l = utf8_len(p + i, s.len - i);
            if (l == 0) { fputs("\xef\xbf\xbd", f); i++; }
            else { fwrite(p + i, 1, l, f); i += l; }
        }
    }
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

void jw_int(struct jw *w, int64_t v) { sep(w); fprintf(w->f, "%" PRId64, v); }
void jw_uint(struct jw *w, uint64_t v) { sep(w); fprintf(w->f, "%" PRIu64, v); }
void jw_double(struct jw *w, double v, int decimals) { sep(w); fprintf(w->f, "%.*f", decimals, v); }
void jw_bool(struct jw *w, bool v) { sep(w); fputs(v ? "true" : "false", w->f); }
void jw_null(struct jw *w) { sep(w); fputs("null", w->f); }
void jw_end(struct jw *w) { fputc('\n', w->f); }
