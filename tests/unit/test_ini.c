/* Unit tests for guard/ini: ConfigParser + fail2ban semantics, hostile input. */
#include "check.h"
#include "guard/ini.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char tmpdir[64];

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static struct ini *parse(const char *text, char *err)
{
    struct ini *d = ini_new();
    if (ini_parse(d, text, strlen(text), "t.conf", err, INI_ERRLEN) < 0) {
        ini_free(d);
        return NULL;
    }
    return d;
}

/* get + compare; returns the ini_get status */
static char got[4096];
static int get(const struct ini *d, const char *sec, const char *key, const struct ini_vars *vars)
{
    char err[INI_ERRLEN] = "", *v = NULL;
    int r = ini_get(d, sec, key, vars, &v, err, sizeof err);
    snprintf(got, sizeof got, "%s", r > 0 ? v : r < 0 ? err : "(none)");
    free(v);
    return r;
}

static void t_parse_basic(void)
{
    char err[INI_ERRLEN];
    struct ini *d = parse(
        "# comment\n"
        "; comment\n"
        "[Definition]\n"
        "FailRegex = ^one$\n"
        "            ^two$   ; inline comment\n"
        "            # comment inside a value is skipped\n"
        "\n"
        "            ^three$\n"
        "key2: value: with colon\n"
        "semi = a;b ;c\n"
        "empty =\n"
        "\n"
        "[DEFAULT]\n"
        "dflt = from default\r\n", err);
    CHECK(d != NULL);
    if (!d) return;
    CHECK_INT(get(d, "Definition", "failregex", NULL), 1);
    CHECK_STR(got, "^one$\n^two$\n\n^three$");
    CHECK_INT(get(d, "Definition", "FAILREGEX", NULL), 1);
    get(d, "Definition", "key2", NULL);
    CHECK_STR(got, "value: with colon");
    get(d, "Definition", "semi", NULL);
    CHECK_STR(got, "a;b");
    CHECK_INT(get(d, "Definition", "empty", NULL), 1);
    CHECK_STR(got, "");
    get(d, "Definition", "dflt", NULL);
    CHECK_STR(got, "from default");
    CHECK_INT(get(d, "Nope", "x", NULL), 0);
    CHECK_INT(get(d, "Definition", "nope", NULL), 0);
    CHECK(ini_has_section(d, "Definition"));
    CHECK(!ini_has_section(d, "DEFAULT"));
    ini_free(d);
}

static void t_parse_errors(void)
{
    char err[INI_ERRLEN];
    CHECK(parse("x = 1\n", err) == NULL);
    CHECK(strstr(err, "t.conf:1:") != NULL);
    CHECK(parse("[a]\nx = 1\nX = 2\n", err) == NULL);
    CHECK(strstr(err, "t.conf:3:") != NULL);
    CHECK(parse("[a]\n[b]\n[a]\n", err) == NULL);
    CHECK(strstr(err, "t.conf:3:") != NULL);
    CHECK(parse("[a]\njust words\n", err) == NULL);
    CHECK(strstr(err, "t.conf:2:") != NULL);
    CHECK(parse("[a]\n = value\n", err) == NULL);
    /* section header greedy to the last ']' */
    struct ini *d = parse("[a] x]\nk=v\n", err);
    CHECK(d && ini_has_section(d, "a] x"));
    ini_free(d);
}

