/* libFuzzer target: the parsers of the logins feature on arbitrary bytes. The first byte
 * picks the target:
 *   0  the --users list parser (user_list_parse), then lookups of every listed name
 *   1  the MySQL configuration parser (mysql_conf_parse): accepted identifiers must be
 *      [A-Za-z0-9_]{1,64}, strings NUL-terminated within their fields
 *   2  log lines through the logins consumer (two chunks, then the report rows)
 * Invariants are asserts; ASan/UBSan catch the rest. */
#include "report/lastlogin_mysql.h"
#include "report/logins.h"
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void users(struct str s)
{
    struct user_list u;
    user_list_init(&u);
    user_list_parse(&u, s);
    for (size_t i = 0; i < u.n; i++) {
        assert(strlen(u.order[i]) > 0 && strlen(u.order[i]) <= LOGINS_USER_MAX);
        assert(user_list_has(&u, str_c(u.order[i])));
    }
    user_list_free(&u);
}

static void conf(struct str s)
{
    struct mysql_conf c;
    char err[256];
    if (mysql_conf_parse(s, &c, err, sizeof err) == 0) {
        assert(mysql_ident_ok(c.table) && mysql_ident_ok(c.column) && mysql_ident_ok(c.key_column));
        assert(c.user[0] && c.database[0]);
        assert(memchr(c.password, 0, sizeof c.password) && memchr(c.host, 0, sizeof c.host));
        assert(c.port >= 1 && c.port <= 65535 && c.timeout >= 1 && c.timeout <= 60);
    } else {
        assert(memchr(err, 0, sizeof err));
    }
}

static void lines(struct str s)
{
    static struct syslog_ctx ctx = { .ref = 1795383000 };
    struct logins *l = logins_new();
    logins_set_mark(l, str_c("alice@example.com"), str_c("imap"), 1795381930, 1);
    struct scan_consumer c = logins_consumer(l);
    size_t half = s.len / 2;
    for (int part = 0; part < 2; part++) {
        void *st = c.chunk_new(c.global);
        struct str p = part ? str_from(s, half) : str_sub(s, 0, half);
        size_t pos = 0;
        while (pos < p.len) {
            size_t e = pos;
            while (e < p.len && p.p[e] != '\n') e++;
            struct str line = str_sub(p, pos, e - pos);
            pos = e + 1;
            if (c.want_line(c.global, line)) {
                struct event ev;
                parse_line(&ctx, NULL, line, &ev);
                c.feed(st, &ev, line);
            }
        }
        c.merge(c.global, st);
    }
    struct login_rows r;
    login_rows_init(&r);
    login_rows_from_logins(&r, l);
    login_rows_fails_from_logins(&r, l);
    for (size_t i = 0; i < r.n; i++) assert(r.v[i].logged_in && r.v[i].count > 0);
    struct login_filter f = { 1795383000, 86400, false, NULL };
    login_rows_finish(&r, &f);
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        logins_print_text(out, &r, 1795383000);
        logins_print_json(out, &r, 1795383000);
        fclose(out);
    }
    login_rows_free(&r);
    logins_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *buf = malloc(size - 1 ? size - 1 : 1);   /* exact-size copy so ASan sees overreads */
    memcpy(buf, data + 1, size - 1);
    struct str s = { buf, size - 1 };
    switch (data[0] % 3) {
    case 0: users(s); break;
    case 1: conf(s); break;
    default: lines(s); break;
    }
    free(buf);
    return 0;
}
