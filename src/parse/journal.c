/* journal - see journal.h. */
#include "parse/journal.h"
#include "util/buf.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <systemd/sd-journal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JLINE_MAX (64 * 1024)   /* the reader's line limit applies here too */

struct jsource {
    sd_journal *j;
    struct buf line;
    uint64_t usec;              /* realtime of the entry last returned */
};

bool journal_available(void) { return true; }

static int add_matches(sd_journal *j, const char *const *matches, char *err, size_t errlen)
{
    for (size_t i = 0; matches && matches[i]; i++) {
        const char *m = matches[i];
        int r;
        if (strcmp(m, "+") == 0) r = sd_journal_add_disjunction(j);
        else if (!strchr(m, '=')) r = -EINVAL;
        else r = sd_journal_add_match(j, m, 0);
        if (r < 0) {
            snprintf(err, errlen, "journal match '%s': %s", m, strerror(-r));
            return -1;
        }
    }
    return 0;
}

struct jsource *journal_open(const char *path, const char *const *matches, int64_t since,
                             char *err, size_t errlen)
{
    sd_journal *j = NULL;
    int r;
    if (!path) {
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
    } else {
        FILE *probe = fopen(path, "r");
        if (!probe) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return NULL;
        }
        fclose(probe);
        const char *files[2] = { path, NULL };
        r = sd_journal_open_directory(&j, path, 0);
        if (r == -ENOTDIR) r = sd_journal_open_files(&j, files, 0);
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot open journal: %s", path ? path : "system journal", strerror(-r));
        return NULL;
    }
    if (add_matches(j, matches, err, errlen) < 0) {
        sd_journal_close(j);
        return NULL;
    }
    if (since != INT64_MIN && since > 0) r = sd_journal_seek_realtime_usec(j, (uint64_t)since * 1000000u);
    else r = sd_journal_seek_head(j);
    if (r < 0) {
        snprintf(err, errlen, "%s: seek: %s", path ? path : "system journal", strerror(-r));
        sd_journal_close(j);
        return NULL;
    }
    struct jsource *s = xcalloc(1, sizeof *s);
    s->j = j;
    s->line = BUF_INIT(JLINE_MAX + 512);
    return s;
}

/* Value of FIELD in the current entry, or empty. Valid until the next sd_journal call. */
static struct str field(sd_journal *j, const char *name)
{
    const void *d;
    size_t n;
    size_t nl = strlen(name);
    if (sd_journal_get_data(j, name, &d, &n) < 0 || n <= nl) return STR_NULL;
    return (struct str){ (const char *)d + nl + 1, n - nl - 1 };
}

/* Append text without spaces (host, identifier) or with control characters escaped. Runs
 * of plain bytes are copied at once (the daemon converts every entry it reads). */
static void put_escaped(struct buf *b, struct str s, bool token, size_t max)
{
    if (s.len > max) s.len = max;
    size_t run = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool ctl = c < 0x20 || c == 0x7f, tok = token && (c == ' ' || c == '[' || c == ':');
        if (!ctl && !tok) continue;
        buf_append(b, s.p + run, i - run);
        run = i + 1;
        if (ctl) {
            char e[5] = { '#', (char)('0' + (c >> 6)), (char)('0' + ((c >> 3) & 7)), (char)('0' + (c & 7)), 0 };
            buf_append(b, e, 4);
        } else {
            buf_putc(b, '_');
        }
    }
    buf_append(b, s.p + run, s.len - run);
}

int journal_next(struct jsource *s, struct str *line, char *err, size_t errlen)
{
    for (;;) {
        int r = sd_journal_next(s->j);
        if (r == 0) return 0;
        if (r < 0) {
            snprintf(err, errlen, "journal: %s", strerror(-r));
            return -1;
        }
        uint64_t usec;
        if (sd_journal_get_realtime_usec(s->j, &usec) < 0) continue;
        s->usec = usec;
        buf_reset(&s->line);
        char ts[64];
        mwtime_rfc3339((int64_t)(usec / 1000000u), (int32_t)(usec % 1000000u), ts, sizeof ts);
        buf_puts(&s->line, ts);
        buf_putc(&s->line, ' ');
        struct str host = field(s->j, "_HOSTNAME");
        put_escaped(&s->line, host.len ? host : STR_LIT("localhost"), true, 255);
        buf_putc(&s->line, ' ');
        struct str ident = field(s->j, "SYSLOG_IDENTIFIER");
        if (!ident.len) ident = field(s->j, "_COMM");
        put_escaped(&s->line, ident.len ? ident : STR_LIT("unknown"), true, 255);
        struct str pid = field(s->j, "_PID");
        if (!pid.len) pid = field(s->j, "SYSLOG_PID");
        uint64_t pv;
        if (pid.len && str_to_u64(pid, &pv)) buf_printf(&s->line, "[%llu]", (unsigned long long)pv);
        buf_puts(&s->line, ": ");
        put_escaped(&s->line, field(s->j, "MESSAGE"), false, JLINE_MAX);
        *line = buf_str(&s->line);
        return 1;
    }
}

char *journal_cursor(struct jsource *s)
{
    char *c = NULL;
    if (sd_journal_get_cursor(s->j, &c) < 0) return NULL;
    return c;
}

int journal_seek_cursor(struct jsource *s, const char *cursor)
{
    if (sd_journal_seek_cursor(s->j, cursor) < 0) return -1;
    /* seek_cursor positions *on* the entry; step over it so the next one is new */
    if (sd_journal_next(s->j) > 0 && sd_journal_test_cursor(s->j, cursor) <= 0)
        sd_journal_previous(s->j);
    return 0;
}

void journal_close(struct jsource *s)
{
    if (!s) return;
    sd_journal_close(s->j);
    buf_free(&s->line);
    free(s);
}

int journal_fd(struct jsource *s, char *err, size_t errlen)
{
    int fd = sd_journal_get_fd(s->j);
    if (fd < 0) snprintf(err, errlen, "journal: cannot watch for changes: %s", strerror(-fd));
    return fd;
}

int journal_process(struct jsource *s) { return sd_journal_process(s->j); }

uint64_t journal_usec(const struct jsource *s) { return s->usec; }

int journal_resume(struct jsource *s, const char *cursor)
{
    if (sd_journal_seek_cursor(s->j, cursor) < 0) return -1;
    /* seek_cursor only sets a location: step onto the nearest entry and check that it is
     * the one of the cursor; staying on it makes the next journal_next() return the one after */
    int r = sd_journal_next(s->j);
    if (r < 0) return -1;
    if (r == 0) return 0;
    return sd_journal_test_cursor(s->j, cursor) > 0 ? 1 : 0;
}

int journal_seek_usec(struct jsource *s, uint64_t usec)
{
    return sd_journal_seek_realtime_usec(s->j, usec) < 0 ? -1 : 0;
}

uint64_t journal_cursor_usec(const char *cursor)
{
    const char *p = cursor;
    while (p && *p) {
        if (p[0] == 't' && p[1] == '=') {
            uint64_t v = 0;
            size_t n = 0;
            for (p += 2; n < 16; p++, n++) {
                int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
                if (d < 0) break;
                v = v * 16 + (uint64_t)d;
            }
            if (!n || (*p && *p != ';')) return 0;
            return v;
        }
        p = strchr(p, ';');
        if (p) p++;
    }
    return 0;
}
