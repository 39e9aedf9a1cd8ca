/*
 * lastlogin_mysql - optionally write the last login time into an existing MySQL/MariaDB
 * table, as ISPmail-style setups expect (`virtual_users.lastlogin` keyed by `email`), with
 * libmariadb and one prepared statement:
 *
 *   UPDATE `TABLE` SET `COLUMN` = FROM_UNIXTIME(?) WHERE `KEY` = ?
 *          AND (`COLUMN` IS NULL OR `COLUMN` < FROM_UNIXTIME(?))
 *   (value = epoch: the column holds epoch seconds and gets ? itself)
 *
 * The user name and the time are bound parameters. Table and column names cannot be bound,
 * so they come only from the configuration file and must match [A-Za-z0-9_]{1,64}; they are
 * also quoted with backticks. Rows are only ever moved forward in time.
 *
 * Configuration file (key = value, '#' starts a comment line, unknown keys are errors):
 *   host = localhost          socket = /run/mysqld/mysqld.sock     port = 3306
 *   user = mailwarden         password = secret                    database = mailserver
 *   table = virtual_users     column = lastlogin                   key_column = email
 *   value = datetime|epoch    timeout = 2   (seconds: connect, read and write; 1..60)
 * The value is the rest of the line after '=' with surrounding blanks removed (a password
 * may contain '#', '=' and spaces inside). The file holds a password: mysql_conf_load()
 * refuses it unless it is a regular file owned by root or by the running user, and neither
 * world-readable/-writable nor group-writable (0600 or 0640 root:dovecot).
 * No option files (my.cnf) are read.
 *
 * Errors: 0 / -1 with a message in err; the password never appears in a message.
 */
#ifndef MW_LASTLOGIN_MYSQL_H
#define MW_LASTLOGIN_MYSQL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

#define MYSQL_CONF_MAX (64 * 1024)   /* bytes of a configuration file */

struct mysql_conf {
    char host[256], socket[256], user[128], password[256], database[65];
    char table[65], column[65], key_column[65];
    unsigned port;
    unsigned timeout;
    bool epoch;                      /* value = epoch */
};

/* Parse configuration text (no file checks). Defaults: host localhost, port 3306, table
 * virtual_users, column lastlogin, key_column email, value datetime, timeout 2. user and
 * database are required. */
int mysql_conf_parse(struct str text, struct mysql_conf *c, char *err, size_t errlen);
/* Read and check a configuration file (ownership and mode, see above), then parse it. */
int mysql_conf_load(const char *path, struct mysql_conf *c, char *err, size_t errlen);
/* Is s a safe SQL identifier for us: [A-Za-z0-9_]{1,64}? */
bool mysql_ident_ok(const char *s);

struct lastlogin_mysql;
/* Connect and prepare the statement. NULL with a message in err. */
struct lastlogin_mysql *lastlogin_mysql_open(const struct mysql_conf *c, char *err, size_t errlen);
/* Set the column of the row whose key is user to t (only forward). Returns the number of
 * rows changed (0 when no such user or already newer), -1 on error. */
int lastlogin_mysql_update(struct lastlogin_mysql *m, struct str user, int64_t t, char *err, size_t errlen);
void lastlogin_mysql_close(struct lastlogin_mysql *m);

#endif
