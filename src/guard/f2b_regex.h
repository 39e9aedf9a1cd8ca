/*
 * f2b_regex - fail2ban's regular expressions (Python `re` dialect) on PCRE2 with JIT.
 *
 * - f2b_tags_resolve(): fail2ban's tag expansion (failregex.py Regex._resolveHostTag): <HOST>,
 *   <ADDR>, <IP4>, <IP6>, <DNS>, <CIDR>, <SUBNET>, <F-ID/>, <F-PORT/>, <SKIPLINES>, and the
 *   <F-NAME>...</F-NAME> captures (group "name" lower-cased; F-ID -> fid, F-PORT -> fport),
 *   then the ((?i)...) -> (?i:...) rewrite fail2ban does for Python 3.11.
 * - f2b_py2pcre(): Python syntax to PCRE2: \Z -> \z, \v -> \x0b, \uXXXX/\UXXXXXXXX -> UTF-8
 *   bytes, {,n} -> {0,n}, inline flags a/u/L dropped, '[' inside a class made literal.
 *   (?P<n>...), (?P=n), conditionals, lookarounds, atomic groups are PCRE2 syntax already.
 * - Subjects are bytes (no PCRE2_UTF), so invalid UTF-8 cannot stop a match. To stay close to
 *   Python's Unicode \w and \b, bytes 0x80-0xff count as word characters (a UTF-8 letter is a
 *   run of such bytes); \s also covers \x1c-\x1f as in Python.
 * - Every match runs under a match limit and a bounded JIT stack: a subject that hits a limit
 *   counts as "no match" and is counted in f2b_mctx.limit_hits (the caller reports it).
 * - Literal prefilter: f2b_re_compile() extracts a set of literals one of which every match
 *   must contain (e.g. {": reject:", "too many errors after "}); f2b_re_may_match() checks
 *   them with memmem before PCRE2 runs. Extraction is conservative: when unsure, no prefilter.
 *
 * Ownership: f2b_re_free() releases a compiled regex; an f2b_mctx (one per thread) holds the
 * match data and JIT stack and is released with f2b_mctx_free(). A compiled regex may be
 * used from several threads at once, each with its own f2b_mctx.
 */
#ifndef MW_F2B_REGEX_H
#define MW_F2B_REGEX_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/buf.h"
#include "util/str.h"

#define F2B_RE_MULTILINE 0x1    /* re.MULTILINE (filters with maxlines > 1) */
#define F2B_RE_NOTAGS    0x2    /* the pattern is a plain regex (date templates): no tag expansion */
#define F2B_RE_USEDNS_NO 0x4    /* usedns = no: <HOST> is <ADDR> */
#define F2B_RE_ICASE     0x8
#define F2B_RE_NOJIT     0x10   /* interpreter only (regexes used a few times) */

#define F2B_MATCH_LIMIT   2000000u   /* backtracking steps per subject */
#define F2B_DEPTH_LIMIT   20000u
#define F2B_JIT_STACK_MAX (4u << 20)

#define F2B_PF_MAX 16   /* literals in one prefilter set */

struct f2b_group {         /* a named group; several numbers when the name repeats */
    char *name;
    uint32_t num[4];
    int nnum;
};

struct f2b_re {
    void *code;                /* pcre2_code_8 */
    bool jit;
    char *source;              /* as written in the filter (after <tag> substitution) */
    char *resolved;            /* with fail2ban's tags expanded (Python syntax, as fail2ban shows it) */
    char *pattern;             /* what PCRE2 compiled */
    uint32_t ncap;             /* capture groups */
    struct f2b_group *groups;
    size_t ngroups;
    /* prefilter: at least one of these must occur in the subject; npf == 0: none */
    char *pf[F2B_PF_MAX];
    size_t pflen[F2B_PF_MAX];
    size_t npf;
    uint16_t pfid[F2B_PF_MAX];    /* literal ids in the f2b_ac the regex was added to */
    bool in_ac;
    uint64_t pfmask;              /* when all ids are < 64: their bits, else 0 */
};

