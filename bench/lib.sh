# bench/lib.sh - shared helpers for the side-by-side benchmarks (sourced).
# Not part of `make check`: timings vary with the machine; we print ratios against the
# reference tool measured in the same run.
set -u
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
MW=${MW:-$TOP/mailwarden}
SHARED=${SHARED:-$TOP/../shared}
WORK=${BENCH_WORK:-/tmp/mw-bench}
RUNS=${RUNS:-3}
mkdir -p "$WORK"

# gen_log SIZE [FORMAT] -> prints the path of a scaled corpus log (generated once, cached)
gen_log() {
    local size=$1 fmt=${2:-trad} out="$WORK/mail-$1-${2:-trad}.log"
    if [ ! -s "$out" ]; then
        [ -f "$SHARED/bench/scale.py" ] || { echo "need $SHARED/bench/scale.py" >&2; exit 1; }
        python3 "$SHARED/bench/scale.py" "$SHARED/corpus/mail-traditional.log" "$out" --size "$size" --format "$fmt" >&2
    fi
    echo "$out"
}

# measure NAME CMD... : median wall seconds and max RSS (KB) over $RUNS runs of CMD
# (stdout to /dev/null). Sets M_SEC and M_RSS.
measure() {
    local name=$1; shift
    local secs=() rss=() i
    for ((i = 0; i < RUNS; i++)); do
        /usr/bin/time -f "%e %M" -o "$WORK/time.$$" "$@" > /dev/null 2>/dev/null
        read -r s r < "$WORK/time.$$"
        secs+=("$s"); rss+=("$r")
    done
    M_SEC=$(printf '%s\n' "${secs[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
    M_RSS=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
    printf '  %-44s %8.3f s  %8d KB peak RSS\n' "$name" "$M_SEC" "$M_RSS"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) b = 0.001; printf "%.2f", a / b }'; }
mbps() { awk -v bytes="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.0f", bytes / 1e6 / s }'; }
