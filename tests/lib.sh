# tests/lib.sh - helpers for end-to-end test scripts (sourced).
# Each script sets SUITE, runs the binary $MW, and reports with pass/fail/skip.
# Output protocol: "PASS name", "FAIL name: why", "SKIP name: why" (counted by scripts/check.sh).
set -u
: "${MW:=$(cd "$(dirname "$0")/../.." && pwd)/mailwarden}"
: "${MW_TEST_LABEL:=e2e}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DATA="$TOP/tests/data"
TMP=$(mktemp -d /tmp/mw-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC LC_ALL=C
SUITE=${SUITE:-$(basename "$0" .sh)}
T_FAILED=0

pass() { echo "PASS $MW_TEST_LABEL/e2e/$SUITE/$1"; }
fail() { echo "FAIL $MW_TEST_LABEL/e2e/$SUITE/$1: $2"; T_FAILED=1; }
skip() { echo "SKIP $MW_TEST_LABEL/e2e/$SUITE/$1: $2"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}
# check_cmd NAME CMD... : passes when CMD exits 0
check_cmd() {
    local n=$1; shift
    if "$@" >/dev/null 2>&1; then pass "$n"; else fail "$n" "command failed: $*"; fi
}
# check_grep NAME PATTERN FILE : passes when FILE has a line matching the ERE
check_grep() {
    if grep -qE -- "$2" "$3"; then pass "$1"; else fail "$1" "no line matching /$2/ in $(basename "$3")"; fi
}
check_nogrep() {
    if grep -qE -- "$2" "$3"; then fail "$1" "unexpected line matching /$2/: $(grep -m1 -E -- "$2" "$3")"; else pass "$1"; fi
}
finish() { exit $T_FAILED; }

# ---- for suites that run the guard daemon ----
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_until MS CMD...: poll CMD until it succeeds or MS milliseconds passed (never a fixed sleep)
wait_until() {
    local deadline=$(( $(now_ms) + $1 )); shift
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}
# cli CMD ARGS...: a client command against this suite's daemon ($TMP/mw.sock)
cli() { local c=$1; shift; "$MW" "$c" --socket "$TMP/mw.sock" "$@"; }
