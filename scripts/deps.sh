#!/bin/sh
# Install the Debian packages mailwarden builds and tests with, only those that are absent.
# Runs apt-get only when something is missing; harmless when everything is there.
set -e
PKGS="build-essential clang libclang-rt-14-dev pkg-config zlib1g-dev liblzma-dev libzstd-dev
libpcre2-dev libbz2-dev libsqlite3-dev libjansson-dev libnftables-dev xz-utils zstd gzip bzip2 python3
pflogsumm fail2ban sshguard nftables ipset iptables iproute2 valgrind sqlite3 libsystemd-dev
systemd-journal-remote libmariadb-dev mariadb-server chromium groff-base man-db libmicrohttpd-dev curl
python3-prometheus-client"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends $missing >&2
