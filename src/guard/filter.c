/*
 * filter - the registry of built-in filters and the generic helpers of filter.h.
 * Built-in mail filters (issue 5, part 3) add their entries to filter_builtins[]; each
 * provides an open() that returns a struct filter whose ops->feed() reports failures with
 * the host taken from the structural slot of the parsed line (src/parse/).
 */
#include "guard/filter.h"
#include <stdlib.h>
#include <string.h>

const struct filter_builtin filter_builtins[] = {
    { NULL, NULL, NULL },
};

const struct filter_builtin *filter_builtin_find(const char *name)
{
    for (const struct filter_builtin *b = filter_builtins; b->name; b++)
        if (strcmp(b->name, name) == 0) return b;
    return NULL;
}

void filter_close(struct filter *f)
{
    if (!f) return;
    if (f->ops && f->ops->close) f->ops->close(f);
    else {
        free(f->name);
        free(f);
    }
}
