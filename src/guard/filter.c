/*
 * filter - the registry of built-in filters and the generic helpers of filter.h.
 * Built-in mail filters (issue 5, part 3) add their entries to filter_builtins[]; each
 * provides an open() that returns a struct filter whose ops->feed() reports failures with
 * the host taken from the structural slot of the parsed line (src/parse/).
 */
#include "guard/filter.h"
#include <stdlib.h>
#include <string.h>

/* filter_builtin.c: the mail filters of the line model, behind this interface */
struct filter *builtin_open_postfix(const struct ini_vars *opts, int64_t now, char *err, size_t errlen);
struct filter *builtin_open_dovecot(const struct ini_vars *opts, int64_t now, char *err, size_t errlen);
struct filter *builtin_open_sshd(const struct ini_vars *opts, int64_t now, char *err, size_t errlen);

const struct filter_builtin filter_builtins[] = {
    { "mailwarden-postfix", "Postfix rejects, SASL failures, postscreen (modes: see guard)", builtin_open_postfix },
    { "mailwarden-dovecot", "Dovecot IMAP/POP3/submission/managesieve authentication failures", builtin_open_dovecot },
    { "mailwarden-sshd", "OpenSSH authentication failures", builtin_open_sshd },
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