struct f2b_mctx {
    void *md;                  /* pcre2_match_data_8 */
    uint32_t mdcap;
    void *mc;                  /* pcre2_match_context_8 */
    void *js;                  /* pcre2_jit_stack_8 */
    uint64_t limit_hits;       /* subjects abandoned at a match/depth/stack limit */
    const char *subj;          /* last subject (for f2b_group_str) */
    uint32_t npairs;           /* ovector pairs the last match set (pcre2's rc) */
};

/* Expand fail2ban tags into a Python regex (out is appended). */
int f2b_tags_resolve(const char *regex, unsigned flags, struct buf *out);
/* Python re syntax to PCRE2 (out is appended). -1 with a message in err. */
int f2b_py2pcre(const char *py, struct buf *out, char *err, size_t errlen);

/*
 * Compile a fail2ban regex: tags (unless F2B_RE_NOTAGS), Python->PCRE2, PCRE2 compile + JIT,
 * named group table, literal prefilter. NULL with a message in err (names the regex).
 */
struct f2b_re *f2b_re_compile(const char *regex, unsigned flags, char *err, size_t errlen);
void f2b_re_free(struct f2b_re *re);

void f2b_mctx_init(struct f2b_mctx *mx);
/* Without a JIT stack: for interpreter-only regexes. */
void f2b_mctx_init_light(struct f2b_mctx *mx);
void f2b_mctx_free(struct f2b_mctx *mx);

/* Could re match subj? false only when no prefilter literal occurs in it. */
bool f2b_re_may_match(const struct f2b_re *re, const char *subj, size_t len);

/*
 * re.search(subj[:len], pos): 1 matched, 0 no match, -1 abandoned at a limit (counted).
 * Group offsets are then available through f2b_group_*() until the next call with mx.
 */
int f2b_re_search(const struct f2b_re *re, struct f2b_mctx *mx, const char *subj, size_t len, size_t pos);

/* Span of group n of the last match; false when the group did not participate. */
bool f2b_group_span(const struct f2b_mctx *mx, uint32_t n, size_t *so, size_t *eo);
/* Named group (first participating number); -1 if the regex has no such name, 0 when the
 * group did not participate, 1 with the span set. */
int f2b_named_span(const struct f2b_re *re, const struct f2b_mctx *mx, const char *name,
                   size_t *so, size_t *eo);
bool f2b_re_has_group(const struct f2b_re *re, const char *name);

/*
 * A multi-literal scanner (Aho-Corasick DFA over byte classes) for the prefilters of a set
 * of regexes: one pass over a subject finds every literal of every regex, then
 * f2b_ac_may_match() is a bit test per regex. Regexes whose literals did not fit (more
 * than F2B_AC_MAX_LITS literals or states overall) keep using memmem.
 * f2b_ac_build() records the literal ids in the regexes (so a regex belongs to one scanner);
 * the scanner is read-only afterwards. found must hold f2b_ac_words() words.
 */
#define F2B_AC_MAX_LITS 1024
struct f2b_ac;
struct f2b_ac *f2b_ac_build(struct f2b_re *const *res, size_t n);
void f2b_ac_free(struct f2b_ac *ac);
size_t f2b_ac_words(const struct f2b_ac *ac);
void f2b_ac_scan(const struct f2b_ac *ac, const char *s, size_t len, uint64_t *found);
/* With found from f2b_ac_scan over a superset of the subject: could re match? */
static inline bool f2b_ac_may_match(const struct f2b_re *re, const uint64_t *found)
{
    if (!re->npf || !re->in_ac) return true;
    if (re->pfmask) return (found[0] & re->pfmask) != 0;
    for (size_t i = 0; i < re->npf; i++)
        if (found[re->pfid[i] >> 6] & (1ull << (re->pfid[i] & 63))) return true;
    return false;
}

/* The 256-byte-per-table character tables used for every compile (see above). */
const uint8_t *f2b_char_tables(void);

#endif
