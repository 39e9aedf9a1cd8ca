/*
 * summary_text - the text report: pflogsumm's layout, section by section (same titles,
 * columns, units and rounding), then the sections pflogsumm does not have. Rows with equal
 * counts are ordered as pflogsumm's sort key says (normalize_host), then by key, so the
 * output is deterministic where pflogsumm's is not.
 */
#include "report/summary_int.h"
#include "util/par.h"
#include "util/xalloc.h"
#include "util/timeparse.h"
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void title(FILE *f, const char *t)
{
    size_t n = strlen(t);
    fprintf(f, "\n%s\n", t);
    for (size_t i = 0; i < n; i++) fputc('-', f);
    fputc('\n', f);
}

/* n spaces ("%*s" with ""), and v as "%*" PRId64: the detail tables print tens of thousands
 * of rows, and fprintf's parsing of the format was a third of the time to print them. The
 * streams are the caller's alone (stdout, or a buffer of one thread): no stdio locking. */
static void put_pad(FILE *f, int n)
{
    static const char sp[32] = "                                ";
    while (n > 0) {
        int k = n < 32 ? n : 32;
        fwrite_unlocked(sp, 1, (size_t)k, f);
        n -= k;
    }
}

static void put_int(FILE *f, int width, int64_t v)
{
    char b[STR_DEC_MAX];
    size_t len = str_dec(b, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
    if (width > (int)len) put_pad(f, width - (int)len);
    fwrite_unlocked(b + STR_DEC_MAX - len, 1, len, f);
}

/* pre "%6d%s" post, of adj_int_units (width 0: "%d%s") */
static void iu(FILE *f, const char *pre, int width, double v, const char *post)
{
    int64_t x;
    char u;
    pfs_int_units(v, &x, &u);
    fputs_unlocked(pre, f);
    put_int(f, width, x);
    fputc_unlocked(u, f);
    fputs_unlocked(post, f);
}

static void time_units(double v, double *out, char *u)
{
    *u = 's';
    if (v > 3600) { v /= 3600; *u = 'h'; }
    else if (v > 60) { v /= 60; *u = 'm'; }
    *out = v;
}

static void put_str(FILE *f, struct str s) { fwrite_unlocked(s.p, 1, s.len, f); }

static void smh(int64_t sec, int *h, int *m, int *s)
{
    *h = (int)(sec / 3600);
    sec -= (int64_t)*h * 3600;
    *m = (int)(sec / 60);
    *s = (int)(sec - *m * 60);
}

/* ---- nested tables (print_nested_hash / walk_nested_hash) ---- */

/* Print rows, the children of prefix (leaf: they have no children). An inner row's own
 * children are built once: to know whether its header gets "(total: N)" and to print them. */
static void walk(FILE *f, const struct sm_nest *m, struct str prefix, struct sm_row *rows, size_t n, bool leaf,
                 int cnt, int level)
{
    level += 2;
    if (leaf) {
        int c = cnt;
        for (size_t i = 0; i < n; i++) {
            put_pad(f, level);
            iu(f, "", 6, (double)rows[i].n, "  ");
            put_str(f, rows[i].key);
            fputc_unlocked('\n', f);
            if (--c == 0) break;
        }
        return;
    }
    char *pb = xmalloc(SM_CHILD_CAP(prefix));
    for (size_t i = 0; i < n; i++) {
        put_pad(f, level);
        put_str(f, rows[i].key);
        struct str np = sm_child_prefix(pb, prefix, rows[i].key);
        size_t cn;
        bool cleaf;
        struct sm_row *cr = sm_children(m, np, &cn, &cleaf);
        if (cleaf) {
            if (cnt > 0) fprintf(f, " (top %d)", cnt);
            fprintf(f, " (total: %" PRId64 ")", rows[i].n);
        }
        fputc('\n', f);
        walk(f, m, np, cr, cn, cleaf, cnt, level);
        free(cr);
    }
    free(pb);
}

static void nested(FILE *f, const struct hmap *m, const char *t, int cnt)
{
    if (!hmap_count(m)) {
        fprintf(f, "\n%s: none\n", t);
        return;
    }
    title(f, t);
    struct sm_nest x;
    sm_nest_init(&x, m);
    size_t n;
    bool leaf;
    struct sm_row *rows = sm_children(&x, STR_NULL, &n, &leaf);
    walk(f, &x, STR_NULL, rows, n, leaf, cnt, 0);
    free(rows);
    sm_nest_free(&x);
}

static void by_cnt_vals(FILE *f, const struct hmap *m, const char *t, int cnt)
{
    char tb[256];
    snprintf(tb, sizeof tb, "%s%s", cnt ? "top " : "", t);
    if (!hmap_count(m)) {
        fprintf(f, "\n%s: none\n", tb);
        return;
    }
    title(f, tb);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n; i++) {
        iu(f, " ", 6, (double)rows[i].n, "  ");
        put_str(f, rows[i].key);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

/* One detail table of problems(), formatted into its own buffer. */
struct nest_job {
    const struct hmap *m;
    const char *title;
    int cnt;
    char *out;          /* open_memstream's buffer (owned, freed by problems()) */
    size_t len;
};

static void nest_job_run(void *ctx, size_t i)
{
    struct nest_job *j = (struct nest_job *)ctx + i;
    FILE *f = open_memstream(&j->out, &j->len);
    if (!f) return;                  /* problems() formats it itself */
    nested(f, j->m, j->title, j->cnt);
    if (fclose(f) != 0) {
        free(j->out);
        j->out = NULL;
    }
}

/* The detail sections. They are most of the report's size and of the time to sort and format
 * it (the reject and warning tables of a big log hold tens of thousands of rows), so they are
 * formatted in parallel into buffers that are then written in order. */
static void problems(FILE *f, const struct summary *s)
{
    const struct summary_opts *o = &s->o;
    const struct sm_stats *g = &s->g;
    struct nest_job jobs[10];
    size_t n = 0;
#define JOB(tab, title, cnt) (jobs[n++] = (struct nest_job){ &g->t[tab], title, cnt, NULL, 0 })
    if (o->deferral_detail != 0) JOB(NT_DEFER, "message deferral detail", o->deferral_detail);
    if (o->bounce_detail != 0) JOB(NT_BOUNCE, "message bounce detail (by relay)", o->bounce_detail);
    if (o->reject_detail != 0) {
        JOB(NT_REJECT, "message reject detail", o->reject_detail);
        JOB(NT_WARN, "message reject warning detail", o->reject_detail);
        JOB(NT_HOLD, "message hold detail", o->reject_detail);
        JOB(NT_DISCARD, "message discard detail", o->reject_detail);
    }
    if (o->smtp_detail != 0) JOB(NT_SMTP, "smtp delivery failures", o->smtp_detail);
    if (o->smtpd_warn_detail != 0) JOB(NT_WARNING, "Warnings", o->smtpd_warn_detail);
    JOB(NT_FATAL, "Fatal Errors", 0);
    JOB(NT_PANIC, "Panics", 0);
#undef JOB
    par_for(n, nest_job_run, jobs, o->threads > 0 ? o->threads : par_cpus());
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].out) fwrite(jobs[i].out, 1, jobs[i].len, f);
        else nested(f, jobs[i].m, jobs[i].title, jobs[i].cnt);
        free(jobs[i].out);
    }
    by_cnt_vals(f, &g->t[NT_MASTER], "Master daemon messages", 0);
}

