/*
 * dynlib - optional shared libraries loaded when a feature is configured, not at exec.
 *
 * libmariadb (with libssl/libcrypto behind it) and libnftables (with libnftnl, libxtables,
 * libgmp) cost the guard daemon ~2.5 MB of resident memory and ~0.6 MB of relocated,
 * private pages when linked eagerly, for features most setups never enable (the MySQL
 * last-login hook; a command or ipset action instead of nftables). Headers still come from
 * pkg-config at build time; only the symbols are resolved here, by soname (the Makefile
 * passes the one the build found, MW_SONAME_*).
 *
 * Ownership: a loaded library stays loaded for the life of the process (never dlclose'd:
 * these libraries keep global state). Errors: -1 with a message that names the library and
 * the Debian package to install.
 */
#ifndef MW_DYNLIB_H
#define MW_DYNLIB_H
#include <stddef.h>

#ifndef MW_SONAME_MARIADB
#define MW_SONAME_MARIADB "libmariadb.so.3"
/*
 * DYNLIB_TABLE(tab, load, FNS, soname, pkg) defines `static struct { ... } tab` with one
 * pointer per function in the X-macro list FNS (typed from the library's own header) and
 * `static int load(char *err, size_t errlen)`, which fills it once (0, or -1 with err).
 * Callers then write tab.fn(...). Needs <stdbool.h> and <string.h>.
 */
#define DYNLIB_PTR_(f) __typeof__(f) *f;
#define DYNLIB_NAME_(f) #f,
#define DYNLIB_TABLE(tab, load, FNS, soname, pkg)                                           \
    static struct { FNS(DYNLIB_PTR_) } tab;                                                 \
    static int load(char *err, size_t errlen)                                               \
    {                                                                                       \
        static bool loaded_;                                                                \
        static const char *const names_[] = { FNS(DYNLIB_NAME_) };                          \
        void *p_[sizeof names_ / sizeof names_[0]];                                         \
        if (loaded_) return 0;                                                              \
        if (dynlib_load(soname, pkg, names_, p_, sizeof names_ / sizeof names_[0], err,     \
                        errlen) < 0)                                                        \
            return -1;                                                                      \
        /* the table is laid out as the name list: one function pointer per entry */      \
        _Static_assert(sizeof tab == sizeof p_, "one pointer per name");                    \
        memcpy(&tab, p_, sizeof tab);                                                       \
        loaded_ = true;                                                                     \
        return 0;                                                                           \
    }

#endif
#ifndef MW_SONAME_NFTABLES
#define MW_SONAME_NFTABLES "libnftables.so.1"
/*
 * DYNLIB_TABLE(tab, load, FNS, soname, pkg) defines `static struct { ... } tab` with one
 * pointer per function in the X-macro list FNS (typed from the library's own header) and
 * `static int load(char *err, size_t errlen)`, which fills it once (0, or -1 with err).
 * Callers then write tab.fn(...). Needs <stdbool.h> and <string.h>.
 */
#define DYNLIB_PTR_(f) __typeof__(f) *f;
#define DYNLIB_NAME_(f) #f,
#define DYNLIB_TABLE(tab, load, FNS, soname, pkg)                                           \
    static struct { FNS(DYNLIB_PTR_) } tab;                                                 \
    static int load(char *err, size_t errlen)                                               \
    {                                                                                       \
        static bool loaded_;                                                                \
        static const char *const names_[] = { FNS(DYNLIB_NAME_) };                          \
        void *p_[sizeof names_ / sizeof names_[0]];                                         \
        if (loaded_) return 0;                                                              \
        if (dynlib_load(soname, pkg, names_, p_, sizeof names_ / sizeof names_[0], err,     \
                        errlen) < 0)                                                        \
            return -1;                                                                      \
        /* the table is laid out as the name list: one function pointer per entry */      \
        _Static_assert(sizeof tab == sizeof p_, "one pointer per name");                    \
        memcpy(&tab, p_, sizeof tab);                                                       \
        loaded_ = true;                                                                     \
        return 0;                                                                           \
    }

#endif

/*
 * Open soname (once; later calls reuse the handle) and resolve names[0..n-1] into fns[].
 * pkg: the package that provides the library, for the message. 0, or -1 with err.
 */
int dynlib_load(const char *soname, const char *pkg, const char *const *names, void **fns, size_t n,
                char *err, size_t errlen);

/*
 * DYNLIB_TABLE(tab, load, FNS, soname, pkg) defines `static struct { ... } tab` with one
 * pointer per function in the X-macro list FNS (typed from the library's own header) and
 * `static int load(char *err, size_t errlen)`, which fills it once (0, or -1 with err).
 * Callers then write tab.fn(...). Needs <stdbool.h> and <string.h>.
 */
#define DYNLIB_PTR_(f) __typeof__(f) *f;
#define DYNLIB_NAME_(f) #f,
#define DYNLIB_TABLE(tab, load, FNS, soname, pkg)                                           \
    static struct { FNS(DYNLIB_PTR_) } tab;                                                 \
    static int load(char *err, size_t errlen)                                               \
    {                                                                                       \
        static bool loaded_;                                                                \
        static const char *const names_[] = { FNS(DYNLIB_NAME_) };                          \
        void *p_[sizeof names_ / sizeof names_[0]];                                         \
        if (loaded_) return 0;                                                              \
        if (dynlib_load(soname, pkg, names_, p_, sizeof names_ / sizeof names_[0], err,     \
                        errlen) < 0)                                                        \
            return -1;                                                                      \
        /* the table is laid out as the name list: one function pointer per entry */      \
        _Static_assert(sizeof tab == sizeof p_, "one pointer per name");                    \
        memcpy(&tab, p_, sizeof tab);                                                       \
        loaded_ = true;                                                                     \
        return 0;                                                                           \
    }

#endif
