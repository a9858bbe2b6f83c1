#!/usr/bin/env bash
# Benchmark: serving a depot with `esxlcm serve --store` and `esxlcm serve --dir` against
# nginx (sendfile on), all on loopback with 2 workers, loaded by wrk side by side.
# Workloads (wrk picks a random path of the list for every request):
#   docs        index.xml, vmw-depot-index.xml, vmw/vendor-index.xml, vmw/metadata.zip (~0.9 MB):
#               what hosts and vLCM poll
#   mix-PAYLOAD every file of the generated depot (654 VIBs and the 4 documents), VIBs of
#               PAYLOAD bytes of payload each (default 320000: ~0.33 MB; 3300000: ~3.3 MB)
# Request logging is off on both sides (nginx access_log off, esxlcm -q); LOG=on keeps
# esxlcm's per-request log line (stderr, to a file) and nginx's access log.
# Usage: scripts/bench/serve-vs-nginx.sh [WORKDIR] [RUNS] [SECONDS] [CONNECTIONS]
# Needs nginx (nginx-light), wrk, curl. Results go into docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench-sync}
RUNS=${2:-3}
SECONDS_EACH=${3:-10}
CONNS=${4:-16}
PAYLOADS=(${PAYLOADS:-320000 3300000})
mkdir -p "$WORK"
cargo build --release -q -p esxlcm
ESXLCM=$PWD/target/release/esxlcm
# shellcheck source=scripts/bench/sync-lib.sh
. scripts/bench/sync-lib.sh
SERVER_PID=
trap 'stop_pid "${NGINX_PID:-}"; stop_pid "$SERVER_PID"; rm -rf "$WORK"/serve-store-*' EXIT

cat >"$WORK/paths.lua" <<'EOF'
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local prefix = os.getenv("PREFIX") or ""
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
request = function() return wrk.format("GET", prefix .. "/" .. paths[math.random(#paths)]) end
EOF

# start_esxlcm ARGS...: `esxlcm serve ARGS --listen 127.0.0.1:0`; sets SERVER_PID and PORT.
start_esxlcm() {
    : >"$WORK/serve.out" # truncated here, not by the background job (which may start late)
    local quiet=-q
    [ "${LOG:-off}" = on ] && quiet=
    "$ESXLCM" $quiet serve "$@" --listen 127.0.0.1:0 >>"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$WORK/serve.out")
        [ -n "$PORT" ] && return 0
        sleep 0.1
    done
    echo "esxlcm serve did not start: $(cat "$WORK/serve.err")" >&2
    return 1
}

# load LABEL PORT PREFIX PATHS: one wrk run; appends "req/s MB/s" to $WORK/LABEL.rates.
load() {
    local label=$1 port=$2 prefix=$3 paths=$4
    PATHS=$paths PREFIX=$prefix wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" -s "$WORK/paths.lua" "http://127.0.0.1:$port" >"$WORK/wrk.out"
    grep -q "Non-2xx" "$WORK/wrk.out" && { cat "$WORK/wrk.out"; echo "$label: errors" >&2; exit 1; }
    local rps mbs
    rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")
    mbs=$(awk '/Transfer\/sec/ { v = $2; if (v ~ /GB/) { sub("GB", "", v); v *= 1024 } else if (v ~ /KB/) { sub("KB", "", v); v /= 1024 } else { sub("MB", "", v) } print v }' "$WORK/wrk.out")
    echo "$rps $mbs" >>"$WORK/$label.rates"
    printf '  %-26s %10s req/s %9s MB/s\n' "$label" "$rps" "$mbs"
}

median() { # median req/s and MB/s of LABEL
    sort -n "$WORK/$1.rates" | awk '{ r[NR] = $1; m[NR] = $2 } END { i = int((NR + 1) / 2); printf "%10s req/s %9.1f MB/s", r[i], m[i] }'
}

echo "wrk -t2 -c$CONNS -d${SECONDS_EACH}s, random path per request; load: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$WORK"/*.rates
for payload in "${PAYLOADS[@]}"; do
    src="$WORK/depot-$payload"
    depot "$src" "$payload"
    store="$WORK/serve-store-$payload"
    if [ ! -L "$store/published/bench" ]; then
        rm -rf "$store"
        "$ESXLCM" mirror --store "$store" add bench "file://$src/" >/dev/null
        "$ESXLCM" mirror --store "$store" sync >/dev/null
    fi
    (cd "$src" && find . -type f | sed 's|^\./||' | sort) >"$WORK/mix-$payload.paths"
    printf '%s\n' index.xml vmw-depot-index.xml vmw/vendor-index.xml vmw/metadata.zip >"$WORK/docs-$payload.paths"
    find "$src" -type f -exec cat {} + >/dev/null
    for workload in docs mix; do
        [ "$workload" = docs ] && [ "$payload" != "${PAYLOADS[0]}" ] && continue
        name="$workload"
        [ "$workload" = mix ] && name="mix-$payload"
        echo "$name ($(wc -l <"$WORK/$workload-$payload.paths") paths, $(du -shL "$src" | cut -f1) tree):"
        for run in $(seq "$RUNS"); do
            port=$(free_port)
            [ "${LOG:-off}" = on ] && export NGINX_ACCESS_LOG="$WORK/nginx/access.log"
            start_nginx "$WORK/nginx" "$src" "$port" 2
            load "$name-nginx" "$port" "" "$WORK/$workload-$payload.paths"
            stop_pid "$NGINX_PID"
            NGINX_PID=
            start_esxlcm --dir "$src"
            load "$name-esxlcm-dir" "$PORT" "" "$WORK/$workload-$payload.paths"
            stop_pid "$SERVER_PID"
            start_esxlcm --store "$store"
            load "$name-esxlcm-store" "$PORT" "/bench" "$WORK/$workload-$payload.paths"
            stop_pid "$SERVER_PID"
            SERVER_PID=
        done
    done
done
echo "median of $RUNS:"
for f in "$WORK"/*.rates; do
    label=$(basename "$f" .rates)
    printf '  %-26s %s\n' "$label" "$(median "$label")"
done
