/* lastlogin_mysql - see lastlogin_mysql.h. */
#include "report/lastlogin_mysql.h"
#include "util/buf.h"
#include "util/dynlib.h"
#include "util/xalloc.h"
#include <mysql.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libmariadb is loaded at the first open (dynlib.h: the daemon and `logins` without a MySQL
 * hook never map it, nor the libssl/libcrypto it pulls in); calls go through this table. */
#define MY_FNS(X) X(mysql_init) X(mysql_options) X(mysql_real_connect) X(mysql_error) X(mysql_close) \
    X(mysql_stmt_init) X(mysql_stmt_prepare) X(mysql_stmt_error) X(mysql_stmt_param_count) \
    X(mysql_stmt_bind_param) X(mysql_stmt_execute) X(mysql_stmt_affected_rows) X(mysql_stmt_close)
DYNLIB_TABLE(my, my_load, MY_FNS, MW_SONAME_MARIADB, "libmariadb3")

bool mysql_ident_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return n >= 1 && n <= 64;
}

enum ckind { K_STR, K_IDENT, K_UINT, K_VALUE };
struct ckey {
    const char *name;
    enum ckind kind;
    size_t off, size;                /* K_STR/K_IDENT: char array; K_UINT: unsigned */
    unsigned min, max;
};
#define CS(n, k) { #n, k, offsetof(struct mysql_conf, n), sizeof ((struct mysql_conf *)0)->n, 0, 0 }
static const struct ckey keys[] = {
    CS(host, K_STR), CS(socket, K_STR), CS(user, K_STR), CS(password, K_STR),
    CS(database, K_STR), CS(table, K_IDENT), CS(column, K_IDENT), CS(key_column, K_IDENT),
    { "port", K_UINT, offsetof(struct mysql_conf, port), 0, 1, 65535 },
    { "timeout", K_UINT, offsetof(struct mysql_conf, timeout), 0, 1, 60 },
    { "value", K_VALUE, 0, 0, 0, 0 },
};
#define NKEYS (sizeof keys / sizeof keys[0])

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

int mysql_conf_parse(struct str text, struct mysql_conf *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    str_copy(c->host, sizeof c->host, STR_LIT("localhost"));
    str_copy(c->table, sizeof c->table, STR_LIT("virtual_users"));
    str_copy(c->column, sizeof c->column, STR_LIT("lastlogin"));
    str_copy(c->key_column, sizeof c->key_column, STR_LIT("email"));
    c->port = 3306;
    c->timeout = 2;
    bool seen[NKEYS] = { false };
    size_t pos = 0;
    unsigned lineno = 0;
    while (pos < text.len) {
        size_t e = pos;
        while (e < text.len && text.p[e] != '\n') e++;
        struct str line = str_sub(text, pos, e - pos);
        pos = e + 1;
        lineno++;
        while (line.len && blank(line.p[0])) line = str_from(line, 1);
        while (line.len && blank(line.p[line.len - 1])) line.len--;
        if (!line.len || line.p[0] == '#') continue;
        if (memchr(line.p, 0, line.len)) {
            snprintf(err, errlen, "line %u: NUL byte", lineno);
            return -1;
        }
        ptrdiff_t eq = str_chr(line, '=');
        if (eq < 0) {
            snprintf(err, errlen, "line %u: expected 'key = value'", lineno);
            return -1;
        }
        struct str k = str_sub(line, 0, (size_t)eq), v = str_from(line, (size_t)eq + 1);
        while (k.len && blank(k.p[k.len - 1])) k.len--;
        while (v.len && blank(v.p[0])) v = str_from(v, 1);
        size_t i;
        for (i = 0; i < NKEYS; i++)
            if (str_eqc(k, keys[i].name)) break;
        if (i == NKEYS) {
            snprintf(err, errlen, "line %u: unknown key '%.*s'", lineno, STR_FMT(str_sub(k, 0, 40)));
            return -1;
        }
        if (seen[i]) {
            snprintf(err, errlen, "line %u: '%s' given twice", lineno, keys[i].name);
            return -1;
        }
        seen[i] = true;
        const struct ckey *ck = &keys[i];
        switch (ck->kind) {
        case K_STR: case K_IDENT: {
            char *dst = (char *)c + ck->off;
            if (v.len >= ck->size) {
                snprintf(err, errlen, "line %u: value of '%s' too long (at most %zu bytes)", lineno, ck->name, ck->size - 1);
                return -1;
            }
            str_copy(dst, ck->size, v);
            if (ck->kind == K_IDENT && !mysql_ident_ok(dst)) {
                snprintf(err, errlen, "line %u: '%s' must be 1 to 64 of [A-Za-z0-9_]", lineno, ck->name);
                return -1;
            }
            break;
        }
        case K_UINT: {
            uint64_t n;
            if (!str_to_u64(v, &n) || n < ck->min || n > ck->max) {
                snprintf(err, errlen, "line %u: '%s' wants a number from %u to %u", lineno, ck->name, ck->min, ck->max);
                return -1;
            }
            *(unsigned *)((char *)c + ck->off) = (unsigned)n;
            break;
        }
        case K_VALUE:
            if (str_eqc(v, "datetime")) c->epoch = false;
            else if (str_eqc(v, "epoch")) c->epoch = true;
            else {
                snprintf(err, errlen, "line %u: 'value' is datetime or epoch", lineno);
                return -1;
            }
            break;
        }
    }
    if (!c->user[0] || !c->database[0]) {
        snprintf(err, errlen, "'user' and 'database' are required");
        return -1;
    }
    return 0;
}

