/*
 * summary_html - the report as one self-contained HTML document: inline CSS, inline SVG
 * charts, no scripts, no external assets, readable on a phone (viewport meta, fluid SVG,
 * tables scroll sideways in their own box).
 *
 * Charts (stable hooks for tests and scrapers):
 *   <svg id="chart-hour">    one <g class="bar" data-hour="H"> per hour of the day that had
 *                            traffic, five <rect>s in it (received, delivered, deferred,
 *                            bounced, rejected; totals over the whole input)
 *   <svg id="chart-day">     one <g class="bar" data-day="YYYY-MM-DD"> per day with traffic
 *   <svg id="chart-domains"> one <g class="bar"> per top recipient domain (delivered)
 * Every text from the log is HTML-escaped.
 */
#include "report/summary_int.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

static const char *const colnames[COL_MAX] = { "received", "delivered", "deferred", "bounced", "rejected" };
static const char *const colors[COL_MAX] = { "#4e79a7", "#59a14f", "#f28e2b", "#e15759", "#9c755f" };

static void esc(FILE *f, struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case SM_SEP: fputs(" / ", f); break;
        default:
            if ((unsigned char)c < 0x20) fputc('?', f);
            else fputc(c, f);
        }
    }
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;"
    "color:#222;background:#fafafa;max-width:1100px;margin:auto}"
    "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.6em}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}"
    ".card b{display:block;font-size:1.4em}.card span{color:#666;font-size:.85em}"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;background:#fff;font-size:.9em;min-width:50%}"
    "th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "svg{width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:6px}"
    ".legend span{display:inline-block;margin-right:12px;font-size:.85em}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}"
    "details{margin:6px 0}summary{cursor:pointer;font-weight:600}"
    ".muted{color:#666;font-size:.85em}";

static void legend(FILE *f)
{
    fputs("<div class=\"legend\">", f);
    for (int c = 0; c < COL_MAX; c++)
        fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", colors[c], colnames[c]);
    fputs("</div>\n", f);
}

/* grouped bar chart: n slots, values v[slot][COL_MAX]; slots without traffic get no group */
static void bars(FILE *f, const char *id, size_t n, int64_t (*v)[COL_MAX], const char *attr,
                 char (*labels)[16], size_t label_every)
{
    const int W = 720, H = 240, L = 40, B = 30, T = 10;
    int64_t max = 1;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < COL_MAX; c++) if (v[i][c] > max) max = v[i][c];
    double slot = (double)(W - L - 10) / (double)(n ? n : 1);
    if (slot > 60) slot = 60;     /* a few days: keep the bars slim */
    double bw = slot * 0.8 / COL_MAX;
    fprintf(f, "<svg id=\"%s\" viewBox=\"0 0 %d %d\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\">\n", id, W, H);
    /* axis and scale */
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n", L, H - B, W - 10, H - B);
    for (int g = 0; g <= 4; g++) {
        int64_t val = max * g / 4;
        double y = (double)(H - B) - (double)(H - B - T) * (double)g / 4.0;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#666\">%" PRId64 "</text>"
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                L - 4, y + 3, val, L, y, W - 10, y);
    }
    for (size_t i = 0; i < n; i++) {
        double x0 = L + slot * (double)i + slot * 0.1;
        if (labels && (i % label_every == 0))
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                    x0 + slot * 0.4, H - B + 14, labels[i]);
        int64_t sum = 0;
        for (int c = 0; c < COL_MAX; c++) sum += v[i][c];
        if (!sum) continue;
        fprintf(f, "<g class=\"bar\" %s=\"%s\">", attr, labels ? labels[i] : "");
        for (int c = 0; c < COL_MAX; c++) {
            double h = (double)(H - B - T) * (double)v[i][c] / (double)max;
            if (v[i][c] && h < 1) h = 1;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s %s: %" PRId64 "</title></rect>",
                    x0 + bw * c, (double)(H - B) - h, bw, h, colors[c], labels ? labels[i] : "", colnames[c], v[i][c]);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
}

static int cmp_day(const void *a, const void *b)
{
    int32_t x, y;
    memcpy(&x, ((const struct sm_row *)a)->key.p, 4);
    memcpy(&y, ((const struct sm_row *)b)->key.p, 4);
    return x < y ? -1 : x > y;
}

static void card(FILE *f, const char *label, int64_t v)
{
    fprintf(f, "<div class=\"card\"><b>%" PRId64 "</b><span>%s</span></div>\n", v, label);
}

