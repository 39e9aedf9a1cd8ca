/*
 * summary_json - every figure of the text report as one JSON object (schema in
 * docs/summary-json.md, "mailwarden-summary/1"). Lists are in the text report's order and
 * obey the same --top-hosts/--top-users/--detail limits; counts are exact integers
 * (pflogsumm's k/m units are a text-only affair).
 */
#include "report/summary_int.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/timeparse.h"
#include <stdlib.h>
#include <string.h>

static void day_str(int32_t k, char *b, size_t cap)
{
    snprintf(b, cap, "%04d-%02d-%02d", sm_day_year(k) % 10000, sm_day_mon(k) % 100, sm_day_mday(k) % 100);
}

/* nested table -> {"key": {...}} ; leaf level -> {"total": N, "items": [{"text","count"}]} */
static void jnested(struct jw *w, const struct sm_nest *m, struct str prefix, int cnt)
{
    size_t n;
    bool leaf;
    struct sm_row *rows = sm_children(m, prefix, &n, &leaf);
    if (leaf) {
        int64_t total = 0;
        for (size_t i = 0; i < n; i++) total += rows[i].n;
        jw_obj(w);
        jw_key(w, "total");
        jw_int(w, total);
        jw_key(w, "items");
        jw_arr(w);
        int c = cnt;
        for (size_t i = 0; i < n; i++) {
            jw_obj(w);
            jw_key(w, "text");
            jw_str(w, rows[i].key);
            jw_key(w, "count");
            jw_int(w, rows[i].n);
            jw_obj_end(w);
            if (--c == 0) break;
        }
        jw_arr_end(w);
        jw_obj_end(w);
        free(rows);
        return;
    }
    jw_obj(w);
    char *pb = xmalloc(SM_CHILD_CAP(prefix));
    for (size_t i = 0; i < n; i++) {
        char key[1100];
        str_copy(key, sizeof key, rows[i].key);
        jw_key(w, key);
        jnested(w, m, sm_child_prefix(pb, prefix, rows[i].key), cnt);
    }
    free(pb);
    jw_obj_end(w);
    free(rows);
}

static void jtable(struct jw *w, const char *name, const struct hmap *m, int cnt)
{
    jw_key(w, name);
    if (cnt == 0) { jw_null(w); return; }
    if (!hmap_count(m)) { jw_obj(w); jw_obj_end(w); return; }
    struct sm_nest x;
    sm_nest_init(&x, m);
    jnested(w, &x, STR_NULL, cnt);
    sm_nest_free(&x);
}

/* flat count table -> [{"<label>": key, "count": n}] */
static void jlist(struct jw *w, const char *name, const char *label, const struct hmap *m, int cnt, bool split2, const char *label2)
{
    jw_key(w, name);
    jw_arr(w);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        struct str k = rows[i].key;
        ptrdiff_t sep = split2 ? str_chr(k, SM_SEP) : -1;
        if (sep >= 0) {
            jw_key(w, label2);
            jw_str(w, str_sub(k, 0, (size_t)sep));
            k = str_from(k, (size_t)sep + 1);
        }
        jw_key(w, label);
        jw_str(w, k);
        jw_key(w, "count");
        jw_int(w, rows[i].n);
        jw_obj_end(w);
        if (--cnt == 0) break;
    }
    free(rows);
    jw_arr_end(w);
}

static void kint(struct jw *w, const char *k, int64_t v) { jw_key(w, k); jw_int(w, v); }

static void users(struct jw *w, const char *name, const char *label, const struct hmap *m, int cnt)
{
    jw_key(w, name);
    jw_arr(w);
    size_t n;
    struct sm_row *rows = sm_rows(m, SORT_CNT_HOST, &n);
    for (size_t i = 0; i < n && cnt != 0; i++) {
        const struct sm_ucnt *u = rows[i].val;
        if (u->cnt <= 0) continue;
        jw_obj(w);
        jw_key(w, label);
        jw_str(w, rows[i].key);
        kint(w, "messages", u->cnt);
        kint(w, "bytes", u->size);
        jw_obj_end(w);
        --cnt;
    }
    free(rows);
    jw_arr_end(w);
}

static int cmp_day(const void *a, const void *b)
{
    int32_t x, y;
    memcpy(&x, ((const struct sm_row *)a)->key.p, 4);
    memcpy(&y, ((const struct sm_row *)b)->key.p, 4);
    return x < y ? -1 : x > y;
}

static const char *const colnames[COL_MAX] = { "received", "delivered", "deferred", "bounced", "rejected" };

