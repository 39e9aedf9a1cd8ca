/*
 * ini - fail2ban's configuration files, read the way fail2ban reads them: Python's
 * ConfigParser (strict, delimiters '=' and ':', full-line comments '#' ';', inline comments
 * " ;", indented continuation lines, option names lower-cased, BasicInterpolation %(name)s)
 * plus fail2ban's extensions (client/configparserinc.py, configreader.py, helpers.py):
 *   - [INCLUDES] before/after, relative to the including file's directory, each included
 *     file followed by its .local twin; files merged in order, a later file overriding
 *     earlier options; the value an option had before being overridden is kept in section
 *     "KNOWN/<section>" (for %(known/opt)s);
 *   - %(section/opt)s, %(known/opt)s, %(default/opt)s interpolation and %(__name__)s;
 *   - conditional sections "[Definition?logtype=journal]" (options renamed "opt?cond");
 *   - <tag> substitution of option values (ini_subst_tags), filter/action arguments
 *     "name[k=v, k2="v 2"]" (ini_split_option), and the [Definition]/[Init] reader
 *     (ini_definit) that filters and actions share.
 *
 * Ownership: a struct ini owns every string in it; ini_free() releases all. Strings handed
 * back through `char **out` are malloc'd and owned by the caller. struct ini_vars owns its
 * keys and values.
 * Limits (hostile config must not crash or hang us): a file is at most INI_MAX_FILE bytes,
 * includes nest at most INI_MAX_DEPTH deep and at most INI_MAX_FILES files are read per load,
 * interpolation recurses at most 10 levels (as Python), tag substitution is bounded by
 * fail2ban's 25 replacements per tag plus a cap on value length (INI_MAX_VALUE).
 * Errors: functions return -1 and write "file:line: message" (or a message naming the
 * option) into err; nothing here exits.
 */
#ifndef MW_INI_H
#define MW_INI_H
#include <stddef.h>
#include <stdbool.h>

#define INI_MAX_FILE   (4u << 20)
#define INI_MAX_DEPTH  16
#define INI_MAX_FILES  256
#define INI_MAX_VALUE  (1u << 20)
#define INI_ERRLEN     512

struct ini_opt {
    char *key;          /* lower-cased, as ConfigParser's optionxform */
    char *val;          /* multi-line values joined with '\n', trailing space removed */
    const char *file;   /* where it was set (points into ini.files) */
    int line;
};

struct ini_sec {
    char *name;
    struct ini_opt *opts;
    size_t n, cap;
};

struct ini {
    struct ini_sec *secs;      /* secs[0] is DEFAULT */
    size_t nsecs, cap;
    char **files;              /* every file read, in order (owned) */
    size_t nfiles, fcap;
};

/* An ordered list of key/value pairs: filter options, interpolation vars, tag tables. */
struct ini_kv {
    char *key, *val;
};
struct ini_vars {
    struct ini_kv *kv;
    size_t n, cap;
};

struct ini *ini_new(void);
void ini_free(struct ini *d);

/* Parse one file's text into d as ConfigParser.read() would (strict: a section or option
 * repeated in the same text is an error; sections already in d are extended). fname is
 * used in messages. */
int ini_parse(struct ini *d, const char *text, size_t len, const char *fname,
              char *err, size_t errlen);

/*
 * fail2ban's SafeConfigParserWithIncludes.read(paths): expand every path with its .local
 * twin and its [INCLUDES] (before/after, recursively, cycles skipped), then parse each file
 * standalone and merge it into d (recording overridden values in KNOWN/ sections).
 * Missing files are skipped. Returns the number of files read (0: none), -1 on error.
 */
int ini_read(struct ini *d, const char *const *paths, size_t n, char *err, size_t errlen);

/* ConfigReaderUnshared.read(): base.conf, base.d/x.conf (sorted), base.local,
 * base.d/x.local, those that exist, through ini_read(). base is a path without extension. */
int ini_read_base(struct ini *d, const char *base, char *err, size_t errlen);

bool ini_has_section(const struct ini *d, const char *sec);
/* Raw value of sec/key: the section's own option, else DEFAULT's. NULL if absent. */
const char *ini_raw(const struct ini *d, const char *sec, const char *key);
/* The section's own option (no DEFAULT fallback). */
const struct ini_opt *ini_own(const struct ini *d, const char *sec, const char *key);
const struct ini_sec *ini_section(const struct ini *d, const char *sec);

/*
 * ConfigParser.get(sec, key, vars=vars) with fail2ban's interpolation. Returns 1 and a
 * malloc'd value in *out; 0 if the section or option does not exist; -1 on an interpolation
 * error (message in err).
 */
int ini_get(const struct ini *d, const char *sec, const char *key, const struct ini_vars *vars,
            char **out, char *err, size_t errlen);
/* fail2ban's get_ex(): also accepts "section/key", "known/key" and "default/key". */
int ini_get_ex(const struct ini *d, const char *sec, const char *key, const struct ini_vars *vars,
               char **out, char *err, size_t errlen);

/* vars */
void ini_vars_set(struct ini_vars *v, const char *key, const char *val);   /* replace or append */
void ini_vars_setn(struct ini_vars *v, const char *key, size_t klen, const char *val, size_t vlen);
const char *ini_vars_get(const struct ini_vars *v, const char *key);
void ini_vars_copy(struct ini_vars *dst, const struct ini_vars *src);     /* dst += src (override) */
void ini_vars_free(struct ini_vars *v);

/*
 * fail2ban's extractOptions(): "sshd[mode=aggressive, key=\"v\"]" -> name "sshd" and the
 * options appended to opts. *name is malloc'd. Returns -1 with a message on bad syntax.
 */
int ini_split_option(const char *spec, char **name, struct ini_vars *opts, char *err, size_t errlen);

/*
 * fail2ban's substituteRecursiveTags(): replace <tag> in every value of tags with the value
 * of that tag (from tags, else from lookup(ud, tag); a NULL lookup result leaves the tag as
 * is). Keys listed in ignore (may be NULL) are neither substituted nor used. Returns -1 on
 * self-referencing definitions or when a value grows beyond INI_MAX_VALUE.
 * lookup returns a malloc'd string or NULL; it may set *failed (then -1 is returned).
 */
typedef char *(*ini_lookup_fn)(void *ud, const char *tag, bool *failed);
int ini_subst_tags(struct ini_vars *tags, const struct ini_vars *ignore, ini_lookup_fn lookup,
                   void *ud, char *err, size_t errlen);

/*
 * DefinitionInitConfigReader: read the options named in `names` from [Definition] (with
 * `args` — the filter's arguments — as interpolation vars; an option given in args is taken
 * from there), add [Init] (args win, every Init option also as "known/<opt>"), then
 * substitute <tags>, falling back to [Definition] (and DEFAULT) for unknown tags.
 * Result in *out (only set options appear). Returns 0 or -1 with a message.
 */
int ini_definit(const struct ini *d, const char *const *names, size_t nnames,
                const struct ini_vars *args, struct ini_vars *out, char *err, size_t errlen);

#endif