static void nested_html(FILE *f, const struct sm_nest *m, struct str prefix, int cnt)
{
    size_t n;
    bool leaf;
    struct sm_row *rows = sm_children(m, prefix, &n, &leaf);
    if (leaf) {
        fputs("<div class=\"scroll\"><table><tr><th class=\"n\">count</th><th>text</th></tr>\n", f);
        for (size_t i = 0; i < n && cnt != 0; i++, cnt--) {
            fprintf(f, "<tr><td class=\"n\">%" PRId64 "</td><td>", rows[i].n);
            esc(f, rows[i].key);
            fputs("</td></tr>\n", f);
        }
        fputs("</table></div>\n", f);
        free(rows);
        return;
    }
    char *pb = xmalloc(SM_CHILD_CAP(prefix));
    for (size_t i = 0; i < n; i++) {
        fputs("<details open><summary>", f);
        esc(f, rows[i].key);
        fprintf(f, " <span class=\"muted\">(total: %" PRId64 ")</span></summary>\n", rows[i].n);
        nested_html(f, m, sm_child_prefix(pb, prefix, rows[i].key), cnt);
        fputs("</details>\n", f);
    }
    free(pb);
    free(rows);
}

static void section_nested(FILE *f, const char *title, const struct hmap *m, int cnt)
{
    if (cnt == 0) return;
    fprintf(f, "<h2>%s</h2>\n", title);
    if (!hmap_count(m)) { fputs("<p class=\"muted\">none</p>\n", f); return; }
    struct sm_nest x;
    sm_nest_init(&x, m);
    nested_html(f, &x, STR_NULL, cnt);
    sm_nest_free(&x);
}

static void flat_table(FILE *f, const char *title, const struct hmap *m, int cnt)
{
    if (!hmap_count(m)) return;
    fprintf(f, "<h3>%s</h3>\n<div class=\"scroll\"><table><tr><th class=\"n\">count</th><th></th></tr>\n", title);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n && cnt != 0; i++, cnt--) {
        fprintf(f, "<tr><td class=\"n\">%" PRId64 "</td><td>", rows[i].n);
        esc(f, rows[i].key);
        fputs("</td></tr>\n", f);
    }
    free(rows);
    fputs("</table></div>\n", f);
}

static void users_table(FILE *f, const char *title, const struct hmap *m, int cnt, const char *what)
{
    if (cnt == 0) return;
    fprintf(f, "<h2>%s</h2>\n<div class=\"scroll\"><table><tr><th class=\"n\">messages</th>"
            "<th class=\"n\">bytes</th><th>%s</th></tr>\n", title, what);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n && cnt != 0; i++) {
        const struct sm_ucnt *u = rows[i].val;
        if (u->cnt <= 0) continue;
        cnt--;
        fprintf(f, "<tr><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64 "</td><td>", u->cnt, u->size);
        esc(f, rows[i].key);
        fputs("</td></tr>\n", f);
    }
    free(rows);
    fputs("</table></div>\n", f);
}

