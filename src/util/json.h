/*
 * json - streaming JSON writer onto a FILE. Keeps track of commas and nesting; strings are
 * escaped and made valid UTF-8 (invalid bytes become U+FFFD), so log text of any kind can
 * be written safely. Nesting deeper than JW_MAXDEPTH is a programming error (aborts).
 */
#ifndef MW_JSON_H
#define MW_JSON_H
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

#define JW_MAXDEPTH 32

struct jw {
    FILE *f;
    int depth;
    bool first[JW_MAXDEPTH];
    bool after_key;
    bool pretty;
};

void jw_init(struct jw *w, FILE *f, bool pretty);
void jw_obj(struct jw *w);          /* { */
void jw_obj_end(struct jw *w);      /* } */
void jw_arr(struct jw *w);          /* [ */
void jw_arr_end(struct jw *w);      /* ] */
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, struct str s);
void jw_cstr(struct jw *w, const char *s);   /* NULL writes null */
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_double(struct jw *w, double v, int decimals);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* Finish a top-level document with a newline. */
void jw_end(struct jw *w);

/* Escape s as JSON string content (without quotes) onto f. */
void json_escape(FILE *f, struct str s);

#endif
