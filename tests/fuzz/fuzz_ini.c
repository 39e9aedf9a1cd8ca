/* fuzz_ini - fail2ban configuration text: ConfigParser parsing, interpolation (%(x)s,
 * known/, default/, section/opt), <tag> substitution, the [Definition]/[Init] reader and
 * filter arguments "name[k=v,...]". Anything may be rejected; nothing may crash, hang or
 * leak. */
#include "guard/ini.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char *text = malloc(size + 1);
    if (size) memcpy(text, data, size);
    text[size] = 0;
    char err[INI_ERRLEN];
    /* the first line is also tried as a filter spec with arguments */
    const char *nl = memchr(text, '\n', size);
    char *first = strndup(text, nl ? (size_t)(nl - text) : size);
    char *name = NULL;
    struct ini_vars args = { 0 };
    if (ini_split_option(first, &name, &args, err, sizeof err) == 0) free(name);
    free(first);
    struct ini *d = ini_new();
    if (ini_parse(d, text, size, "fuzz.conf", err, sizeof err) == 0) {
        static const char *const names[] = { "failregex", "ignoreregex", "prefregex", "datepattern", "maxlines",
                                             "journalmatch", "usedns" };
        struct ini_vars out = { 0 };
        ini_definit(d, names, sizeof names / sizeof *names, &args, &out, err, sizeof err);
        ini_vars_free(&out);
        /* every option of every section, interpolated */
        for (size_t s = 0; s < d->nsecs; s++)
            for (size_t o = 0; o < d->secs[s].n; o++) {
                char *v = NULL;
                if (ini_get_ex(d, d->secs[s].name, d->secs[s].opts[o].key, &args, &v, err, sizeof err) > 0) free(v);
            }
        /* the options as a tag table */
        if (d->nsecs > 1) {
            struct ini_vars t = { 0 };
            for (size_t o = 0; o < d->secs[1].n; o++) ini_vars_set(&t, d->secs[1].opts[o].key, d->secs[1].opts[o].val);
            ini_subst_tags(&t, NULL, NULL, NULL, err, sizeof err);
            ini_vars_free(&t);
        }
    }
    ini_free(d);
    ini_vars_free(&args);
    free(text);
    return 0;
}
