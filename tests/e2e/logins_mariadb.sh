#!/bin/bash
# The ISPmail-style last-login column, against a real MariaDB server that this test starts
# on a private socket in a temporary data directory (no network), then stops.
source "$(dirname "$0")/../lib.sh"

for b in mariadbd mariadb-install-db mariadb-admin mariadb; do
    if ! command -v "$b" > /dev/null 2>&1 && [ ! -x "/usr/sbin/$b" ]; then
        skip mariadb "$b not installed (Debian: mariadb-server)"
        exit 0
    fi
done
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
DATADIR="$TMP/datadir"
SOCK="$TMP/mysqld.sock"
PIDF="$TMP/mysqld.pid"
SERVER=""

stop_server() {
    [ -n "$SERVER" ] || return 0
    mariadb-admin --no-defaults --socket="$SOCK" -uroot shutdown > /dev/null 2>&1 || kill "$SERVER" 2> /dev/null
    wait "$SERVER" 2> /dev/null
    SERVER=""
}
trap 'stop_server; rm -rf "$TMP"' EXIT

if ! mariadb-install-db --no-defaults --datadir="$DATADIR" --user=root \
        --auth-root-authentication-method=normal --skip-test-db > "$TMP/install.log" 2>&1; then
    skip mariadb "mariadb-install-db failed: $(tail -n 2 "$TMP/install.log" | tr '\n' ' ')"
    exit 0
fi
"$MARIADBD" --no-defaults --datadir="$DATADIR" --socket="$SOCK" --skip-networking --user=root \
    --pid-file="$PIDF" --log-error="$TMP/mysqld.err" --innodb-buffer-pool-size=16M > /dev/null 2>&1 &
SERVER=$!
# readiness: poll with a deadline (the server has to create its InnoDB files first)
deadline=$((SECONDS + 60))
until mariadb-admin --no-defaults --socket="$SOCK" -uroot ping > /dev/null 2>&1; do
    if ! kill -0 "$SERVER" 2> /dev/null; then
        skip mariadb "mariadbd exited: $(tail -n 3 "$TMP/mysqld.err" | tr '\n' ' ')"
        SERVER=""
        exit 0
    fi
    if [ $SECONDS -ge $deadline ]; then
        fail server-start "mariadbd not ready after 60 s"
        finish
    fi
    sleep 0.2
done
pass server-start

sql() { mariadb --no-defaults --socket="$SOCK" -uroot -N -B "$@"; }
EVIL="bob@example.com' OR '1'='1"
EVIL2="x'); DROP TABLE virtual_users; -- \"\`;"
sql <<EOF
CREATE DATABASE mailserver;
CREATE USER 'mailwarden'@'localhost' IDENTIFIED BY 'pa#ss = "w;rd';
GRANT SELECT, UPDATE ON mailserver.* TO 'mailwarden'@'localhost';
CREATE TABLE mailserver.virtual_users (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id INT NOT NULL DEFAULT 1,
  email VARCHAR(190) NOT NULL UNIQUE,
  password VARCHAR(150) NOT NULL DEFAULT '',
  quota BIGINT NOT NULL DEFAULT 0,
  lastlogin DATETIME NULL
) CHARACTER SET utf8mb4;
INSERT INTO mailserver.virtual_users (email) VALUES ('alice@example.com'), ('bob@example.com'),
  ('carol@example.com');
EOF
# a row whose key is the hostile string itself: binding must match it verbatim
printf "INSERT INTO mailserver.virtual_users (email) VALUES (X'%s')\n" "$(printf '%s' "$EVIL2" | od -An -tx1 | tr -d ' \n')" | sql

CONF="$TMP/mysql.conf"
cat > "$CONF" <<EOF
# ISPmail
socket = $SOCK
user = mailwarden
password = pa#ss = "w;rd
database = mailserver
table = virtual_users
column = lastlogin
key_column = email
timeout = 5
EOF
chmod 0600 "$CONF"