static void t_interpolation(void)
{
    char err[INI_ERRLEN];
    struct ini *d = parse(
        "[DEFAULT]\n"
        "base = /var\n"
        "[s]\n"
        "a = %(base)s/log\n"
        "b = %(a)s/%(c)s 100%%\n"
        "c = C\n"
        "self = %(self)s\n"
        "bad = %(missing)s\n"
        "bad2 = 50% off\n"
        "name = %(__name__)s\n"
        "[other]\n"
        "x = other-x\n"
        "[t]\n"
        "ref = %(other/x)s %(default/base)s %(s/c)s\n", err);
    CHECK(d != NULL);
    if (!d) return;
    get(d, "s", "b", NULL);
    CHECK_STR(got, "/var/log/C 100%");
    CHECK_INT(get(d, "s", "self", NULL), -1);
    CHECK(strstr(got, "deeply") != NULL);
    CHECK_INT(get(d, "s", "bad", NULL), -1);
    CHECK(strstr(got, "missing") != NULL);
    CHECK_INT(get(d, "s", "bad2", NULL), -1);
    get(d, "s", "name", NULL);
    CHECK_STR(got, "s");
    get(d, "t", "ref", NULL);
    CHECK_STR(got, "other-x /var C");
    struct ini_vars v = { 0 };
    ini_vars_set(&v, "C", "vars-win");
    get(d, "s", "b", &v);
    CHECK_STR(got, "/var/log/vars-win 100%");
    ini_vars_free(&v);
    /* get_ex */
    char *out = NULL;
    CHECK_INT(ini_get_ex(d, "s", "other/x", NULL, &out, err, sizeof err), 1);
    CHECK_STR(out, "other-x");
    free(out);
    CHECK_INT(ini_get_ex(d, "s", "default/base", NULL, &out, err, sizeof err), 1);
    CHECK_STR(out, "/var");
    free(out);
    ini_free(d);
}

static void t_includes_known(void)
{
    put("common.conf",
        "[INCLUDES]\nafter = common.local\n"
        "[DEFAULT]\nprefix = common\n_daemon = \\S*\n");
    put("common.local", "[DEFAULT]\nprefix = common-local\n");
    put("flt.conf",
        "[INCLUDES]\nbefore = common.conf\n"
        "[Definition]\nfailregex = ^%(prefix)s one$\n"
        "mode = normal\n");
    put("flt.local",
        "[Definition]\nfailregex = %(known/failregex)s\n            ^two$\n");
    char err[INI_ERRLEN] = "", base[128];
    snprintf(base, sizeof base, "%s/flt", tmpdir);
    struct ini *d = ini_new();
    int n = ini_read_base(d, base, err, sizeof err);
    CHECK(n >= 3);
    get(d, "Definition", "failregex", NULL);
    CHECK_STR(got, "^common-local one$\n^two$");
    CHECK(ini_own(d, "KNOWN/Definition", "failregex") != NULL);
    ini_free(d);
    /* cycles are skipped, not followed */
    put("a.conf", "[INCLUDES]\nbefore = b.conf\n[x]\nk = a\n");
    put("b.conf", "[INCLUDES]\nbefore = a.conf\n[x]\nk = b\nkb = 1\n");
    snprintf(base, sizeof base, "%s/a", tmpdir);
    d = ini_new();
    n = ini_read_base(d, base, err, sizeof err);
    CHECK(n >= 2);
    get(d, "x", "k", NULL);
    CHECK_STR(got, "a");
    ini_free(d);
    /* a parse error in an included file names that file and line */
    put("c.conf", "[INCLUDES]\nbefore = broken.conf\n[x]\nk = c\n");
    put("broken.conf", "[x]\nk = 1\nno delimiter here\n");
    snprintf(base, sizeof base, "%s/c", tmpdir);
    d = ini_new();
    CHECK_INT(ini_read_base(d, base, err, sizeof err), -1);
    CHECK(strstr(err, "broken.conf:3:") != NULL);
    ini_free(d);
    /* missing filter */
    snprintf(base, sizeof base, "%s/nothere", tmpdir);
    d = ini_new();
    CHECK_INT(ini_read_base(d, base, err, sizeof err), 0);
    ini_free(d);
}

static void t_include_bomb(void)
{
    /* every file includes the next two: exponential fan-out must hit the cap */
    for (int i = 0; i < 40; i++) {
        char name[32], text[256];
        snprintf(name, sizeof name, "bomb%d.conf", i);
        snprintf(text, sizeof text, "[INCLUDES]\nbefore = bomb%d.conf\n         bomb%d.conf\n"
                 "after = bomb%d.conf\n[x]\nk%d = v\n", i + 1, i + 2, i + 1, i);
        put(name, text);
    }
    char err[INI_ERRLEN] = "", base[128];
    snprintf(base, sizeof base, "%s/bomb0", tmpdir);
    struct ini *d = ini_new();
    CHECK_INT(ini_read_base(d, base, err, sizeof err), -1);
    CHECK(strstr(err, "too many") != NULL || strstr(err, "deeply") != NULL);
    ini_free(d);
}

