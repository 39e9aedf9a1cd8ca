/* Unit tests for the metrics registry and its Prometheus text writer (escaping of hostile
 * label values, the label cap, UTF-8 normalisation, histograms, numbers, a cut buffer), the
 * guard's metric set fed by a real core (counters monotonic across a core swap), the atomic
 * textfile and the metrics_listen address check. Every exposition produced here is also
 * re-read by a small parser of the 0.0.4 grammar (parse_expo) so escaping is checked by
 * round trip, not only by string comparison. */
#include "check.h"
#include "guard/core.h"
#include "guard/jailconf.h"
#include "guard/metrics.h"
#include "guard/metrics_http.h"
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct str S(const char *s) { return (struct str){ s, strlen(s) }; }

/* ---- a strict reader of the text format (what Prometheus' parser accepts) ---- */

struct sample {
    char name[128];
    char label[64];
    char value[512];                /* the unescaped label value */
    int haslabel;
    char le[32];
    double v;
};

/* Parse one exposition; fills up to cap samples. Returns the count or -1 on a grammar error
 * (unknown escape, raw newline or quote in a value, missing HELP/TYPE before samples, ...). */
static int parse_expo(const char *text, struct sample *out, int cap, char *why, size_t wl)
{
    int n = 0;
    char typed[128] = "";
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) { snprintf(why, wl, "no final newline"); return -1; }
        if (*p == '#') {
            char fam[128];
            if (sscanf(p, "# TYPE %127s ", fam) == 1) snprintf(typed, sizeof typed, "%s", fam);
            else if (strncmp(p, "# HELP ", 7)) { snprintf(why, wl, "bad comment"); return -1; }
            /* HELP: only \\ and \n escapes */
            for (const char *q = p; q < eol; q++)
                if (*q == '\\' && q[1] != '\\' && q[1] != 'n') { snprintf(why, wl, "bad HELP escape"); return -1; }
                else if (*q == '\\') q++;
            p = eol + 1;
            continue;
        }
        if (n >= cap) { snprintf(why, wl, "too many samples"); return -1; }
        struct sample *s = &out[n];
        memset(s, 0, sizeof *s);
        size_t k = 0;
        while (p < eol && (isalnum((unsigned char)*p) || *p == '_' || *p == ':') && k < sizeof s->name - 1)
            s->name[k++] = *p++;
        if (!k || strncmp(s->name, typed, strlen(typed)) || !typed[0]) {
            snprintf(why, wl, "sample %.50s not under its TYPE %.50s", s->name, typed);
            return -1;
        }
        if (*p == '{') {
            p++;
            while (*p != '}') {
                char ln[64];
                size_t m = 0;
                while (isalnum((unsigned char)*p) || *p == '_') { if (m < 63) ln[m++] = *p; p++; }
                ln[m] = 0;
                if (p[0] != '=' || p[1] != '"') { snprintf(why, wl, "bad label"); return -1; }
                p += 2;
                char val[512];
                size_t vl = 0;
                while (*p != '"') {
                    if (*p == '\n' || !*p) { snprintf(why, wl, "raw newline in a label value"); return -1; }
                    char c = *p++;
                    if (c == '\\') {
                        c = *p++;
                        if (c == 'n') c = '\n';
                        else if (c != '\\' && c != '"') { snprintf(why, wl, "bad escape \\%c", c); return -1; }
                    }
                    if (vl < sizeof val - 1) val[vl++] = c;
                }
                val[vl] = 0;
                p++;
                if (!strcmp(ln, "le")) snprintf(s->le, sizeof s->le, "%.31s", val);
                else {
                    if (s->haslabel) { snprintf(why, wl, "two labels"); return -1; }
                    s->haslabel = 1;
                    snprintf(s->label, sizeof s->label, "%s", ln);
                    memcpy(s->value, val, vl + 1);
                }
                if (*p == ',') p++;
                else if (*p != '}') { snprintf(why, wl, "bad label list"); return -1; }
            }
            p++;
        }
        if (*p != ' ') { snprintf(why, wl, "no space before the value"); return -1; }
        char *end;
        s->v = strtod(p + 1, &end);
        if (end != eol) { snprintf(why, wl, "bad value"); return -1; }
        n++;
        p = eol + 1;
    }
    return n;
}