cat > "$TMP/next" <<'EOF'
#!/bin/sh
printf '%s\n' "$0" "$@" > "$POSTLOGIN_OUT"
EOF
chmod +x "$TMP/next"
export POSTLOGIN_OUT="$TMP/argv.out"
lastlogin() { sql -e "SELECT IFNULL(lastlogin, 'NULL') FROM mailserver.virtual_users WHERE email = '$1'"; }

env USER=alice@example.com IP=192.0.2.1 "$MW" postlogin --no-db --mysql "$CONF" --service imap "$TMP/next" go 2> "$TMP/p1.err"
check_eq hook-execs "$TMP/next
go" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_eq hook-no-warning "" "$(cat "$TMP/p1.err")"
got=$(lastlogin alice@example.com)
if [ "$got" != NULL ] && [ -n "$got" ]; then pass lastlogin-set; else fail lastlogin-set "alice: [$got]"; fi
check_eq other-rows-untouched "NULL" "$(lastlogin bob@example.com)"

rm -f "$TMP/argv.out"
env USER="$EVIL" "$MW" postlogin --no-db --mysql "$CONF" "$TMP/next" 2> "$TMP/p2.err"
check_eq hostile-execs "$TMP/next" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_eq hostile-no-injection "NULL|NULL" "$(lastlogin bob@example.com)|$(lastlogin carol@example.com)"
env USER="$EVIL2" "$MW" postlogin --no-db --mysql "$CONF" "$TMP/next" 2> "$TMP/p3.err"
check_eq hostile-table-intact 4 "$(sql -e 'SELECT count(*) FROM mailserver.virtual_users')"
got=$(sql -e "SELECT count(*) FROM mailserver.virtual_users WHERE lastlogin IS NOT NULL AND email = X'$(printf '%s' "$EVIL2" | od -An -tx1 | tr -d ' \n')'")
check_eq hostile-name-bound-verbatim 1 "$got"

# only forward in time: an old log line does not move alice back
before=$(lastlogin alice@example.com)
echo "Jan  2 03:04:05 mail dovecot: imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9, mpid=1, session=<a>" > "$TMP/old.log"
echo "Nov 20 08:00:00 mail dovecot: imap-login: Login: user=<carol@example.com>, method=PLAIN, rip=192.0.2.3, lip=192.0.2.9, mpid=1, session=<c>" >> "$TMP/old.log"
"$MW" logins --update --db "$TMP/mw.db" --now 2026-11-23 --mysql "$CONF" "$TMP/old.log" 2> "$TMP/upd.err"
check_eq update-exit 0 $?
check_eq update-only-forward "$before" "$(lastlogin alice@example.com)"
check_eq update-sets-from-log "2026-11-20 08:00:00" "$(lastlogin carol@example.com)"

# a config file others can read is refused; the login still goes on
chmod 0644 "$CONF"
rm -f "$TMP/argv.out"
env USER=bob@example.com "$MW" postlogin --no-db --mysql "$CONF" "$TMP/next" 2> "$TMP/p4.err"
check_eq world-readable-still-execs "$TMP/next" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep world-readable-refused 'refusing a file with a password' "$TMP/p4.err"
check_nogrep password-not-logged 'w;rd' "$TMP/p4.err"
check_eq world-readable-not-written NULL "$(lastlogin bob@example.com)"
chmod 0600 "$CONF"

# server gone: warning, exec, bounded by the timeouts
stop_server
rm -f "$TMP/argv.out"
env USER=bob@example.com "$MW" postlogin --no-db --mysql "$CONF" "$TMP/next" 2> "$TMP/p5.err"
check_eq server-down-still-execs "$TMP/next" "$(cat "$TMP/argv.out" 2>/dev/null)"
check_grep server-down-warns 'not written to MySQL' "$TMP/p5.err"
finish