static void t_split_option(void)
{
    char err[INI_ERRLEN], *name = NULL;
    struct ini_vars o = { 0 };
    CHECK_INT(ini_split_option("sshd[mode=aggressive, k2=\"a, b]\", k3='x']", &name, &o, err, sizeof err), 0);
    CHECK_STR(name, "sshd");
    CHECK_STR(ini_vars_get(&o, "mode"), "aggressive");
    CHECK_STR(ini_vars_get(&o, "k2"), "a, b]");
    CHECK_STR(ini_vars_get(&o, "k3"), "x");
    free(name);
    ini_vars_free(&o);
    CHECK_INT(ini_split_option("postfix", &name, &o, err, sizeof err), 0);
    CHECK_STR(name, "postfix");
    CHECK_INT((int)o.n, 0);
    free(name);
    CHECK_INT(ini_split_option("act[a=1][b=2]", &name, &o, err, sizeof err), 0);
    CHECK_STR(ini_vars_get(&o, "a"), "1");
    CHECK_STR(ini_vars_get(&o, "b"), "2");
    free(name);
    ini_vars_free(&o);
    CHECK_INT(ini_split_option("x[a=\"1\"junk]", &name, &o, err, sizeof err), -1);
    CHECK_INT(ini_split_option("x[=1]", &name, &o, err, sizeof err), -1);
    CHECK_INT(ini_split_option("x[a=1 , b = 2]", &name, &o, err, sizeof err), -1);
    CHECK_INT(ini_split_option("x[a='1' ]", &name, &o, err, sizeof err), -1);
    CHECK_INT(ini_split_option("x[a=1", &name, &o, err, sizeof err), -1);
    ini_vars_free(&o);
}