void summary_print_html(const struct summary *s, FILE *f)
{
    const struct sm_stats *g = &s->g;
    const struct summary_opts *o = &s->o;
    int top = o->top_users > 0 ? o->top_users : 50;
    int toph = o->top_hosts > 0 ? o->top_hosts : 50;
    char a[64] = "", b[64] = "";
    if (s->first_t) { mwtime_human(s->first_t, a, sizeof a); mwtime_human(s->last_tt, b, sizeof b); }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>mailwarden summary</title>\n<style>", f);
    fputs(css, f);
    fputs("</style></head><body>\n<h1>Mail server summary</h1>\n", f);
    fprintf(f, "<p class=\"muted\">%s%s%s &middot; %" PRIu64 " lines in %" PRIu64 " file(s) &middot; mailwarden</p>\n",
            a, s->first_t ? " &ndash; " : "", b, s->lines, s->files);

    int64_t total = g->dlvrd + g->rjctd + g->dscrdd;
    fputs("<h2>Grand Totals</h2>\n<div class=\"cards\">\n", f);
    card(f, "received", g->rcvd);
    card(f, "delivered", g->dlvrd);
    card(f, "forwarded", g->fwdd);
    card(f, "deferred", g->dfrd);
    card(f, "deferrals", g->dfrd_cnt);
    card(f, "bounced", g->bncd);
    card(f, "rejected", g->rjctd);
    card(f, "rejected %", total ? (int64_t)((double)g->rjctd / (double)total * 100) : 0);
    card(f, "reject warnings", g->wrnd);
    card(f, "held", g->hld);
    card(f, "discarded", g->dscrdd);
    card(f, "expired", g->expired);
    card(f, "bytes received", g->size_rcvd);
    card(f, "bytes delivered", g->size_dlvrd);
    card(f, "senders", (int64_t)hmap_count(&g->sendg_user));
    card(f, "recipients", (int64_t)hmap_count(&g->recip_user));
    fputs("</div>\n", f);

    /* per-hour chart */
    int64_t hv[24][COL_MAX];
    char hl[24][16];
    for (int h = 0; h < 24; h++) {
        for (int c = 0; c < COL_MAX; c++) hv[h][c] = g->hour[h][c];
        snprintf(hl[h], sizeof hl[h], "%02d", h);
    }
    fprintf(f, "<h2>Traffic per hour of the day%s</h2>\n", s->ndays > 1 ? " (all days added up)" : "");
    legend(f);
    bars(f, "chart-hour", 24, hv, "data-hour", hl, 1);

    /* per-day chart */
    size_t nd;
    struct sm_row *days = sm_rows(&g->days, SORT_KEY, &nd);
    qsort(days, nd, sizeof *days, cmp_day);
    int64_t (*dv)[COL_MAX] = calloc(nd ? nd : 1, sizeof *dv);
    char (*dl)[16] = calloc(nd ? nd : 1, sizeof *dl);
    size_t k = 0;
    for (size_t i = 0; i < nd; i++) {
        const struct sm_day *d = days[i].val;
        if (!d->pflines) continue;
        int32_t key;
        memcpy(&key, days[i].key.p, 4);
        snprintf(dl[k], sizeof dl[k], "%04d-%02d-%02d", sm_day_year(key) % 10000, sm_day_mon(key) % 100, sm_day_mday(key) % 100);
        for (int c = 0; c < COL_MAX; c++) dv[k][c] = d->v[c];
        k++;
    }
    fputs("<h2>Traffic per day</h2>\n", f);
    legend(f);
    bars(f, "chart-day", k, dv, "data-day", dl, k > 14 ? (k + 13) / 14 : 1);
    free(dv);
    free(dl);
    free(days);

    /* top recipient domains chart */
    size_t n;
    struct sm_row *rows = sm_rows(&g->recip_dom, SORT_CNT_SIZE, &n);
    size_t nb = n < 10 ? n : 10;
    int64_t max = 1;
    for (size_t i = 0; i < nb; i++) if (rows[i].n > max) max = rows[i].n;
    fputs("<h2>Top recipient domains (delivered)</h2>\n", f);
    fprintf(f, "<svg id=\"chart-domains\" viewBox=\"0 0 720 %zu\" role=\"img\">\n", 24 * nb + 10);
    for (size_t i = 0; i < nb; i++) {
        double w = 420.0 * (double)rows[i].n / (double)max;
        fprintf(f, "<g class=\"bar\"><text x=\"215\" y=\"%zu\" font-size=\"12\" text-anchor=\"end\">", 24 * i + 22);
        struct str key = rows[i].key;
        if (key.len > 32) key.len = 32;
        esc(f, key);
        fprintf(f, "</text><rect x=\"220\" y=\"%zu\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%zu\" font-size=\"12\">%" PRId64 "</text></g>\n",
                24 * i + 9, w < 1 ? 1 : w, colors[1], 226 + w, 24 * i + 22, rows[i].n);
    }
    fputs("</svg>\n", f);

    fputs("<h2>Host/Domain Summary: Message Delivery</h2>\n<div class=\"scroll\"><table><tr><th class=\"n\">sent</th>"
          "<th class=\"n\">bytes</th><th class=\"n\">defers</th><th class=\"n\">avg delay (s)</th>"
          "<th class=\"n\">max delay (s)</th><th>domain</th></tr>\n", f);
    for (size_t i = 0; i < n && (int)i < toph; i++) {
        const struct sm_rdom *d = rows[i].val;
        fprintf(f, "<tr><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
                "</td><td class=\"n\">%.1f</td><td class=\"n\">%.1f</td><td>",
                d->cnt, d->size, d->defers, d->cnt ? d->dly_sum / 1e6 / (double)d->cnt : 0, d->dly_max / 1e6);
        esc(f, rows[i].key);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></div>\n", f);
    free(rows);
    users_table(f, "Host/Domain Summary: Messages Received", &g->sendg_dom, toph, "domain");
    users_table(f, "Senders", &g->sendg_user, top, "sender");
    users_table(f, "Recipients", &g->recip_user, top, "recipient");

    section_nested(f, "Message deferral detail", &g->t[NT_DEFER], o->deferral_detail);
    section_nested(f, "Message bounce detail (by relay)", &g->t[NT_BOUNCE], o->bounce_detail);
    section_nested(f, "Message reject detail", &g->t[NT_REJECT], o->reject_detail);
    section_nested(f, "Message reject warning detail", &g->t[NT_WARN], o->reject_detail);
    section_nested(f, "Message hold detail", &g->t[NT_HOLD], o->reject_detail);
    section_nested(f, "Message discard detail", &g->t[NT_DISCARD], o->reject_detail);
    section_nested(f, "SMTP delivery failures", &g->t[NT_SMTP], o->smtp_detail);
    section_nested(f, "Warnings", &g->t[NT_WARNING], o->smtpd_warn_detail);
    section_nested(f, "Fatal errors", &g->t[NT_FATAL], -1);
    section_nested(f, "Panics", &g->t[NT_PANIC], -1);
    fputs("<h2>Master daemon messages</h2>\n", f);
    flat_table(f, "", &g->t[NT_MASTER], -1);

    fputs("<h2>Beyond pflogsumm</h2>\n<div class=\"cards\">\n", f);
    card(f, "expired", g->expired);
    card(f, "content-filter hops", g->filter_hops);
    card(f, "re-injected (counted once)", g->reinjected);
    card(f, "SASL successes", g->sasl_ok);
    card(f, "SASL failures", g->sasl_fail);
    card(f, "postscreen connections", g->ps_connect);
    card(f, "postscreen rejects", g->ps_reject);
    card(f, "smtpd connections", g->smtpd_connects);
    card(f, "smtpd IPv6 connections", g->smtpd_connects_v6);
    card(f, "smtpd TLS sessions", g->smtpd_tls);
    card(f, "Dovecot logins", g->dv_logins);
    card(f, "Dovecot failed login attempts", g->dv_login_fail_attempts);
    card(f, "Dovecot auth failures", g->dv_auth_fail);
    card(f, "LMTP deliveries", g->dv_lmtp_ok);
    fputs("</div>\n", f);
    flat_table(f, "Expired messages by sender", &g->t[NT_EXPIRED], top);
    flat_table(f, "SASL successes by user", &g->t[NT_SASL_OK_USER], top);
    flat_table(f, "SASL failures by client", &g->t[NT_SASL_FAIL_IP], top);
    flat_table(f, "SASL failures by user", &g->t[NT_SASL_FAIL_USER], top);
    flat_table(f, "postscreen events", &g->t[NT_PS], -1);
    flat_table(f, "postscreen: clients that failed", &g->t[NT_PS_IP], top);
    flat_table(f, "TLS sessions by service / protocol", &g->t[NT_TLS], -1);
    flat_table(f, "Dovecot logins by protocol / user", &g->t[NT_DV_LOGIN], top);
    flat_table(f, "Dovecot failed login attempts by protocol / client", &g->t[NT_DV_FAIL_IP], top);
    flat_table(f, "Dovecot auth failures by client", &g->t[NT_DV_AUTH_IP], top);
    flat_table(f, "Dovecot deliveries by user", &g->t[NT_DV_LMTP_USER], top);
    if (o->by_host) {
        fputs("<h2>Per host</h2>\n<div class=\"scroll\"><table><tr><th>host</th>", f);
        for (int c = 0; c < COL_MAX; c++) fprintf(f, "<th class=\"n\">%s</th>", colnames[c]);
        fputs("<th class=\"n\">expired</th></tr>\n", f);
        rows = sm_rows(&g->hosts, SORT_KEY, &n);
        for (size_t i = 0; i < n; i++) {
            const struct sm_host *h = rows[i].val;
            fputs("<tr><td>", f);
            esc(f, rows[i].key);
            fputs("</td>", f);
            for (int c = 0; c < COL_MAX; c++) fprintf(f, "<td class=\"n\">%" PRId64 "</td>", h->v[c]);
            fprintf(f, "<td class=\"n\">%" PRId64 "</td></tr>\n", h->expired);
        }
        free(rows);
        fputs("</table></div>\n", f);
    }
    fputs("</body></html>\n", f);
}
