/*
 * cmd_regex - `mailwarden regex [OPTIONS] LOG FILTER|REGEX [IGNOREREGEX]`: what
 * fail2ban-regex does, on fail2ban's filter files or mailwarden's built-in filters.
 *
 * LOG is a file (plain or compressed, "-" for stdin) or, when no such file exists, the text
 * of log lines itself. FILTER is a built-in filter name, a filter name looked up in the
 * filter directories (--filter-dir, default <config dir>/filter.d then
 * /etc/fail2ban/filter.d), "name[k=v,...]", a path to a filter file, or else a failregex.
 *
 * Output: fail2ban-regex's summary (per-regex hits, date template hits, lines
 * matched/ignored/missed, optional line lists) on stdout; with --json, stdout carries only
 * JSON lines (one object per failure) and the summary goes to stderr; with -o, only the
 * requested failure information is printed. Lines starting with '#' and empty lines are
 * skipped, as fail2ban-regex does.
 * Memory: lines are processed in batches (mapped files are not copied); line lists kept for
 * printing are bounded unless --print-all-* asks for them.
 */
#include "cli/cli.h"
#include "guard/f2b_filter.h"
#include "guard/filter.h"
#include "guard/ini.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/par.h"
#include "util/reader.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MW_CONFDIR
#define MW_CONFDIR "/etc/mailwarden"
#endif

#define BATCH_LINES 65536
#define LIST_MAX 20            /* fail2ban-regex's _maxlines: lists longer than this are not printed */

static const char usage[] =
    "usage: mailwarden regex [OPTIONS] LOG FILTER|REGEX [IGNOREREGEX]\n"
    "\n"
    "Test a filter on a log, as fail2ban-regex does: per-regex hit counts, date template\n"
    "hits, lines matched/ignored/missed.\n"
    "\n"
    "LOG          a log file (plain, .gz, .xz, .zst, .bz2; '-' for stdin), or log line text\n"
    "FILTER       a built-in filter (mailwarden-...), a filter name in the filter directories\n"
    "             (optionally with arguments: sshd[mode=aggressive]), a path to a filter file,\n"
    "             or a failregex\n"
    "IGNOREREGEX  an ignoreregex\n"
    "\n"
    "Options:\n"
    "  -c, --config DIR          configuration directory (default " MW_CONFDIR ")\n"
    "      --filter-dir DIR      look filter names up in DIR (repeatable; default:\n"
    "                            <config>/filter.d, then /etc/fail2ban/filter.d)\n"
    "      --filter-option K=V   filter argument, as FILTER[K=V] (repeatable)\n"
    "  -d, --datepattern P       date pattern instead of the filter's\n"
    "  -L, --maxlines N          lines buffered for multi-line regexes instead of the filter's\n"
    "      --usedns yes|no|raw   'no': <HOST> matches addresses only\n"
    "      --timezone TZ         zone of dates without one (UTC, UTC+0200, CET...; default TZ)\n"
    "      --journal             lines are journal messages without a date (time = now)\n"
    "      --now T               reference time for dates without year or day (default now)\n"
    "      --json                one JSON object per failure on stdout, summary on stderr:\n"
    "                            {\"line\":N,\"host\":\"...\",\"time\":EPOCH[,\"user\":...]\n"
    "                             [,\"users\":[...],\"attempts\":N][,\"fields\":{...}]}\n"
    "  -o, --out FMT             print only failure information: id, ip, msg, row, a capture\n"
    "                            name (user, ...) or a template like '<ip> <F-USER>'\n"
    "      --print-all-matched   list every matched line\n"
    "      --print-all-missed    list every missed line\n"
    "      --print-all-ignored   list every ignored line\n"
    "      --print-no-missed     do not list missed lines\n"
    "      --print-no-ignored    do not list ignored lines\n"
    "      --no-check-all        stop at the first matching failregex of a line\n"
    "      --threads N           threads for big inputs (default: CPUs, at most 8)\n"
    "  -v, --verbose             more detail (prefregex groups, all regexes)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 done, 1 the log could not be read, 2 usage error or bad filter.\n";