static void day_label(FILE *f, const struct summary *s, int32_t k)
{
    if (s->o.iso_date_time)
        fprintf(f, "    %04d-%02d-%02d ", sm_day_year(k), sm_day_mon(k), sm_day_mday(k));
    else
        fprintf(f, "    %s %2d %d", months[(sm_day_mon(k) + 11) % 12], sm_day_mday(k), sm_day_year(k));
}

static bool day_shown(const struct summary *s, const struct sm_day *d)
{
    if (s->o.zero_fill && d->pflines) return true;
    for (int c = 0; c < COL_MAX; c++) if (d->v[c]) return true;
    return false;
}

static void per_day(FILE *f, const struct summary *s)
{
    title(f, "Per-Day Traffic Summary");
    fputs("    date          received  delivered   deferred    bounced     rejected\n"
          "    --------------------------------------------------------------------\n", f);
    size_t n;
    struct sm_row *rows = sm_rows(&s->g.days, SORT_KEY, &n);
    /* keys are int32 bytes: sort numerically */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int32_t a, b;
            memcpy(&a, rows[i].key.p, 4);
            memcpy(&b, rows[j].key.p, 4);
            if (b < a) { struct sm_row t = rows[i]; rows[i] = rows[j]; rows[j] = t; }
        }
    for (size_t i = 0; i < n; i++) {
        const struct sm_day *d = rows[i].val;
        if (!day_shown(s, d)) continue;
        int32_t k;
        memcpy(&k, rows[i].key.p, 4);
        day_label(f, s, k);
        for (int c = 0; c < COL_MAX; c++) iu(f, "    ", 6, (double)d->v[c], "");
        fputc('\n', f);
    }
    free(rows);
}