static const struct sample *find(const struct sample *v, int n, const char *name, const char *value)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].name, name) && (!value || !strcmp(v[i].value, value))) return &v[i];
    return NULL;
}

/* ---- registry and writer ---- */

static void t_escaping(void)
{
    struct mx *m = mx_new();
    struct mx_fam *f = mx_family(m, "t_lines_total", "Lines \\ by program\nsecond line", MX_COUNTER, "program", 0);
    mx_add(mx_get(f, S("ev\"il")), 1);
    mx_add(mx_get(f, S("back\\slash")), 2);
    mx_add(mx_get(f, S("new\nline")), 3);
    mx_add(mx_get(f, S("} 9\nt_lines_total{program=\"x\"} 1000")), 4);
    struct buf o = BUF_INIT(1 << 20);
    CHECK_INT(mx_write(m, &o), 0);
    const char *t = buf_cstr(&o);
    CHECK(strstr(t, "# HELP t_lines_total Lines \\\\ by program\\nsecond line\n") != NULL);
    CHECK(strstr(t, "# TYPE t_lines_total counter\n") != NULL);
    CHECK(strstr(t, "t_lines_total{program=\"ev\\\"il\"} 1\n") != NULL);
    CHECK(strstr(t, "t_lines_total{program=\"back\\\\slash\"} 2\n") != NULL);
    CHECK(strstr(t, "t_lines_total{program=\"new\\nline\"} 3\n") != NULL);
    /* an injected sample stays inside its label value */
    CHECK(strstr(t, "\nt_lines_total{program=\"x\"} 1000\n") == NULL);
    struct sample s[16];
    char why[128] = "";
    int n = parse_expo(t, s, 16, why, sizeof why);
    CHECK_INT(n, 4);
    if (n < 0) fprintf(stderr, "  parse: %s\n%s", why, t);
    const struct sample *x = find(s, n, "t_lines_total", "new\nline");
    CHECK(x && x->v == 3);
    x = find(s, n, "t_lines_total", "} 9\nt_lines_total{program=\"x\"} 1000");
    CHECK(x && x->v == 4);
    CHECK(find(s, n, "t_lines_total", "x") == NULL);
    buf_free(&o);
    mx_free(m);
}

static void t_label_cap(void)
{
    struct mx *m = mx_new();
    struct mx_fam *f = mx_family(m, "t_unparsed_total", "by program", MX_COUNTER, "program", 64);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "prog%03d", i);
        mx_add(mx_get(f, S(name)), 1);
        mx_add(mx_get(f, S(name)), 1);
    }
    /* a value seen before the cap keeps its own series */
    mx_add(mx_get(f, S("prog000")), 1);
    CHECK_INT(mx_count(f), 65);
    struct buf o = BUF_INIT(1 << 20);
    CHECK_INT(mx_write(m, &o), 0);
    struct sample s[128];
    char why[128] = "";
    int n = parse_expo(buf_cstr(&o), s, 128, why, sizeof why);
    CHECK_INT(n, 65);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s[i].v;
    CHECK(sum == 201);                                  /* nothing lost */
    const struct sample *x = find(s, n, "t_unparsed_total", "other");
    CHECK(x && x->v == 72);                             /* 36 programs, 2 lines each */
    x = find(s, n, "t_unparsed_total", "prog000");
    CHECK(x && x->v == 3);
    CHECK(find(s, n, "t_unparsed_total", "prog064") == NULL);
    /* sorted by label value */
    CHECK(n > 2 && strcmp(s[0].value, s[1].value) < 0);
    buf_free(&o);
    mx_free(m);
}