enum {
    O_FILTER_DIR = 0x2000, O_FILTER_OPT, O_USEDNS, O_TZ, O_JOURNAL, O_NOW, O_JSON, O_PAM, O_PAMI, O_PAI,
    O_PNM, O_PNI, O_NOCHECK, O_THREADS
};

struct linelist {
    char **v;
    size_t n, cap;
    uint64_t total;
    bool all;
};

struct ctx {
    /* options */
    bool json, print_all_matched, print_all_missed, print_all_ignored, print_no_missed, print_no_ignored;
    bool verbose;
    const char *out;
    /* output */
    struct jw jw;
    FILE *sum;                    /* summary stream */
    struct linelist matched, missed, ignored;
    uint64_t failures;
    /* built-in filters */
    uint64_t lines, nmatched, nignored, nmissed;
};

static void ll_add(struct linelist *l, struct str s)
{
    l->total++;
    if (!l->all && l->n > LIST_MAX) return;
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = xstrndup(s.p, s.len);
}

static void ll_remove(struct linelist *l, struct str s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == s.len && memcmp(l->v[i], s.p, s.len) == 0) {
            free(l->v[i]);
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
            l->n--;
            break;
        }
    if (l->total) l->total--;
}

static void ll_free(struct linelist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* Print s with control characters escaped (log text is attacker-written). */
static void put_text(FILE *f, struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

static void put_time(struct jw *w, double t)
{
    if (t == floor(t) && fabs(t) < 1e15) jw_int(w, (int64_t)t);
    else jw_double(w, t, 6);
}

static struct str field_s(const struct failure *f, const char *key, bool *found)
{
    for (size_t i = 0; i < f->nfields; i++)
        if (strcmp(f->fields[i].key, key) == 0) {
            *found = true;
            return f->fields[i].val;
        }
    *found = false;
    return STR_NULL;
}

/* -o FMT */
static void out_failure(struct ctx *c, const struct failure *f)
{
    const char *o = c->out;
    bool found;
    if (!strcmp(o, "id") || !strcmp(o, "fid")) {
        put_text(stdout, f->host);
        fputc('\n', stdout);
    } else if (!strcmp(o, "ip")) {
        struct str ip = field_s(f, "ip", &found);
        put_text(stdout, found ? ip : f->host);
        fputc('\n', stdout);
    } else if (!strcmp(o, "msg")) {
        for (size_t i = 0; i < f->nlines; i++) {
            put_text(stdout, f->lines[i]);
            fputc('\n', stdout);
        }
    } else if (!strcmp(o, "row")) {
        fputs("['", stdout);
        put_text(stdout, f->host);
        fprintf(stdout, "',\t%.6g,\t{", f->has_time ? f->time : 0.0);
        for (size_t i = 0; i < f->nfields; i++) {
            fprintf(stdout, "%s'%s': '", i ? ", " : "", f->fields[i].key);
            put_text(stdout, f->fields[i].val);
            fputc('\'', stdout);
        }
        if (f->has_user) {
            fprintf(stdout, "%s'user': '", f->nfields ? ", " : "");
            put_text(stdout, f->user);
            fputc('\'', stdout);
        }
        fputs("}],\n", stdout);
    } else if (!strchr(o, '<')) {
        struct str v = !strcmp(o, "user") && f->has_user ? f->user : field_s(f, o, &found);
        if (!strcmp(o, "user")) found = f->has_user;
        if (found) put_text(stdout, v);
        else fputs("None", stdout);
        fputc('\n', stdout);
    } else {
        /* template: <ip> <fid> <host> <time> <failures> <F-NAME> <name> */
        for (const char *p = o; *p;) {
            const char *gt = *p == '<' ? strchr(p, '>') : NULL;
            if (!gt) {
                fputc(*p++, stdout);
                continue;
            }
            char tag[64];
            size_t tl = (size_t)(gt - p - 1);
            if (tl >= sizeof tag) {
                fputc(*p++, stdout);
                continue;
            }
            memcpy(tag, p + 1, tl);
            tag[tl] = 0;
            struct str ip = field_s(f, "ip", &found);
            if (!strcmp(tag, "ip") || !strcmp(tag, "host")) put_text(stdout, found ? ip : f->host);
            else if (!strcmp(tag, "fid")) put_text(stdout, f->host);
            else if (!strcmp(tag, "time")) fprintf(stdout, "%.6f", f->has_time ? f->time : 0.0);
            else if (!strcmp(tag, "failures") || !strcmp(tag, "attempts")) fprintf(stdout, "%u", f->attempts);
            else {
                char key[64];
                const char *k = tag;
                if (!strncmp(tag, "F-", 2)) {
                    size_t i = 0;
                    for (; tag[2 + i] && i < sizeof key - 1; i++) key[i] = (char)(tag[2 + i] | 0x20);
                    key[i] = 0;
                    k = !strcmp(key, "id") ? "fid" : !strcmp(key, "port") ? "fport" : key;
                }
                if (!strcmp(k, "user") && f->has_user) put_text(stdout, f->user);
                else {
                    struct str v = field_s(f, k, &found);
                    if (found) put_text(stdout, v);
                    else fwrite(p, 1, (size_t)(gt - p + 1), stdout);
                }
            }
            p = gt + 1;
        }
        fputc('\n', stdout);
    }
}

static void on_failure(void *ud, const struct failure *f)
{
    struct ctx *c = ud;
    c->failures++;
    if (c->out) {
        out_failure(c, f);
        return;
    }
    if (!c->json) return;
    struct jw *w = &c->jw;
    jw_obj(w);
    jw_key(w, "line");
    jw_uint(w, f->line);
    jw_key(w, "host");
    jw_str(w, f->host);
    jw_key(w, "time");
    if (f->has_time) put_time(w, f->time);
    else jw_null(w);
    if (f->has_user) {
        jw_key(w, "user");
        jw_str(w, f->user);
    }
    if (f->nusers) {
        jw_key(w, "users");
        jw_arr(w);
        for (size_t i = 0; i < f->nusers; i++) jw_str(w, f->users[i]);
        jw_arr_end(w);
    }
    if (f->attempts != 1) {
        jw_key(w, "attempts");
        jw_uint(w, f->attempts);
    }
    if (f->nfields) {
        jw_key(w, "fields");
        jw_obj(w);
        for (size_t i = 0; i < f->nfields; i++) {
            jw_key(w, f->fields[i].key);
            jw_str(w, f->fields[i].val);
        }
        jw_obj_end(w);
    }
    jw_obj_end(w);
    jw_end(w);
}

static void on_line(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    struct ctx *c = ud;
    if (c->out) return;
    switch (v) {
    case FV_MATCHED:
        if (c->print_all_matched) ll_add(&c->matched, text);
        else c->matched.total++;
        break;
    case FV_IGNORED:
        if (!c->print_no_ignored) ll_add(&c->ignored, text);
        else c->ignored.total++;
        break;
    default:
        if (!c->print_no_missed) ll_add(&c->missed, text);
        else c->missed.total++;
        break;
    }
}

static void on_rematched(void *ud, struct str text)
{
    struct ctx *c = ud;
    if (c->out) return;
    if (!c->print_no_missed) ll_remove(&c->missed, text);
    if (c->print_all_matched) ll_add(&c->matched, text);
}

/* ---- input ------------------------------------------------------------------------------ */

struct batch {
    struct filter_line *l;
    size_t n;
    struct buf data;              /* copies of streamed lines */
    size_t *off;                  /* offsets into data for streamed lines */
};

typedef void (*batch_fn)(void *ud, struct filter_line *lines, size_t n);
/* whole-line text of a mapped file: returns the number of lines in it */
typedef uint64_t (*text_fn)(void *ud, const char *text, size_t len, uint64_t first);

#define TEXT_CHUNK (8u << 20)

/* fail2ban-regex skips comment and empty lines */
static bool skip_line(struct str s) { return s.len == 0 || s.p[0] == '#'; }

static int read_log(const char *path, bool *is_text, batch_fn fn, text_fn tfn, void *ud, bool journal, int64_t now)
{
    struct batch b = { 0 };
    b.l = xcalloc(BATCH_LINES, sizeof *b.l);
    b.off = xcalloc(BATCH_LINES, sizeof *b.off);
    b.data = BUF_INIT((size_t)1 << 34);
    uint64_t lineno = 0;
    struct stat st;
    *is_text = false;
    if (strcmp(path, "-") != 0 && stat(path, &st) != 0) {
        /* not a file: the argument is the log text itself */
        *is_text = true;
        const char *p = path;
        for (;;) {
            const char *nl = strchr(p, '\n');
            struct str s = str_make(p, nl ? (size_t)(nl - p) : strlen(p));
            while (s.len && (s.p[s.len - 1] == '\r')) s.len--;
            lineno++;
            if (!skip_line(s) && b.n < BATCH_LINES) {
                b.l[b.n] = (struct filter_line){ s, lineno, journal, (double)now };
                b.n++;
            }
            if (!nl) break;
            p = nl + 1;
        }
        if (b.n) fn(ud, b.l, b.n);
        free(b.l);
        free(b.off);
        return 0;
    }
    char err[512];
    struct reader *r = reader_open(path, err, sizeof err);
    if (!r) {
        msg_error("%s", err);
        free(b.l);
        free(b.off);
        return -1;
    }
    size_t mlen = 0;
    const char *map = reader_map(r, &mlen);
    int rc = 0;
    if (map && tfn) {
        /* chunks that end at a line end; the filter splits them into lines in parallel */
        size_t pos = 0, dropped = 0;
        long pg = sysconf(_SC_PAGESIZE);
        while (pos < mlen) {
            size_t end = mlen - pos > TEXT_CHUNK ? pos + TEXT_CHUNK : mlen;
            if (end < mlen) {
                const char *nl = memchr(map + end, '\n', mlen - end);
                end = nl ? (size_t)(nl - map) + 1 : mlen;
            }
#ifdef MADV_POPULATE_READ
            /* map the chunk's pages in one call instead of one fault per few pages */
            size_t pa = pos / (size_t)pg * (size_t)pg;
            madvise((void *)(uintptr_t)(map + pa), end - pa, MADV_POPULATE_READ);
#endif
            lineno += tfn(ud, map + pos, end - pos, lineno + 1);
            pos = end;
            size_t upto = pos / (size_t)pg * (size_t)pg;
            if (pg > 0 && upto > dropped) {
                madvise((void *)(uintptr_t)(map + dropped), upto - dropped, MADV_DONTNEED);
                dropped = upto;
            }
        }
    } else if (map) {
        size_t pos = 0, dropped = 0;
        long pg = sysconf(_SC_PAGESIZE);
        struct str s;
        while (lines_next(map, mlen, &pos, &s, NULL)) {
            lineno++;
            if (skip_line(s)) continue;
            b.l[b.n++] = (struct filter_line){ s, lineno, journal, (double)now };
            if (b.n == BATCH_LINES) {
                fn(ud, b.l, b.n);
                b.n = 0;
                /* done with these pages: keep the resident set to about one batch */
                size_t upto = pos / (size_t)pg * (size_t)pg;
                if (pg > 0 && upto > dropped) {
                    madvise((void *)(uintptr_t)(map + dropped), upto - dropped, MADV_DONTNEED);
                    dropped = upto;
                }
            }
        }
    } else {
        struct str s;
        int k;
        while ((k = reader_next(r, &s)) == 1) {
            lineno++;
            if (skip_line(s)) continue;
            b.off[b.n] = b.data.len;
            if (buf_append(&b.data, s.p, s.len) < 0) {
                msg_error("%s: out of buffer space", reader_path(r));
                rc = -1;
                break;
            }
            b.l[b.n++] = (struct filter_line){ str_make(NULL, s.len), lineno, journal, (double)now };
            if (b.n == BATCH_LINES || b.data.len > (64u << 20)) {
                for (size_t i = 0; i < b.n; i++) b.l[i].text.p = b.data.p + b.off[i];
                fn(ud, b.l, b.n);
                b.n = 0;
                buf_reset(&b.data);
            }
        }
        if (k < 0) {
            msg_error("%s", reader_error(r));
            rc = -1;
        }
        for (size_t i = 0; i < b.n; i++) b.l[i].text.p = b.data.p + b.off[i];
    }
    if (b.n) fn(ud, b.l, b.n);
    const struct reader_stats *rs = reader_stats(r);
    if (rs->cut_lines) msg_warn("%s: %llu line(s) longer than %d bytes were cut", reader_path(r),
                                (unsigned long long)rs->cut_lines, READER_MAX_LINE);
    reader_close(r);
    buf_free(&b.data);
    free(b.l);
    free(b.off);
    return rc;
}

struct run_f2b {
    struct f2b_engine *e;
    struct ctx *c;
    struct f2b_cbs cbs;
    bool journal;
};

static void batch_f2b(void *ud, struct filter_line *lines, size_t n)
{
    struct run_f2b *r = ud;
    f2b_engine_feed(r->e, lines, n, &r->cbs, r->c);
}

static uint64_t text_f2b(void *ud, const char *text, size_t len, uint64_t first)
{
    struct run_f2b *r = ud;
    return f2b_engine_feed_text(r->e, text, len, first, F2B_FEED_SKIP_COMMENTS | (r->journal ? F2B_FEED_JOURNAL : 0),
                                &r->cbs, r->c);
}

struct run_gen {
    struct filter *f;
    struct ctx *c;
    int threads;
};

static void gen_verdict(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    struct ctx *c = ud;
    c->lines++;
    if (v == FV_MATCHED) c->nmatched++;
    else if (v == FV_IGNORED) c->nignored++;
    else c->nmissed++;
    on_line(c, lineno, text, v);
}

static void batch_gen(void *ud, struct filter_line *lines, size_t n)
{
    struct run_gen *r = ud;
    if (r->f->ops->feed_lines) {
        struct filter_batch fb = { on_failure, gen_verdict, r->c, r->threads };
        r->f->ops->feed_lines(r->f, lines, n, &fb);
        return;
    }
    for (size_t i = 0; i < n; i++)
        gen_verdict(r->c, lines[i].lineno, lines[i].text, filter_feed(r->f, &lines[i], on_failure, r->c));
}

static uint64_t text_gen(void *ud, const char *text, size_t len, uint64_t first)
{
    struct run_gen *r = ud;
    struct filter_batch fb = { on_failure, gen_verdict, r->c, r->threads };
    return r->f->ops->feed_text(r->f, text, len, first, FILTER_SKIP_COMMENTS, &fb);
}

/* ---- summary ---------------------------------------------------------------------------- */

static void print_list(FILE *f, const char *what, const struct linelist *l, bool all)
{
    if (!l->total) return;
    if (l->total < LIST_MAX || all) {
        fprintf(f, "|- %s line(s):\n", what);
        for (size_t i = 0; i < l->n; i++) {
            fputs("|  ", f);
            struct str s = str_c(l->v[i]);
            while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t')) s.len--;
            put_text(f, s);
            fputc('\n', f);
        }
        fputs("`-\n", f);
    } else {
        fprintf(f, "%s line(s): too many to print.  Use --print-all-%c%s to print all %llu lines\n", what,
                what[0] | 0x20, what + 1, (unsigned long long)l->total);
    }
}

static void print_regexes(FILE *f, const char *title, struct f2b_re *const *re, size_t n,
                          const uint64_t *hits, bool verbose)
{
    uint64_t total = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        total += hits[i];
        if (hits[i] || verbose) any = true;
    }
    fprintf(f, "\n%s: %llu total\n", title, (unsigned long long)total);
    if (!any) return;
    fputs("|-  #) [# of hits] regular expression\n", f);
    for (size_t i = 0; i < n; i++)
        if (hits[i] || verbose) {
            fprintf(f, "|  %2zu) [%llu] ", i + 1, (unsigned long long)hits[i]);
            put_text(f, str_c(re[i]->source));
            fputc('\n', f);
        }
    fputs("`-\n", f);
}

static void summary_f2b(struct ctx *c, const struct f2b_def *d, const struct f2b_engine *e, double secs)
{
    FILE *f = c->sum;
    const struct f2b_stats *st = f2b_engine_stats(e);
    fputs("\nResults\n=======\n", f);
    if (d->pref) {
        fprintf(f, "\nPrefregex: %llu total\n|  ", (unsigned long long)st->pref_hits);
        put_text(f, str_c(d->pref->resolved));
        fputs("\n`-\n", f);
    }
    print_regexes(f, "Failregex", d->fail, d->nfail, st->fail_hits, c->verbose);
    print_regexes(f, "Ignoreregex", d->ign, d->nign, st->ign_hits, c->verbose);
    if (d->dates) {
        fputs("\nDate template hits:\n", f);
        bool any = false;
        for (size_t i = 0; i < d->dates->n; i++)
            if (f2b_engine_date_hits(e, i) || c->verbose) any = true;
        if (any) {
            fputs("|- [# of hits] date format\n", f);
            for (size_t i = 0; i < d->dates->n; i++) {
                uint64_t h = f2b_engine_date_hits(e, i);
                if (h || c->verbose)
                    fprintf(f, "|  [%llu] %s\n", (unsigned long long)h, dd_template_name(d->dates->t[i]));
            }
            fputs("`-\n", f);
        }
    }
    fprintf(f, "\nLines: %llu lines, %llu ignored, %llu matched, %llu missed\n",
            (unsigned long long)st->lines, (unsigned long long)st->ignored, (unsigned long long)st->matched,
            (unsigned long long)st->missed);
    fprintf(f, "[processed in %.2f sec]\n", secs);
    if (st->limit_hits)
        fprintf(f, "%llu line(s) hit the regex match limit and were skipped\n", (unsigned long long)st->limit_hits);
    fputc('\n', f);
    if (c->print_all_matched) print_list(f, "Matched", &c->matched, true);
    if (!c->print_no_ignored) print_list(f, "Ignored", &c->ignored, c->print_all_ignored);
    if (!c->print_no_missed) print_list(f, "Missed", &c->missed, c->print_all_missed);
}

static void summary_gen(struct ctx *c, double secs)
{
    FILE *f = c->sum;
    fputs("\nResults\n=======\n", f);
    fprintf(f, "\nFailures: %llu total\n", (unsigned long long)c->failures);
    fprintf(f, "\nLines: %llu lines, %llu ignored, %llu matched, %llu missed\n",
            (unsigned long long)c->lines, (unsigned long long)c->nignored, (unsigned long long)c->nmatched,
            (unsigned long long)c->nmissed);
    fprintf(f, "[processed in %.2f sec]\n\n", secs);
    if (c->print_all_matched) print_list(f, "Matched", &c->matched, true);
    if (!c->print_no_ignored) print_list(f, "Ignored", &c->ignored, c->print_all_ignored);
    if (!c->print_no_missed) print_list(f, "Missed", &c->missed, c->print_all_missed);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "filter-dir", required_argument, NULL, O_FILTER_DIR },
        { "filter-option", required_argument, NULL, O_FILTER_OPT },
        { "datepattern", required_argument, NULL, 'd' },
        { "maxlines", required_argument, NULL, 'L' },
        { "usedns", required_argument, NULL, O_USEDNS },
        { "timezone", required_argument, NULL, O_TZ },
        { "TZ", required_argument, NULL, O_TZ },
        { "journal", no_argument, NULL, O_JOURNAL },
        { "now", required_argument, NULL, O_NOW },
        { "json", no_argument, NULL, O_JSON },
        { "out", required_argument, NULL, 'o' },
        { "print-all-matched", no_argument, NULL, O_PAM },
        { "print-all-missed", no_argument, NULL, O_PAMI },
        { "print-all-ignored", no_argument, NULL, O_PAI },
        { "print-no-missed", no_argument, NULL, O_PNM },
        { "print-no-ignored", no_argument, NULL, O_PNI },
        { "no-check-all", no_argument, NULL, O_NOCHECK },
        { "threads", required_argument, NULL, O_THREADS },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ctx c;
    memset(&c, 0, sizeof c);
    const char *confdir = MW_CONFDIR, *datepattern = NULL, *usedns = NULL, *tz = NULL;
    const char *dirs[32];
    size_t ndirs = 0;
    struct ini_vars fopts = { 0 };
    int maxlines = 0, threads = 0, opt;
    bool journal = false, check_all = true;
    int64_t now = (int64_t)time(NULL);
    int rc = EXIT_USAGE;
    /* batches allocate and free the same amounts again and again: keep the heap */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:d:L:o:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': confdir = optarg; break;
        case O_FILTER_DIR:
            if (ndirs < 30) dirs[ndirs++] = optarg;
            break;
        case O_FILTER_OPT: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                rc = cli_usage_error("regex", "--filter-option expects KEY=VALUE, got '%s'", optarg);
                goto out;
            }
            ini_vars_setn(&fopts, optarg, (size_t)(eq - optarg), eq + 1, strlen(eq + 1));
            break;
        }
        case 'd': datepattern = optarg; break;
        case 'L': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000) {
                rc = cli_usage_error("regex", "--maxlines expects a number from 1 to 1000");
                goto out;
            }
            maxlines = (int)v;
            break;
        }
        case O_USEDNS:
            if (strcmp(optarg, "yes") && strcmp(optarg, "no") && strcmp(optarg, "raw") && strcmp(optarg, "warn")) {
                rc = cli_usage_error("regex", "--usedns expects yes, no or raw");
                goto out;
            }
            usedns = optarg;
            break;
        case O_TZ: tz = optarg; break;
        case O_JOURNAL: journal = true; break;
        case O_NOW: {
            char err[256];
            if (mwtime_parse(optarg, (int64_t)time(NULL), &now, err, sizeof err) < 0) {
                rc = cli_usage_error("regex", "--now %s: %s", optarg, err);
                goto out;
            }
            break;
        }
        case O_JSON: c.json = true; break;
        case 'o': c.out = optarg; break;
        case O_PAM: c.print_all_matched = true; break;
        case O_PAMI: c.print_all_missed = true; break;
        case O_PAI: c.print_all_ignored = true; break;
        case O_PNM: c.print_no_missed = true; break;
        case O_PNI: c.print_no_ignored = true; break;
        case O_NOCHECK: check_all = false; break;
        case O_THREADS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                rc = cli_usage_error("regex", "--threads expects a number from 1 to 64");
                goto out;
            }
            threads = (int)v;
            break;
        }
        case 'v': c.verbose = true; break;
        case 'h': cli_help(&cmd_regex, stdout); rc = EXIT_OK; goto out;
        default: rc = cli_usage_error("regex", "unknown option"); goto out;
        }
    }
    if (argc - optind < 2 || argc - optind > 3) {
        rc = cli_usage_error("regex", "expected LOG and FILTER|REGEX [IGNOREREGEX]");
        goto out;
    }
    if (c.print_no_missed && c.print_all_missed) {
        rc = cli_usage_error("regex", "--print-no-missed and --print-all-missed are mutually exclusive");
        goto out;
    }
    if (c.print_no_ignored && c.print_all_ignored) {
        rc = cli_usage_error("regex", "--print-no-ignored and --print-all-ignored are mutually exclusive");
        goto out;
    }
    if (c.json && c.out) {
        rc = cli_usage_error("regex", "--json and -o are mutually exclusive");
        goto out;
    }
    const char *log = argv[optind], *spec = argv[optind + 1];
    const char *ignore = argc - optind == 3 ? argv[optind + 2] : NULL;
    char *confd = NULL;
    if (ndirs == 0) {
        confd = xasprintf("%s/filter.d", confdir);
        dirs[ndirs++] = confd;
        dirs[ndirs++] = "/etc/fail2ban/filter.d";
    }
    if (threads == 0) threads = par_cpus();
    c.matched.all = c.print_all_matched;
    c.missed.all = c.print_all_missed;
    c.ignored.all = c.print_all_ignored;
    c.sum = c.json ? stderr : stdout;
    jw_init(&c.jw, stdout, false);
    if (!c.out) fputs("\nRunning tests\n=============\n\n", c.sum);

    char err[1024] = "";
    /* built-in filter? */
    char *bname = NULL;
    struct ini_vars bopts = { 0 };
    const struct filter_builtin *bi = NULL;
    if (ini_split_option(spec, &bname, &bopts, err, sizeof err) == 0) bi = filter_builtin_find(bname);
    double t0 = mono();
    bool is_text = false;
    if (bi) {
        ini_vars_copy(&bopts, &fopts);
        struct filter *f = bi->open(&bopts, now, err, sizeof err);
        if (!f) {
            msg_error("filter %s: %s", bname, err);
            rc = EXIT_USAGE;
        } else {
            if (!c.out) fprintf(c.sum, "Use   built-in filter : %s\n", bname);
            struct run_gen rg = { f, &c, threads };
            if (read_log(log, &is_text, batch_gen, f->ops->feed_text ? text_gen : NULL, &rg, journal, now) < 0)
                rc = EXIT_FAIL;
            else {
                rc = EXIT_OK;
                if (!c.out) summary_gen(&c, mono() - t0);
            }
            filter_close(f);
        }
    } else {
        struct f2b_load lo = { dirs, ndirs, &fopts, datepattern, maxlines, usedns, journal ? "journal" : "file",
                               tz, journal, false };
        struct f2b_def *d = NULL;
        if (f2b_def_load(&d, spec, ignore, &lo, err, sizeof err) < 0) {
            msg_error("%s", err);
            rc = EXIT_USAGE;
        } else {
            if (!c.out) {
                if (d->file) fprintf(c.sum, "Use   failregex filter file : %s, file: %s\n", d->name, d->file);
                else fprintf(c.sum, "Use      failregex line : %.50s%s\n", spec, strlen(spec) > 50 ? "..." : "");
                if (ignore) fprintf(c.sum, "Use    ignoreregex line : %.50s%s\n", ignore, strlen(ignore) > 50 ? "..." : "");
                if (d->datepattern)
                    fprintf(c.sum, "Use      datepattern : %s : %s\n", d->datepattern,
                            !d->dates || d->dates->n == 0 || d->dates->n > 2 ? "Default Detectors"
                                                                             : dd_template_name(d->dates->t[0]));
                if (d->maxlines > 1) fprintf(c.sum, "Use         maxlines : %d\n", d->maxlines);
                if (journal) fputs("Use         journal lines (time = now)\n", c.sum);
            }
            struct f2b_opts fo = { check_all && !c.out, c.out != NULL, now, threads };
            struct f2b_engine *e = f2b_engine_new(d, &fo);
            struct run_f2b rf = { e, &c, { on_failure, on_line, on_rematched }, journal };
            if (!c.out && strcmp(log, "-") != 0) {
                struct stat st;
                if (stat(log, &st) == 0) fprintf(c.sum, "Use         log file : %s\n\n", log);
                else fputs("Use      log line(s)\n\n", c.sum);
            }
            if (read_log(log, &is_text, batch_f2b, text_f2b, &rf, journal, now) < 0) {
                rc = EXIT_FAIL;
            } else {
                rc = EXIT_OK;
                if (!c.out) summary_f2b(&c, d, e, mono() - t0);
                const struct f2b_stats *st = f2b_engine_stats(e);
                if (st->limit_hits)
                    msg_warn("%llu line(s) hit the regex match limit and were skipped",
                             (unsigned long long)st->limit_hits);
            }
            f2b_engine_free(e);
            f2b_def_free(d);
        }
    }
    fflush(stdout);
    free(bname);
    ini_vars_free(&bopts);
    free(confd);
out:
    ini_vars_free(&fopts);
    ll_free(&c.matched);
    ll_free(&c.missed);
    ll_free(&c.ignored);
    return rc;
}

const struct command cmd_regex = { "regex", run, "test fail2ban filters and built-in filters on a log", usage };
