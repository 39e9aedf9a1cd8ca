/* dynlib - see dynlib.h. */
#include "util/dynlib.h"
#include <dlfcn.h>
#include <stdio.h>

int dynlib_load(const char *soname, const char *pkg, const char *const *names, void **fns, size_t n,
                char *err, size_t errlen)
{
    /* RTLD_NOLOAD first: a second caller gets the loaded library without a new search */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h) h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s cannot be loaded (install %s): %s", soname, pkg, e ? e : "not found");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        dlerror();
        fns[i] = dlsym(h, names[i]);
        if (!fns[i]) {
            snprintf(err, errlen, "%s: symbol %s missing (incompatible version?)", soname, names[i]);
            return -1;
        }
    }
    return 0;
}