static void t_utf8_and_length(void)
{
    struct mx *m = mx_new();
    struct mx_fam *f = mx_family(m, "t_g", "g", MX_GAUGE, "v", 0);
    mx_set(mx_get(f, S("caf\xc3\xa9")), 1);             /* valid UTF-8 kept */
    mx_set(mx_get(f, S("bad\xff\xc3(\x01\r\t")), 2);    /* invalid bytes, controls */
    mx_set(mx_get(f, S("\xed\xa0\x80surrogate")), 3);  /* UTF-16 surrogate: invalid */
    char longv[300];
    memset(longv, 'a', sizeof longv);
    memcpy(longv + 126, "\xe2\x82\xac", 3);             /* a euro sign across byte 128 */
    mx_set(mx_get(f, (struct str){ longv, sizeof longv }), 4);
    struct buf o = BUF_INIT(1 << 20);
    mx_write(m, &o);
    const char *t = buf_cstr(&o);
    CHECK(strstr(t, "t_g{v=\"caf\xc3\xa9\"} 1\n") != NULL);
    CHECK(strstr(t, "t_g{v=\"bad??" "(???\"} 2\n") != NULL);   /* split: no trigraph */
    CHECK(strstr(t, "t_g{v=\"???surrogate\"} 3\n") != NULL);
    char want[200];
    snprintf(want, sizeof want, "t_g{v=\"%.*s\"} 4\n", 126, longv);   /* cut before the euro sign */
    CHECK(strstr(t, want) != NULL);
    buf_free(&o);
    mx_free(m);
}

static void t_histogram_numbers(void)
{
    struct mx *m = mx_new();
    static const double b[] = { 0.01, 0.1, 1 };
    struct mx_fam *h = mx_histogram(m, "t_seconds", "h", "action", b, 3);
    struct mx_series *s = mx_get(h, S("nft"));
    mx_observe(h, s, 0.005);
    mx_observe(h, s, 0.05);
    mx_observe(h, s, 0.05);
    mx_observe(h, s, 5);
    struct mx_fam *g = mx_family(m, "t_plain", "no label", MX_GAUGE, NULL, 0);
    mx_set(mx_get(g, S("ignored")), 0.1);
    struct mx_fam *big = mx_family(m, "t_big", "b", MX_GAUGE, "k", 0);
    mx_set(mx_get(big, S("int")), 1795000000);
    mx_set(mx_get(big, S("huge")), 1e20);
    mx_set(mx_get(big, S("inf")), 1.0 / 0.0);
    struct buf o = BUF_INIT(1 << 20);
    mx_write(m, &o);
    const char *t = buf_cstr(&o);
    CHECK(strstr(t, "# TYPE t_seconds histogram\n"
                    "t_seconds_bucket{action=\"nft\",le=\"0.01\"} 1\n"
                    "t_seconds_bucket{action=\"nft\",le=\"0.1\"} 3\n"
                    "t_seconds_bucket{action=\"nft\",le=\"1\"} 3\n"
                    "t_seconds_bucket{action=\"nft\",le=\"+Inf\"} 4\n"
                    "t_seconds_sum{action=\"nft\"} 5.105\n"
                    "t_seconds_count{action=\"nft\"} 4\n") != NULL);
    CHECK(strstr(t, "\nt_plain 0.1\n") != NULL);
    CHECK(strstr(t, "t_big{k=\"int\"} 1795000000\n") != NULL);
    CHECK(strstr(t, "t_big{k=\"huge\"} 1e+20\n") != NULL);
    CHECK(strstr(t, "t_big{k=\"inf\"} +Inf\n") != NULL);
    struct sample sm[32];
    char why[128] = "";
    int n = parse_expo(t, sm, 32, why, sizeof why);
    CHECK_INT(n, 10);
    if (n < 0) fprintf(stderr, "  parse: %s\n", why);
    /* a buffer too small: reported, not served as complete */
    struct buf small = BUF_INIT(100);
    CHECK_INT(mx_write(m, &small), -1);
    buf_free(&small);
    buf_free(&o);
    mx_free(m);
}