static void t_subst_tags(void)
{
    char err[INI_ERRLEN];
    struct ini_vars t = { 0 };
    ini_vars_set(&t, "failregex", "<mdre-<mode>> and <HOST>");
    ini_vars_set(&t, "mode", "normal");
    ini_vars_set(&t, "mdre-normal", "^N <_p>");
    ini_vars_set(&t, "_p", "P");
    CHECK_INT(ini_subst_tags(&t, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_STR(ini_vars_get(&t, "failregex"), "^N P and <HOST>");
    ini_vars_free(&t);
    ini_vars_set(&t, "a", "x<a>");
    CHECK_INT(ini_subst_tags(&t, NULL, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "self referencing") != NULL);
    ini_vars_free(&t);
    /* exponential growth is bounded */
    ini_vars_set(&t, "a", "<b><b><b><b>");
    ini_vars_set(&t, "b", "<c><c><c><c>");
    ini_vars_set(&t, "c", "<d><d><d><d>");
    ini_vars_set(&t, "d", "<e><e><e><e>");
    ini_vars_set(&t, "e", "<f><f><f><f>");
    ini_vars_set(&t, "f", "<g><g><g><g>");
    ini_vars_set(&t, "g", "<h><h><h><h>");
    ini_vars_set(&t, "h", "<i><i><i><i>");
    ini_vars_set(&t, "i", "<j><j><j><j>");
    ini_vars_set(&t, "j", "<k><k><k><k>");
    ini_vars_set(&t, "k", "0123456789012345678901234567890123456789");
    int r = ini_subst_tags(&t, NULL, NULL, NULL, err, sizeof err);
    CHECK_INT(r, -1);
    ini_vars_free(&t);
}

static void t_definit(void)
{
    put("df.conf",
        "[INCLUDES]\nbefore = common.conf\n"
        "[Definition]\n"
        "_daemon = postfix\n"
        "__prefix_line = <_daemon>\\[\\d+\\]: \n"
        "prefregex = ^%(__prefix_line)s<F-CONTENT>.+</F-CONTENT>$\n"
        "mdre-normal = ^normal <HOST>$\n"
        "mdre-aggressive = %(mdre-normal)s\n"
        "                  ^aggr <HOST>$\n"
        "failregex = <mdre-<mode>>\n"
        "mode = normal\n"
        "ignoreregex =\n"
        "[Init]\n"
        "journalmatch = _SYSTEMD_UNIT=x.service\n"
        "maxlines = 1\n");
    char err[INI_ERRLEN] = "", base[128];
    snprintf(base, sizeof base, "%s/df", tmpdir);
    struct ini *d = ini_new();
    CHECK(ini_read_base(d, base, err, sizeof err) > 0);
    static const char *const names[] = { "prefregex", "failregex", "ignoreregex", "maxlines", "journalmatch" };
    struct ini_vars args = { 0 }, out = { 0 };
    CHECK_INT(ini_definit(d, names, 5, &args, &out, err, sizeof err), 0);
    CHECK_STR(ini_vars_get(&out, "failregex"), "^normal <HOST>$");
    CHECK_STR(ini_vars_get(&out, "prefregex"), "^postfix\\[\\d+\\]:<F-CONTENT>.+</F-CONTENT>$");
    CHECK_STR(ini_vars_get(&out, "maxlines"), "1");
    CHECK_STR(ini_vars_get(&out, "known/journalmatch"), "_SYSTEMD_UNIT=x.service");
    ini_vars_free(&out);
    ini_vars_set(&args, "mode", "aggressive");
    ini_vars_set(&args, "_daemon", "smtpd");
    CHECK_INT(ini_definit(d, names, 5, &args, &out, err, sizeof err), 0);
    CHECK_STR(ini_vars_get(&out, "failregex"), "^normal <HOST>$\n^aggr <HOST>$");
    CHECK_STR(ini_vars_get(&out, "prefregex"), "^smtpd\\[\\d+\\]:<F-CONTENT>.+</F-CONTENT>$");
    ini_vars_free(&out);
    ini_vars_free(&args);
    ini_free(d);
}

/* The real postfix filter, when fail2ban is installed: <lt_<logtype>/...> chains. */
static void t_real_postfix(void)
{
    struct ini *d = ini_new();
    char err[INI_ERRLEN] = "";
    if (ini_read_base(d, "/etc/fail2ban/filter.d/postfix", err, sizeof err) <= 0) {
        ini_free(d);
        return;
    }
    static const char *const names[] = { "prefregex", "failregex", "datepattern" };
    struct ini_vars args = { 0 }, out = { 0 };
    ini_vars_set(&args, "logtype", "file");
    CHECK_INT(ini_definit(d, names, 3, &args, &out, err, sizeof err), 0);
    const char *pre = ini_vars_get(&out, "prefregex");
    CHECK(pre && strstr(pre, "postfix(-\\w+)?/\\w+") && !strchr(pre, '%') && !strstr(pre, "<lt_"));
    CHECK_STR(ini_vars_get(&out, "datepattern"), "{^LN-BEG}");
    ini_vars_free(&out);
    ini_vars_free(&args);
    ini_free(d);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mw-ini.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(t_parse_basic);
    RUN(t_parse_errors);
    RUN(t_interpolation);
    RUN(t_includes_known);
    RUN(t_include_bomb);
    RUN(t_split_option);
    RUN(t_subst_tags);
    RUN(t_definit);
    if (access("/etc/fail2ban/filter.d/postfix.conf", R_OK) == 0) RUN(t_real_postfix);
    else SKIP(t_real_postfix, "fail2ban not installed");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s", tmpdir);
    /* remove the scratch files */
    static const char *const files[] = { "common.conf", "common.local", "flt.conf", "flt.local", "a.conf",
        "b.conf", "c.conf", "broken.conf", "df.conf" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    for (int i = 0; i < 40; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/bomb%d.conf", tmpdir, i);
        unlink(p);
    }
    rmdir(cmd);
    return check_done();
}
