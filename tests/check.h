/*
 * check.h - the unit-test harness: a test function per behaviour, checks that report the
 * file and line of the first thing that went wrong, and one "PASS name" / "FAIL name: why"
 * line per test for scripts/check.sh to count.
 *
 *   static void t_parse_v4(void) { CHECK(ipaddr_parse(...) == 0); CHECK_STR(buf, "1.2.3.4"); }
 *   int main(void) { RUN(t_parse_v4); return check_done(); }
 */
#ifndef MW_TESTS_CHECK_H
#define MW_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <inttypes.h>

static int check_failed_now;   /* failures inside the running test */
static int check_failures;     /* tests that failed */

static inline void check_report(const char *file, int line, const char *what)
{
    if (check_failed_now++ < 5)
        fprintf(stderr, "  %s:%d: %s\n", file, line, what);
}

#define CHECK(cond) do { if (!(cond)) check_report(__FILE__, __LINE__, "CHECK(" #cond ")"); } while (0)

#define CHECK_INT(a, b) do { \
        long long va_ = (long long)(a), vb_ = (long long)(b); \
        if (va_ != vb_) { char m_[256]; \
            snprintf(m_, sizeof m_, "%s == %lld, expected %lld", #a, va_, vb_); \
            check_report(__FILE__, __LINE__, m_); } } while (0)

#define CHECK_STR(a, b) do { \
        const char *sa_ = (a), *sb_ = (b); \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) { char m_[512]; \
            snprintf(m_, sizeof m_, "%s == \"%.200s\", expected \"%.200s\"", #a, \
                     sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
            check_report(__FILE__, __LINE__, m_); } } while (0)

/* Compare a struct str (p,len) with a C string. */
#define CHECK_SLICE(s, b) do { \
        struct str ss_ = (s); const char *sb_ = (b); \
        if (ss_.len != strlen(sb_) || (ss_.len && memcmp(ss_.p, sb_, ss_.len) != 0)) { char m_[512]; \
            snprintf(m_, sizeof m_, "%s == \"%.*s\", expected \"%.200s\"", #s, \
                     (int)(ss_.len > 200 ? 200 : ss_.len), ss_.p ? ss_.p : "", sb_); \
            check_report(__FILE__, __LINE__, m_); } } while (0)

static inline const char *check_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#define RUN(fn) do { \
        check_failed_now = 0; fn(); \
        const char *lbl_ = getenv("MW_TEST_LABEL"); \
        if (check_failed_now) { check_failures++; \
            printf("FAIL %s/unit/%s/%s: %d check(s) failed\n", lbl_ ? lbl_ : "local", \
                   check_base(__FILE__), #fn, check_failed_now); } \
        else printf("PASS %s/unit/%s/%s\n", lbl_ ? lbl_ : "local", check_base(__FILE__), #fn); \
        fflush(stdout); } while (0)

#define SKIP(fn, why) do { const char *lbl_ = getenv("MW_TEST_LABEL"); \
        printf("SKIP %s/unit/%s/%s: %s\n", lbl_ ? lbl_ : "local", check_base(__FILE__), #fn, why); } while (0)

static inline int check_done(void) { return check_failures ? 1 : 0; }

#endif
