/*
 * xalloc - allocation that never returns NULL: on failure the process prints a message and
 * aborts (STYLE: "Allocation failure aborts with a message"). Everything returned is owned by
 * the caller and released with free().
 */
#ifndef MW_XALLOC_H
#define MW_XALLOC_H
#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array to hold at least `need` elements of `elsize`; *cap is updated. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elsize);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string (caller frees). The format is always a literal in our code. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
