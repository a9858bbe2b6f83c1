#!/usr/bin/env bash
# Benchmark: `esxlcm mirror sync` of a generated online depot from nginx on loopback against
# `wget --mirror` of the same tree from the same nginx, wall time and peak RSS, side by side.
# esxlcm verifies every VIB's size and sha-256 against the metadata, stores each file once
# by sha-256 and fsyncs it before it becomes visible; wget does none of that, so wget is also
# timed followed by `sync` (its dirty pages written out, which esxlcm's fsyncs include).
# Usage: scripts/bench/sync-vs-wget.sh [WORKDIR] [RUNS] [PAYLOAD_BYTES...]
#   default PAYLOAD_BYTES: 320000 (654 VIBs, ~210 MiB) and 3300000 (~2.0 GiB)
# Needs nginx (nginx-light), wget, curl. Results go into docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench-sync}
RUNS=${2:-3}
shift $(($# > 2 ? 2 : $#)) || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(320000 3300000)
mkdir -p "$WORK"
cargo build --release -q -p esxlcm
ESXLCM=$PWD/target/release/esxlcm
# shellcheck source=scripts/bench/sync-lib.sh
. scripts/bench/sync-lib.sh
# The copies are as large as the depot: never leave them behind on a shared disk.
trap 'stop_pid "${NGINX_PID:-}"; rm -rf "$WORK/wget" "$WORK/store"' EXIT

# measure LABEL CMD...: flush dirty pages first (one run's writeback must not land in the
# next run's time), then time CMD; appends "wall rss" to $WORK/LABEL.times.
measure() {
    local label=$1
    shift
    sync
    sleep 1
    /usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" >"$WORK/$label.log" 2>&1
    cat "$WORK/time.out" >>"$WORK/$label.times"
    printf '  %-28s wall %6s s, peak RSS %7s KiB\n' "$label" $(cat "$WORK/time.out")
}

median() { # median wall time and max RSS of LABEL
    sort -n "$WORK/$1.times" | awk '{ w[NR] = $1; if ($2 > r) r = $2 } END { printf "%6s s, peak RSS %7s KiB", w[int((NR + 1) / 2)], r }'
}

for payload in "${SIZES[@]}"; do
    src="$WORK/depot-$payload"
    depot "$src" "$payload"
    echo "depot $src: $(du -sb "$src" | cut -f1) bytes, $(find "$src" -name '*.vib' | wc -l) VIBs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    port=$(free_port)
    start_nginx "$WORK/nginx" "$src" "$port"
    find "$src" -type f -exec cat {} + >/dev/null # warm the page cache for both sides
    rm -f "$WORK"/*.times
    for run in $(seq "$RUNS"); do
        echo " run $run"
        rm -rf "$WORK/wget"
        measure "wget-$payload" wget --mirror --no-parent -nH -q -P "$WORK/wget" "http://127.0.0.1:$port/"
        rm -rf "$WORK/wget"
        measure "wget+sync-$payload" sh -c "wget --mirror --no-parent -nH -q -P '$WORK/wget' 'http://127.0.0.1:$port/' && sync"
        rm -rf "$WORK/wget"
        for parallel in 1 4; do
            store="$WORK/store"
            rm -rf "$store"
            "$ESXLCM" mirror --store "$store" add bench "http://127.0.0.1:$port/index.xml" >/dev/null
            measure "esxlcm-p$parallel-$payload" "$ESXLCM" mirror --store "$store" sync --parallel "$parallel"
            grep -q "published snapshot" "$WORK/esxlcm-p$parallel-$payload.log" || {
                cat "$WORK/esxlcm-p$parallel-$payload.log"
                exit 1
            }
        done
        # The mirror holds exactly nginx's tree.
        diff -r "$src" "$store/published/bench" >/dev/null || { echo "published tree differs" >&2; exit 1; }
        rm -rf "$store"
    done
    echo " median of $RUNS (payload $payload bytes per VIB):"
    for label in wget wget+sync esxlcm-p1 esxlcm-p4; do
        printf '  %-28s %s\n' "$label" "$(median "$label-$payload")"
    done
    stop_pid "$NGINX_PID"
    NGINX_PID=
done