static void hour_label(FILE *f, const struct summary *s, int h)
{
    if (s->o.iso_date_time) fprintf(f, "    %02d:00-%02d:00", h, h + 1);
    else fprintf(f, "    %02d00-%02d00  ", h, h + 1);
}

static void per_hour(FILE *f, const struct summary *s)
{
    title(f, s->ndays > 1 ? "Per-Hour Traffic Daily Average" : "Per-Hour Traffic Summary");
    fputs("    time          received  delivered   deferred    bounced     rejected\n"
          "    --------------------------------------------------------------------\n", f);
    for (int h = 0; h < 24; h++) {
        hour_label(f, s, h);
        for (int c = 0; c < COL_MAX; c++) {
            double v = (double)s->g.hour[h][c];
            if (s->ndays) v = v / (double)s->ndays + 0.5;
            iu(f, "    ", 6, v, "");
        }
        fputc('\n', f);
    }
}

static void recip_domains(FILE *f, const struct summary *s)
{
    int cnt = s->o.top_hosts;
    if (cnt == 0) return;
    char t[128];
    if (cnt > 0) snprintf(t, sizeof t, "Host/Domain Summary: Message Delivery (top %d)", cnt);
    else snprintf(t, sizeof t, "Host/Domain Summary: Message Delivery ");
    title(f, t);
    fputs(" sent cnt  bytes   defers   avg dly max dly host/domain\n"
          " -------- -------  -------  ------- ------- -----------\n", f);
    size_t n;
    struct sm_row *rows = sm_rows(&s->g.recip_dom, SORT_CNT_SIZE, &n);
    for (size_t i = 0; i < n; i++) {
        const struct sm_rdom *d = rows[i].val;
        double avg = d->cnt ? d->dly_sum / 1e6 / (double)d->cnt : 0, a, mx;
        char ua, um;
        time_units(avg, &a, &ua);
        time_units(d->dly_max / 1e6, &mx, &um);
        iu(f, " ", 6, (double)d->cnt, "");
        iu(f, "  ", 6, (double)d->size, "");
        iu(f, "  ", 6, (double)d->defers, "");
        fprintf(f, "  %5.1f %c  %5.1f %c  ", a, ua, mx, um);
        put_str(f, rows[i].key);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

static void sending_domains(FILE *f, const struct summary *s)
{
    int cnt = s->o.top_hosts;
    if (cnt == 0) return;
    char t[128];
    if (cnt > 0) snprintf(t, sizeof t, "Host/Domain Summary: Messages Received (top %d)", cnt);
    else snprintf(t, sizeof t, "Host/Domain Summary: Messages Received ");
    title(f, t);
    fputs(" msg cnt   bytes   host/domain\n"
          " -------- -------  -----------\n", f);
    size_t n;
    struct sm_row *rows = sm_rows(&s->g.sendg_dom, SORT_CNT_SIZE, &n);
    for (size_t i = 0; i < n; i++) {
        const struct sm_ucnt *d = rows[i].val;
        if (d->cnt <= 0) continue;
        iu(f, " ", 6, (double)d->cnt, "");
        iu(f, "  ", 6, (double)d->size, "  ");
        put_str(f, rows[i].key);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

static void user_data(FILE *f, const struct hmap *m, const char *t, bool bysize, int cnt)
{
    if (cnt == 0) return;
    char tb[256];
    snprintf(tb, sizeof tb, "%s%s", "", t);
    if (cnt > 0) snprintf(tb, sizeof tb, "top %d %s", cnt, t);
    size_t n;
    struct sm_row *rows = sm_rows(m, bysize ? SORT_SIZE_HOST : SORT_CNT_HOST, &n);
    size_t live = 0;
    for (size_t i = 0; i < n; i++) if (((const struct sm_ucnt *)rows[i].val)->cnt > 0) live++;
    if (!live) {
        fprintf(f, "\n%s: none\n", tb);
        free(rows);
        return;
    }
    title(f, tb);
    for (size_t i = 0; i < n; i++) {
        const struct sm_ucnt *u = rows[i].val;
        if (u->cnt <= 0) continue;
        iu(f, " ", 6, (double)(bysize ? u->size : u->cnt), "  ");
        put_str(f, rows[i].key);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

static void smtpd_sections(FILE *f, const struct summary *s)
{
    const struct sm_stats *g = &s->g;
    if (s->ndays > 1) {
        title(f, "Per-Day SMTPD Connection Summary");
        fputs("    date        connections    time conn.    avg./conn.   max. time\n"
              "    --------------------------------------------------------------------\n", f);
        size_t n;
        struct sm_row *rows = sm_rows(&g->days, SORT_KEY, &n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                int32_t a, b;
                memcpy(&a, rows[i].key.p, 4);
                memcpy(&b, rows[j].key.p, 4);
                if (b < a) { struct sm_row t = rows[i]; rows[i] = rows[j]; rows[j] = t; }
            }
        for (size_t i = 0; i < n; i++) {
            const struct sm_day *d = rows[i].val;
            if (!d->conn.cnt) continue;
            int32_t k;
            memcpy(&k, rows[i].key.p, 4);
            day_label(f, s, k);
            int hh, mm, ss;
            smh(d->conn.secs, &hh, &mm, &ss);
            iu(f, "   ", 6, (double)d->conn.cnt, "");
            fprintf(f, "       %2d:%02d:%02d      %6ds      %6ds\n", hh, mm, ss,
                    (int)((double)d->conn.secs / (double)d->conn.cnt + .5), (int)d->conn.max);
        }
        free(rows);
        title(f, "Per-Hour SMTPD Connection Daily Average");
        fputs("    hour        connections    time conn.\n"
              "    -------------------------------------\n", f);
    } else {
        title(f, "Per-Hour SMTPD Connection Summary");
        fputs("    hour        connections    time conn.    avg./conn.   max. time\n"
              "    --------------------------------------------------------------------\n", f);
    }
    for (int h = 0; h < 24; h++) {
        const struct sm_conn *c = &g->hconn[h];
        if (!c->cnt) continue;
        int avg = (int)((double)c->secs / (double)c->cnt + .5);
        double cnt = (double)c->cnt, secs = (double)c->secs;
        if (s->ndays > 1) {
            cnt = cnt / (double)s->ndays + .5;
            secs = secs / (double)s->ndays + .5;
        }
        int hh, mm, ss;
        smh((int64_t)secs, &hh, &mm, &ss);
        hour_label(f, s, h);
        iu(f, "   ", 6, cnt, "");
        fprintf(f, "       %2d:%02d:%02d", hh, mm, ss);
        if (s->ndays < 2) fprintf(f, "      %6ds      %6ds", avg, (int)c->max);
        fputc('\n', f);
    }
    int cnt = s->o.top_hosts;
    if (cnt == 0) return;
    char t[128];
    if (cnt > 0) snprintf(t, sizeof t, "Host/Domain Summary: SMTPD Connections (top %d)", cnt);
    else snprintf(t, sizeof t, "Host/Domain Summary: SMTPD Connections ");
    title(f, t);
    fputs(" connections  time conn.  avg./conn.  max. time  host/domain\n"
          " -----------  ----------  ----------  ---------  -----------\n", f);
    size_t n;
    struct sm_row *rows = sm_rows(&g->smtpd_dom, SORT_CNT_SIZE, &n);
    for (size_t i = 0; i < n; i++) {
        const struct sm_conn *c = rows[i].val;
        int hh, mm, ss;
        smh(c->secs, &hh, &mm, &ss);
        iu(f, "  ", 6, (double)c->cnt, "");
        fprintf(f, "      %2d:%02d:%02d     %6ds    %6ds   ", hh, mm, ss,
                (int)((double)c->secs / (double)c->cnt + .5), (int)c->max);
        put_str(f, rows[i].key);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

/* ---- beyond pflogsumm ---- */

static void top_table(FILE *f, const struct hmap *m, const char *t, int cnt)
{
    if (!hmap_count(m)) return;
    fprintf(f, "  %s\n", t);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "    %6" PRId64 "   ", rows[i].n);
        for (size_t k = 0; k < rows[i].key.len; k++)
            fputc(rows[i].key.p[k] == SM_SEP ? ' ' : rows[i].key.p[k], f);
        fputc('\n', f);
        if (--cnt == 0) break;
    }
    free(rows);
}

static void extras(FILE *f, const struct summary *s)
{
    const struct sm_stats *g = &s->g;
    int top = s->o.top_users > 0 ? s->o.top_users : 20;
    title(f, "Beyond pflogsumm");
    fprintf(f, " %6" PRId64 "   expired (returned to sender after the queue lifetime)\n", g->expired);
    if (g->filter_hops || g->reinjected)
        fprintf(f, " %6" PRId64 "   content filter hops (not counted as delivered); %" PRId64
                " re-injected messages counted once\n", g->filter_hops, g->reinjected);
    top_table(f, &g->t[NT_EXPIRED], "expired messages by sender:", top);

    title(f, "SMTP AUTH (SASL)");
    fprintf(f, " %6" PRId64 "   successful (messages sent after AUTH)\n", g->sasl_ok);
    fprintf(f, " %6" PRId64 "   failed\n", g->sasl_fail);
    top_table(f, &g->t[NT_SASL_OK_USER], "successes by user:", top);
    top_table(f, &g->t[NT_SASL_OK_IP], "successes by client:", top);
    top_table(f, &g->t[NT_SASL_FAIL_IP], "failures by client:", top);
    top_table(f, &g->t[NT_SASL_FAIL_USER], "failures by user:", top);
    top_table(f, &g->t[NT_SASL_FAIL_METHOD], "failures by mechanism:", top);

    title(f, "postscreen");
    fprintf(f, " %6" PRId64 "   connections\n", g->ps_connect);
    fprintf(f, " %6" PRId64 "   rejected\n", g->ps_reject);
    top_table(f, &g->t[NT_PS], "events:", -1);
    top_table(f, &g->t[NT_PS_IP], "clients that failed a test or were rejected:", top);

    title(f, "TLS and address families");
    fprintf(f, " %6" PRId64 "   smtpd connections (%" PRId64 " IPv6)\n", g->smtpd_connects, g->smtpd_connects_v6);
    fprintf(f, " %6" PRId64 "   smtpd TLS sessions (%d%% of connections)\n", g->smtpd_tls,
            g->smtpd_connects ? (int)(g->smtpd_tls * 100 / g->smtpd_connects) : 0);
    top_table(f, &g->t[NT_TLS], "TLS sessions by service and protocol:", -1);

    title(f, "Dovecot");
    fprintf(f, " %6" PRId64 "   logins\n", g->dv_logins);
    fprintf(f, " %6" PRId64 "   failed login sessions (%" PRId64 " attempts)\n", g->dv_login_fail_sessions, g->dv_login_fail_attempts);
    fprintf(f, " %6" PRId64 "   sessions without an authentication attempt\n", g->dv_no_auth);
    fprintf(f, " %6" PRId64 "   auth failures (auth process lines)\n", g->dv_auth_fail);
    fprintf(f, " %6" PRId64 "   LMTP/LDA deliveries (%" PRId64 " failed)\n", g->dv_lmtp_ok, g->dv_lmtp_fail);
    top_table(f, &g->t[NT_DV_LOGIN], "logins by protocol and user:", top);
    top_table(f, &g->t[NT_DV_LOGIN_IP], "logins by client:", top);
    top_table(f, &g->t[NT_DV_FAIL_IP], "failed login attempts by protocol and client:", top);
    top_table(f, &g->t[NT_DV_AUTH_USER], "auth failures by user:", top);
    top_table(f, &g->t[NT_DV_AUTH_IP], "auth failures by client:", top);
    top_table(f, &g->t[NT_DV_LMTP_USER], "deliveries by user:", top);

    if (s->o.by_host) {
        title(f, "Per-Host Summary (--by-host)");
        fputs("    host                  received  delivered   deferred    bounced   rejected    expired\n", f);
        size_t n;
        struct sm_row *rows = sm_rows(&g->hosts, SORT_KEY, &n);
        for (size_t i = 0; i < n; i++) {
            const struct sm_host *h = rows[i].val;
            fprintf(f, "    %-20.*s", STR_FMT(rows[i].key));
            for (int c = 0; c < COL_MAX; c++) fprintf(f, " %10" PRId64, h->v[c]);
            fprintf(f, " %10" PRId64 "\n", h->expired);
        }
        free(rows);
    }

    title(f, "Input");
    fprintf(f, " %6" PRIu64 "   files read (%" PRIu64 " failed)\n", s->files, s->files_failed);
    fprintf(f, " %6" PRIu64 "   lines (%" PRIu64 " not syslog, %" PRIu64 " cut at the line limit)\n",
            s->lines, s->unparsed, s->cut_lines);
    if (g->overflow) fprintf(f, " %6" PRId64 "   table entries counted under \"(other)\" (table limit)\n", g->overflow);
    if (s->first_t) {
        char a[64], b[64];
        mwtime_human(s->first_t, a, sizeof a);
        mwtime_human(s->last_tt, b, sizeof b);
        fprintf(f, "          from %s to %s\n", a, b);
    }
}

void summary_print_text(const struct summary *s, FILE *f)
{
    const struct sm_stats *g = &s->g;
    if (s->o.date_label[0]) fprintf(f, "Postfix log summaries for %s\n", s->o.date_label);
    int64_t total = g->dlvrd + g->rjctd + g->dscrdd;
    int rp = total ? (int)((double)g->rjctd / (double)total * 100) : 0;
    int dp = total ? (int)((double)g->dscrdd / (double)total * 100) : 0;
    title(f, "Grand Totals");
    fputs("messages\n\n", f);
    iu(f, " ", 6, (double)g->rcvd, "  received\n");
    iu(f, " ", 6, (double)g->dlvrd, "  delivered\n");
    iu(f, " ", 6, (double)g->fwdd, "  forwarded\n");
    iu(f, " ", 6, (double)g->dfrd, "  deferred");
    if (g->dfrd_cnt) iu(f, "  (", 0, (double)g->dfrd_cnt, " deferrals)");
    fputc('\n', f);
    iu(f, " ", 6, (double)g->bncd, "  bounced\n");
    iu(f, " ", 6, (double)g->rjctd, "  rejected");
    fprintf(f, " (%d%%)\n", rp);
    iu(f, " ", 6, (double)g->wrnd, "  reject warnings\n");
    iu(f, " ", 6, (double)g->hld, "  held\n");
    iu(f, " ", 6, (double)g->dscrdd, "  discarded");
    fprintf(f, " (%d%%)\n", dp);
    fputc('\n', f);
    int64_t ndom = 0, nsdom = 0, nsend = 0, nrcpt = (int64_t)hmap_count(&g->recip_user);
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&g->recip_dom, &it, &k, &v)) if (((struct sm_rdom *)v)->cnt) ndom++;
    for (it = 0; hmap_next(&g->sendg_dom, &it, &k, &v);) if (((struct sm_ucnt *)v)->cnt > 0) nsdom++;
    for (it = 0; hmap_next(&g->sendg_user, &it, &k, &v);) if (((struct sm_ucnt *)v)->cnt > 0) nsend++;
    iu(f, " ", 6, (double)g->size_rcvd, "  bytes received\n");
    iu(f, " ", 6, (double)g->size_dlvrd, "  bytes delivered\n");
    iu(f, " ", 6, (double)nsend, "  senders\n");
    iu(f, " ", 6, (double)nsdom, "  sending hosts/domains\n");
    iu(f, " ", 6, (double)nrcpt, "  recipients\n");
    iu(f, " ", 6, (double)ndom, "  recipient hosts/domains\n");
    if (s->o.smtpd_stats) {
        fputs("\nsmtpd\n\n", f);
        iu(f, "  ", 6, (double)g->smtpd_conn, "  connections\n");
        iu(f, "  ", 6, (double)hmap_count(&g->smtpd_dom), "  hosts/domains\n");
        fprintf(f, "  %6d   avg. connect time (seconds)\n",
                g->smtpd_conn > 0 ? (int)((double)g->smtpd_secs / (double)g->smtpd_conn + .5) : 0);
        int hh, mm, ss;
        smh(g->smtpd_secs, &hh, &mm, &ss);
        fprintf(f, " %2d:%02d:%02d  total connect time\n", hh, mm, ss);
    }
    fputc('\n', f);
    if (s->o.problems_first) problems(f, s);
    if (s->ndays > 1) per_day(f, s);
    per_hour(f, s);
    recip_domains(f, s);
    sending_domains(f, s);
    if (s->o.smtpd_stats) smtpd_sections(f, s);
    user_data(f, &g->sendg_user, "Senders by message count", false, s->o.top_users);
    user_data(f, &g->recip_user, "Recipients by message count", false, s->o.top_users);
    user_data(f, &g->sendg_user, "Senders by message size", true, s->o.top_users);
    user_data(f, &g->recip_user, "Recipients by message size", true, s->o.top_users);
    if (hmap_count(&g->nosize)) {
        title(f, "Messages with no size data");
        size_t n;
        struct sm_row *rows = sm_rows(&g->nosize, SORT_KEY, &n);
        for (size_t i = 0; i < n; i++) {
            const struct sm_nosize *ns = rows[i].val;
            fprintf(f, " %.*s  %.*s\n", STR_FMT(rows[i].key), (int)ns->len, ns->addr);
        }
        free(rows);
    }
    if (!s->o.problems_first) problems(f, s);
    extras(f, s);
}