void summary_print_json(const struct summary *s, FILE *f)
{
    const struct sm_stats *g = &s->g;
    const struct summary_opts *o = &s->o;
    struct jw w;
    jw_init(&w, f, true);
    jw_obj(&w);
    jw_key(&w, "schema");
    jw_cstr(&w, "mailwarden-summary/1");
    jw_key(&w, "date");
    jw_cstr(&w, o->date_label[0] ? o->date_label : NULL);

    jw_key(&w, "input");
    jw_obj(&w);
    kint(&w, "files", (int64_t)s->files);
    kint(&w, "files_failed", (int64_t)s->files_failed);
    kint(&w, "lines", (int64_t)s->lines);
    kint(&w, "bytes", (int64_t)s->bytes);
    kint(&w, "unparsed_lines", (int64_t)s->unparsed);
    kint(&w, "cut_lines", (int64_t)s->cut_lines);
    char tb[64];
    jw_key(&w, "first");
    if (s->first_t) { mwtime_rfc3339(s->first_t, -1, tb, sizeof tb); jw_cstr(&w, tb); } else jw_null(&w);
    jw_key(&w, "last");
    if (s->last_tt) { mwtime_rfc3339(s->last_tt, -1, tb, sizeof tb); jw_cstr(&w, tb); } else jw_null(&w);
    kint(&w, "days", s->ndays);
    kint(&w, "table_overflow", g->overflow);
    jw_obj_end(&w);

    int64_t total = g->dlvrd + g->rjctd + g->dscrdd;
    int64_t ndom = 0, nsdom = 0, nsend = 0;
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&g->recip_dom, &it, &k, &v)) if (((struct sm_rdom *)v)->cnt) ndom++;
    for (it = 0; hmap_next(&g->sendg_dom, &it, &k, &v);) if (((struct sm_ucnt *)v)->cnt > 0) nsdom++;
    for (it = 0; hmap_next(&g->sendg_user, &it, &k, &v);) if (((struct sm_ucnt *)v)->cnt > 0) nsend++;
    jw_key(&w, "totals");
    jw_obj(&w);
    kint(&w, "received", g->rcvd);
    kint(&w, "delivered", g->dlvrd);
    kint(&w, "forwarded", g->fwdd);
    kint(&w, "deferred", g->dfrd);
    kint(&w, "deferrals", g->dfrd_cnt);
    kint(&w, "bounced", g->bncd);
    kint(&w, "rejected", g->rjctd);
    kint(&w, "rejected_pct", total ? (int64_t)((double)g->rjctd / (double)total * 100) : 0);
    kint(&w, "reject_warnings", g->wrnd);
    kint(&w, "held", g->hld);
    kint(&w, "discarded", g->dscrdd);
    kint(&w, "discarded_pct", total ? (int64_t)((double)g->dscrdd / (double)total * 100) : 0);
    kint(&w, "bytes_received", g->size_rcvd);
    kint(&w, "bytes_delivered", g->size_dlvrd);
    kint(&w, "senders", nsend);
    kint(&w, "sending_domains", nsdom);
    kint(&w, "recipients", (int64_t)hmap_count(&g->recip_user));
    kint(&w, "recipient_domains", ndom);
    kint(&w, "expired", g->expired);
    kint(&w, "content_filter_hops", g->filter_hops);
    kint(&w, "reinjected", g->reinjected);
    jw_obj_end(&w);

    /* per day */
    size_t n;
    struct sm_row *rows = sm_rows(&g->days, SORT_KEY, &n);
    qsort(rows, n, sizeof *rows, cmp_day);
    jw_key(&w, "per_day");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const struct sm_day *d = rows[i].val;
        bool any = d->pflines || d->expired;
        for (int c = 0; c < COL_MAX; c++) if (d->v[c]) any = true;
        if (!any) continue;
        int32_t dk;
        memcpy(&dk, rows[i].key.p, 4);
        day_str(dk, tb, sizeof tb);
        jw_obj(&w);
        jw_key(&w, "date");
        jw_cstr(&w, tb);
        for (int c = 0; c < COL_MAX; c++) kint(&w, colnames[c], d->v[c]);
        kint(&w, "expired", d->expired);
        if (o->smtpd_stats) {
            kint(&w, "smtpd_connections", d->conn.cnt);
            kint(&w, "smtpd_seconds", d->conn.secs);
            kint(&w, "smtpd_max_seconds", d->conn.max);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    free(rows);

    /* per hour: totals and pflogsumm's (rounded) daily average */
    jw_key(&w, "per_hour");
    jw_arr(&w);
    for (int h = 0; h < 24; h++) {
        jw_obj(&w);
        kint(&w, "hour", h);
        for (int c = 0; c < COL_MAX; c++) kint(&w, colnames[c], g->hour[h][c]);
        jw_key(&w, "daily_average");
        jw_obj(&w);
        for (int c = 0; c < COL_MAX; c++)
            kint(&w, colnames[c], s->ndays ? (int64_t)((double)g->hour[h][c] / (double)s->ndays + 0.5) : g->hour[h][c]);
        jw_obj_end(&w);
        if (o->smtpd_stats) {
            kint(&w, "smtpd_connections", g->hconn[h].cnt);
            kint(&w, "smtpd_seconds", g->hconn[h].secs);
            kint(&w, "smtpd_max_seconds", g->hconn[h].max);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);

    /* host/domain summaries */
    jw_key(&w, "recipient_domains");
    jw_arr(&w);
    rows = sm_rows(&g->recip_dom, SORT_CNT_SIZE, &n);
    for (size_t i = 0, c = 0; i < n && (o->top_hosts < 0 || c < (size_t)o->top_hosts); i++, c++) {
        const struct sm_rdom *d = rows[i].val;
        jw_obj(&w);
        jw_key(&w, "domain");
        jw_str(&w, rows[i].key);
        kint(&w, "delivered", d->cnt);
        kint(&w, "bytes", d->size);
        kint(&w, "deferrals", d->defers);
        jw_key(&w, "avg_delay");
        jw_double(&w, d->cnt ? d->dly_sum / 1e6 / (double)d->cnt : 0, 3);
        jw_key(&w, "max_delay");
        jw_double(&w, d->dly_max / 1e6, 3);
        jw_obj_end(&w);
    }
    free(rows);
    jw_arr_end(&w);
    jw_key(&w, "sender_domains");
    jw_arr(&w);
    rows = sm_rows(&g->sendg_dom, SORT_CNT_SIZE, &n);
    for (size_t i = 0, c = 0; i < n && (o->top_hosts < 0 || c < (size_t)o->top_hosts); i++) {
        const struct sm_ucnt *d = rows[i].val;
        if (d->cnt <= 0) continue;
        c++;
        jw_obj(&w);
        jw_key(&w, "domain");
        jw_str(&w, rows[i].key);
        kint(&w, "messages", d->cnt);
        kint(&w, "bytes", d->size);
        jw_obj_end(&w);
    }
    free(rows);
    jw_arr_end(&w);
    users(&w, "senders", "address", &g->sendg_user, o->top_users);
    users(&w, "recipients", "address", &g->recip_user, o->top_users);

    jw_key(&w, "no_size");
    jw_arr(&w);
    rows = sm_rows(&g->nosize, SORT_KEY, &n);
    for (size_t i = 0; i < n; i++) {
        const struct sm_nosize *ns = rows[i].val;
        jw_obj(&w);
        jw_key(&w, "queue_id");
        jw_str(&w, rows[i].key);
        jw_key(&w, "address");
        jw_str(&w, (struct str){ ns->addr, ns->len });
        jw_obj_end(&w);
    }
    free(rows);
    jw_arr_end(&w);

    jtable(&w, "deferrals", &g->t[NT_DEFER], o->deferral_detail);
    jtable(&w, "bounces", &g->t[NT_BOUNCE], o->bounce_detail);
    jtable(&w, "rejects", &g->t[NT_REJECT], o->reject_detail);
    jtable(&w, "reject_warnings", &g->t[NT_WARN], o->reject_detail);
    jtable(&w, "holds", &g->t[NT_HOLD], o->reject_detail);
    jtable(&w, "discards", &g->t[NT_DISCARD], o->reject_detail);
    jtable(&w, "smtp_failures", &g->t[NT_SMTP], o->smtp_detail);
    jtable(&w, "warnings", &g->t[NT_WARNING], o->smtpd_warn_detail);
    jtable(&w, "fatal", &g->t[NT_FATAL], -1);
    jtable(&w, "panic", &g->t[NT_PANIC], -1);
    jlist(&w, "master", "text", &g->t[NT_MASTER], -1, false, NULL);

    if (o->smtpd_stats) {
        jw_key(&w, "smtpd");
        jw_obj(&w);
        kint(&w, "connections", g->smtpd_conn);
        kint(&w, "hosts", (int64_t)hmap_count(&g->smtpd_dom));
        kint(&w, "avg_seconds", g->smtpd_conn ? (int64_t)((double)g->smtpd_secs / (double)g->smtpd_conn + .5) : 0);
        kint(&w, "total_seconds", g->smtpd_secs);
        jw_key(&w, "by_host");
        jw_arr(&w);
        rows = sm_rows(&g->smtpd_dom, SORT_CNT_SIZE, &n);
        for (size_t i = 0; i < n && (o->top_hosts < 0 || i < (size_t)o->top_hosts); i++) {
            const struct sm_conn *c = rows[i].val;
            jw_obj(&w);
            jw_key(&w, "host");
            jw_str(&w, rows[i].key);
            kint(&w, "connections", c->cnt);
            kint(&w, "seconds", c->secs);
            kint(&w, "max_seconds", c->max);
            jw_obj_end(&w);
        }
        free(rows);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }

    int top = o->top_users;
    jlist(&w, "expired_by_sender", "sender", &g->t[NT_EXPIRED], top, false, NULL);
    jw_key(&w, "sasl");
    jw_obj(&w);
    kint(&w, "successes", g->sasl_ok);
    kint(&w, "failures", g->sasl_fail);
    jlist(&w, "successes_by_user", "user", &g->t[NT_SASL_OK_USER], top, false, NULL);
    jlist(&w, "successes_by_client", "client", &g->t[NT_SASL_OK_IP], top, false, NULL);
    jlist(&w, "failures_by_client", "client", &g->t[NT_SASL_FAIL_IP], top, false, NULL);
    jlist(&w, "failures_by_user", "user", &g->t[NT_SASL_FAIL_USER], top, false, NULL);
    jlist(&w, "failures_by_mechanism", "mechanism", &g->t[NT_SASL_FAIL_METHOD], -1, false, NULL);
    jw_obj_end(&w);
    jw_key(&w, "postscreen");
    jw_obj(&w);
    kint(&w, "connections", g->ps_connect);
    kint(&w, "rejected", g->ps_reject);
    jlist(&w, "events", "event", &g->t[NT_PS], -1, false, NULL);
    jlist(&w, "failed_clients", "client", &g->t[NT_PS_IP], top, false, NULL);
    jw_obj_end(&w);
    jw_key(&w, "tls");
    jw_obj(&w);
    kint(&w, "smtpd_connections", g->smtpd_connects);
    kint(&w, "smtpd_connections_ipv6", g->smtpd_connects_v6);
    kint(&w, "smtpd_tls_sessions", g->smtpd_tls);
    jw_key(&w, "smtpd_tls_pct");
    jw_double(&w, g->smtpd_connects ? 100.0 * (double)g->smtpd_tls / (double)g->smtpd_connects : 0, 1);
    jlist(&w, "sessions", "protocol", &g->t[NT_TLS], -1, true, "service");
    jw_obj_end(&w);
    jw_key(&w, "dovecot");
    jw_obj(&w);
    kint(&w, "logins", g->dv_logins);
    kint(&w, "failed_login_sessions", g->dv_login_fail_sessions);
    kint(&w, "failed_login_attempts", g->dv_login_fail_attempts);
    kint(&w, "no_auth_sessions", g->dv_no_auth);
    kint(&w, "auth_failures", g->dv_auth_fail);
    kint(&w, "lmtp_deliveries", g->dv_lmtp_ok);
    kint(&w, "lmtp_failures", g->dv_lmtp_fail);
    jlist(&w, "logins_by_user", "user", &g->t[NT_DV_LOGIN], top, true, "protocol");
    jlist(&w, "logins_by_client", "client", &g->t[NT_DV_LOGIN_IP], top, false, NULL);
    jlist(&w, "failed_logins_by_client", "client", &g->t[NT_DV_FAIL_IP], top, true, "protocol");
    jlist(&w, "auth_failures_by_user", "user", &g->t[NT_DV_AUTH_USER], top, false, NULL);
    jlist(&w, "auth_failures_by_client", "client", &g->t[NT_DV_AUTH_IP], top, false, NULL);
    jlist(&w, "deliveries_by_user", "user", &g->t[NT_DV_LMTP_USER], top, false, NULL);
    jw_obj_end(&w);
    if (o->by_host) {
        jw_key(&w, "by_host");
        jw_arr(&w);
        rows = sm_rows(&g->hosts, SORT_KEY, &n);
        for (size_t i = 0; i < n; i++) {
            const struct sm_host *h = rows[i].val;
            jw_obj(&w);
            jw_key(&w, "host");
            jw_str(&w, rows[i].key);
            for (int c = 0; c < COL_MAX; c++) kint(&w, colnames[c], h->v[c]);
            kint(&w, "expired", h->expired);
            kint(&w, "lines", h->lines);
            jw_obj_end(&w);
        }
        free(rows);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    jw_end(&w);
}