int mysql_conf_load(const char *path, struct mysql_conf *c, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    /* check the file we opened, not the name (no race with a swapped file) */
    if (fstat(fd, &sb) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    const char *why = NULL;
    if (!S_ISREG(sb.st_mode)) why = "not a regular file";
    else if (sb.st_uid != 0 && sb.st_uid != geteuid()) why = "not owned by root (or the user running mailwarden)";
    else if (sb.st_mode & (S_IROTH | S_IWOTH | S_IXOTH)) why = "readable or writable by others (chmod 0600 or 0640)";
    else if (sb.st_mode & S_IWGRP) why = "writable by its group (chmod 0600 or 0640)";
    else if (sb.st_size > MYSQL_CONF_MAX) why = "too large";
    if (why) {
        snprintf(err, errlen, "%s: refusing a file with a password that is %s", path, why);
        close(fd);
        return -1;
    }
    struct buf b = BUF_INIT(MYSQL_CONF_MAX);
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0) {
        if (buf_append(&b, tmp, (size_t)n) < 0) { n = -2; break; }
    }
    int rerr = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, n == -2 ? "too large" : strerror(rerr));
        buf_free(&b);
        return -1;
    }
    char e2[200];
    int rc = mysql_conf_parse(buf_str(&b), c, e2, sizeof e2);
    /* the buffer held the password */
    if (b.p) memset(b.p, 0, b.cap);
    buf_free(&b);
    if (rc < 0) snprintf(err, errlen, "%s: %s", path, e2);
    return rc;
}

struct lastlogin_mysql {
    MYSQL *my;
    MYSQL_STMT *st;
    bool epoch;
};

int lastlogin_mysql_update(struct lastlogin_mysql *m, struct str user, int64_t t, char *err, size_t errlen)
{
    MYSQL_BIND b[3];
    long long tv = t;
    unsigned long ulen = (unsigned long)user.len;
    memset(b, 0, sizeof b);
    b[0].buffer_type = MYSQL_TYPE_LONGLONG;
    b[0].buffer = &tv;
    b[1].buffer_type = MYSQL_TYPE_STRING;
    b[1].buffer = (void *)(user.p ? user.p : "");
    b[1].buffer_length = ulen;
    b[1].length = &ulen;
    b[2] = b[0];
    if (my.mysql_stmt_bind_param(m->st, b) || my.mysql_stmt_execute(m->st)) {
        snprintf(err, errlen, "MySQL update: %s", my.mysql_stmt_error(m->st));
        return -1;
    }
    my_ulonglong n = my.mysql_stmt_affected_rows(m->st);
    return n == (my_ulonglong)-1 ? 0 : (int)(n > 1000000 ? 1000000 : n);
}

struct lastlogin_mysql *lastlogin_mysql_open(const struct mysql_conf *c, char *err, size_t errlen)
{
    /* identifiers are checked again here: the statement text is built from them */
    if (!mysql_ident_ok(c->table) || !mysql_ident_ok(c->column) || !mysql_ident_ok(c->key_column)) {
        snprintf(err, errlen, "MySQL: invalid table or column name");
        return NULL;
    }
    if (my_load(err, errlen) < 0) return NULL;
    struct lastlogin_mysql *m = xcalloc(1, sizeof *m);
    m->epoch = c->epoch;
    m->my = my.mysql_init(NULL);
    if (!m->my) {
        snprintf(err, errlen, "MySQL: out of memory");
        free(m);
        return NULL;
    }
    unsigned to = c->timeout ? c->timeout : 2;
    my.mysql_options(m->my, MYSQL_OPT_CONNECT_TIMEOUT, &to);
    my.mysql_options(m->my, MYSQL_OPT_READ_TIMEOUT, &to);
    my.mysql_options(m->my, MYSQL_OPT_WRITE_TIMEOUT, &to);
    my.mysql_options(m->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    unsigned zero = 0;
    my.mysql_options(m->my, MYSQL_OPT_LOCAL_INFILE, &zero);
    if (!my.mysql_real_connect(m->my, c->socket[0] ? NULL : c->host, c->user, c->password, c->database,
                            c->port, c->socket[0] ? c->socket : NULL, 0)) {
        snprintf(err, errlen, "MySQL connect (%s): %s", c->socket[0] ? c->socket : c->host, my.mysql_error(m->my));
        goto bad;
    }
    char sql[512];
    const char *val = c->epoch ? "?" : "FROM_UNIXTIME(?)";
    int n = snprintf(sql, sizeof sql,
                     "UPDATE `%s` SET `%s` = %s WHERE `%s` = ? AND (`%s` IS NULL OR `%s` < %s)",
                     c->table, c->column, val, c->key_column, c->column, c->column, val);
    if (n < 0 || (size_t)n >= sizeof sql) {
        snprintf(err, errlen, "MySQL: statement too long");
        goto bad;
    }
    m->st = my.mysql_stmt_init(m->my);
    if (!m->st || my.mysql_stmt_prepare(m->st, sql, (unsigned long)n)) {
        snprintf(err, errlen, "MySQL prepare: %s", m->st ? my.mysql_stmt_error(m->st) : my.mysql_error(m->my));
        goto bad;
    }
    if (my.mysql_stmt_param_count(m->st) != 3) {
        snprintf(err, errlen, "MySQL prepare: unexpected parameter count");
        goto bad;
    }
    return m;
bad:
    lastlogin_mysql_close(m);
    return NULL;
}

void lastlogin_mysql_close(struct lastlogin_mysql *m)
{
    if (!m) return;
    if (m->st) my.mysql_stmt_close(m->st);
    if (m->my) my.mysql_close(m->my);
    free(m);
}