/* ---- the guard's metrics on a real core ---- */

static char dir[64];

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void rmdir_all(void)
{
    static const char *const names[] = { "jail.conf", "mailwarden.conf", "m.prom", "m.prom.tmp" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static struct gmetrics *cb_gm;
static void cb_unparsed(void *ud, struct str prog) { gmetrics_unparsed(cb_gm, prog); }

static double value_of(struct gmetrics *gm, struct core *c, const char *name, const char *label)
{
    struct buf o = BUF_INIT(1 << 20);
    gmetrics_render(gm, c, 0, &o);
    static struct sample s[256];
    char why[128] = "";
    int n = parse_expo(buf_cstr(&o), s, 256, why, sizeof why);
    if (n < 0) fprintf(stderr, "  parse: %s\n", why);
    const struct sample *x = n < 0 ? NULL : find(s, n, name, label);
    buf_free(&o);
    return x ? x->v : -1;
}

static void t_guard_metrics(void)
{
    snprintf(dir, sizeof dir, "/tmp/mw-metrics.XXXXXX");
    if (!mkdtemp(dir)) abort();
    put("jail.conf", "[DEFAULT]\nignoreip = 10.0.0.0/8\nignoreself = false\nmaxretry = 3\nbantime = 1h\n"
                     "banaction = null\n[postfix]\nenabled = true\nfilter = mailwarden-postfix\n"
                     "logpath = /dev/null\n");
    char err[512];
    struct guard_conf *conf = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(conf != NULL);
    if (!conf) { fprintf(stderr, "  %s\n", err); rmdir_all(); return; }
    struct gmetrics *gm = cb_gm = gmetrics_new(1795000000, "9.9.9");
    struct core_cb cb = { .ud = NULL, .on_unparsed = cb_unparsed };
    struct core *c = core_new(conf, &cb, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { gmetrics_free(gm); guard_conf_free(conf); rmdir_all(); return; }
    int64_t now = 1795000000;
    const char *fail = "Nov 22 10:00:01 mail postfix/smtpd[1]: warning: unknown[192.0.2.1]: SASL PLAIN "
                       "authentication failed: x";
    const char *ign = "Nov 22 10:00:01 mail postfix/smtpd[1]: warning: unknown[10.9.9.9]: SASL PLAIN "
                      "authentication failed: x";
    const char *hostile = "Nov 22 10:00:01 mail ev\"il\\prog[7]: whatever";
    /* the lines' own time must be within findtime of now: take now from the first */
    struct syslog_ctx sc = { 0 };
    struct syslog_hdr h;
    syslog_parse(&sc, S(fail), &h);
    (void)h;
    now = h.t;
    for (int i = 0; i < 3; i++) core_line(c, NULL, 0, S(fail), now);
    for (int i = 0; i < 2; i++) core_line(c, NULL, 0, S(ign), now);
    core_line(c, NULL, 0, S(hostile), now);
    core_line(c, NULL, 0, S("no envelope at all"), now);
    CHECK(value_of(gm, c, "mailwarden_lines_total", "postfix") == 7);
    CHECK(value_of(gm, c, "mailwarden_failures_total", "postfix") == 3);
    CHECK(value_of(gm, c, "mailwarden_ignored_failures_total", "postfix") == 2);
    CHECK(value_of(gm, c, "mailwarden_bans_total", "postfix") == 1);
    CHECK(value_of(gm, c, "mailwarden_current_bans", "postfix") == 1);
    CHECK(value_of(gm, c, "mailwarden_unparsed_lines_total", "ev\"il\\prog") == 1);
    CHECK(value_of(gm, c, "mailwarden_unparsed_lines_total", "(none)") == 1);
    CHECK(value_of(gm, c, "mailwarden_build_info", "9.9.9") == 1);
    CHECK(value_of(gm, c, "mailwarden_start_time_seconds", NULL) == 1795000000);
    CHECK(value_of(gm, c, "mailwarden_tracked_entries", "postfix") == 0);   /* banned: forgotten; 10.9.9.9 ignored */
    gmetrics_action(gm, "null", 0.002, 0);
    gmetrics_action(gm, "null", 0.2, 1);
    CHECK(value_of(gm, c, "mailwarden_action_errors_total", "null") == 1);
    CHECK(value_of(gm, c, "mailwarden_action_duration_seconds_count", "null") == 2);
    /* sampling twice adds nothing */
    CHECK(value_of(gm, c, "mailwarden_failures_total", "postfix") == 3);

    /* reload: a new core starts from zero; the counters go on from where they were */
    gmetrics_retire(gm, c);
    core_free(c);
    c = core_new(conf, &cb, err, sizeof err);
    CHECK(value_of(gm, c, "mailwarden_failures_total", "postfix") == 3);
    CHECK(value_of(gm, c, "mailwarden_current_bans", "postfix") == 0);
    const char *fail2 = "Nov 22 10:00:01 mail postfix/smtpd[1]: warning: unknown[192.0.2.2]: SASL PLAIN "
                        "authentication failed: x";
    core_line(c, NULL, 0, S(fail2), now);
    CHECK(value_of(gm, c, "mailwarden_failures_total", "postfix") == 4);
    CHECK(value_of(gm, c, "mailwarden_lines_total", "postfix") == 8);
    CHECK(value_of(gm, c, "mailwarden_bans_total", "postfix") == 1);
    CHECK(value_of(gm, c, "mailwarden_tracked_entries", "postfix") == 1);

    /* the textfile: written whole, by rename, readable by node_exporter's user */
    char path[128];
    snprintf(path, sizeof path, "%s/m.prom", dir);
    struct buf o = BUF_INIT(1 << 20);
    CHECK_INT(gmetrics_render(gm, c, 2, &o), 0);
    CHECK_INT(gmetrics_write_file(path, &o, err, sizeof err), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644 && (size_t)st.st_size == o.len);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    FILE *f = fopen(path, "r");
    char *back = calloc(1, o.len + 1);
    CHECK(f && fread(back, 1, o.len, f) == o.len && !memcmp(back, o.p, o.len));
    CHECK(strstr(back, "\nmailwarden_blocks 2\n") != NULL);
    if (f) fclose(f);
    free(back);
    CHECK_INT(gmetrics_write_file("/nonexistent-dir/m.prom", &o, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent-dir/m.prom.tmp") != NULL);
    buf_free(&o);
    core_free(c);
    gmetrics_free(gm);
    guard_conf_free(conf);
    rmdir_all();
}

static void t_listen_check(void)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[256];
    CHECK_INT(mhttp_parse("127.0.0.1:9746", false, &ss, &sl, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(mhttp_parse("127.8.9.10:0", false, &ss, &sl, err, sizeof err), 0);
    CHECK_INT(mhttp_parse("[::1]:9746", false, &ss, &sl, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(mhttp_parse("0.0.0.0:9746", false, &ss, &sl, err, sizeof err), -1);
    CHECK(strstr(err, "metrics_listen_any") != NULL);
    CHECK_INT(mhttp_parse("192.0.2.1:9746", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("[::]:9746", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("[::ffff:127.0.0.1]:9746", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("0.0.0.0:9746", true, &ss, &sl, err, sizeof err), 0);
    CHECK_INT(mhttp_parse("[::]:9746", true, &ss, &sl, err, sizeof err), 0);
    CHECK_INT(mhttp_parse("localhost:9746", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("127.0.0.1", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("127.0.0.1:65536", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("127.0.0.1:80x", false, &ss, &sl, err, sizeof err), -1);
    CHECK_INT(mhttp_parse("::1:9746", false, &ss, &sl, err, sizeof err), -1);  /* IPv6 needs brackets */
}

int main(void)
{
    RUN(t_escaping);
    RUN(t_label_cap);
    RUN(t_utf8_and_length);
    RUN(t_histogram_numbers);
    RUN(t_guard_metrics);
    RUN(t_listen_check);
    return check_done();
}
