#!/usr/bin/env bash
# Benchmark: the scale-out store against the single-node default, side by side in one run.
#  1. sync: a generated online depot (served by nginx) synced into the single-node store
#     (SQLite + local disk) and into a cluster store (PostgreSQL + Garage), timed;
#  2. host-facing throughput (wrk, random path per request over every file of the depot):
#     `serve --store` on the single-node store; one replica on the cluster store; two
#     replicas behind nginx as a round-robin load balancer.
# Everything runs on loopback on this machine: a throwaway PostgreSQL cluster (Debian
# `postgresql`, initdb in the work directory) and Garage (`cargo install garage`).
# Usage: scripts/bench/cluster-serve.sh [WORKDIR] [PAYLOAD_BYTES] [SECONDS] [CONNECTIONS]
#   PAYLOAD_BYTES per VIB (default 3300000: 654 VIBs, ~2.1 GiB); results go into
#   docs/PERFORMANCE.md by hand.
# Needs: nginx (nginx-light), wrk, curl, postgresql, garage, python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench-cluster}
PAYLOAD=${2:-3300000}
SECONDS_EACH=${3:-15}
CONNS=${4:-16}
mkdir -p "$WORK"
[ -n "${ESXLCM:-}" ] || cargo build --release -q -p esxlcm
ESXLCM=${ESXLCM:-$PWD/target/release/esxlcm}
# shellcheck source=scripts/bench/sync-lib.sh
. scripts/bench/sync-lib.sh
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    [ -n "${PGDATA:-}" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- PostgreSQL: a throwaway cluster owned by the postgres user (initdb refuses root) ---
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=$WORK/pg
PGPORT=$(free_port)
rm -rf "$PGDATA" && mkdir -p "$PGDATA" && chown postgres "$PGDATA" "$WORK"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U esxlcm >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1" -w start >/dev/null
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U esxlcm bench
export ESXLCM_DATABASE="postgres://esxlcm@127.0.0.1:$PGPORT/bench"

# --- Garage: one node, one bucket, one key --------------------------------------------
G=$WORK/garage
rm -rf "$G" && mkdir -p "$G"
S3PORT=$(free_port)
RPCPORT=$(free_port)
cat >"$G/garage.toml" <<EOF
metadata_dir = "$G/meta"
data_dir = "$G/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPCPORT"
rpc_public_addr = "127.0.0.1:$RPCPORT"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3PORT"
root_domain = ".s3.garage.localhost"
EOF
RUST_LOG=warn garage -c "$G/garage.toml" server >"$G/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do garage -c "$G/garage.toml" node id -q >/dev/null 2>&1 && break; sleep 0.2; done
NODE=$(garage -c "$G/garage.toml" node id -q | cut -d@ -f1)
garage -c "$G/garage.toml" layout assign -z dc1 -c 10G "$NODE" >/dev/null
garage -c "$G/garage.toml" layout apply --version 1 >/dev/null
garage -c "$G/garage.toml" bucket create bench >/dev/null
AWS_ACCESS_KEY_ID=GK$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
AWS_SECRET_ACCESS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
garage -c "$G/garage.toml" key import --yes -n bench "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
garage -c "$G/garage.toml" bucket allow --read --write --owner bench --key "$AWS_ACCESS_KEY_ID" >/dev/null
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3PORT AWS_REGION=garage AWS_ALLOW_HTTP=true
export ESXLCM_BLOBS=s3://bench/depots

# --- the depot, served by nginx ------------------------------------------------------
SRC=$WORK/depot-$PAYLOAD
depot "$SRC" "$PAYLOAD"
UPPORT=$(free_port)
start_nginx "$WORK/nginx-up" "$SRC" "$UPPORT" 2
PIDS+=("$NGINX_PID")
(cd "$SRC" && find . -type f | sed 's|^\./||' | sort) >"$WORK/mix.paths"
echo "depot: $(wc -l <"$WORK/mix.paths") files, $(du -shL "$SRC" | cut -f1); load: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. sync into each store, timed (wall seconds, peak RSS) --------------------------
timed_sync() { # timed_sync LABEL STORE [env -u …]: add + sync, printing the time
    local label=$1 store=$2
    shift 2
    rm -rf "$store"
    "$@" "$ESXLCM" -q mirror --store "$store" add bench "http://127.0.0.1:$UPPORT/index.xml" >/dev/null
    /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" "$ESXLCM" -q mirror --store "$store" sync >/dev/null
    read -r secs rss <"$WORK/time.out"
    printf '  sync %-34s %8s s  peak RSS %6d MiB\n' "$label" "$secs" "$((rss / 1024))"
}
echo "sync of the whole depot:"
timed_sync "single node (SQLite, local disk)" "$WORK/single" env -u ESXLCM_DATABASE -u ESXLCM_BLOBS
timed_sync "cluster (PostgreSQL, Garage)" "$WORK/node-sync"

# --- 2. host-facing throughput ---------------------------------------------------------
cat >"$WORK/paths.lua" <<'EOF'
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
request = function() return wrk.format("GET", "/bench/" .. paths[math.random(#paths)]) end
EOF
replica() { # replica NODE_DIR [env -u …]: `serve --store`; sets PORT
    local node=$1
    shift
    : >"$node.out"
    "$@" "$ESXLCM" -q serve --store "$node" --listen 127.0.0.1:0 >>"$node.out" 2>"$node.err" &
    PIDS+=($!)
    for _ in $(seq 100); do
        PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$node.out")
        [ -n "$PORT" ] && return 0
        sleep 0.1
    done
    echo "serve did not start: $(cat "$node.err")" >&2
    return 1
}
load() { # load LABEL PORT
    PATHS=$WORK/mix.paths wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" -s "$WORK/paths.lua" "http://127.0.0.1:$2" >"$WORK/wrk.out"
    grep -q "Non-2xx" "$WORK/wrk.out" && { cat "$WORK/wrk.out"; echo "$1: errors" >&2; exit 1; }
    printf '  %-40s %10s req/s %10s/s\n' "$1" "$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")" \
        "$(awk '/Transfer\/sec/ { print $2 }' "$WORK/wrk.out")"
}
echo "wrk -t2 -c$CONNS -d${SECONDS_EACH}s, random file per request:"
replica "$WORK/single" env -u ESXLCM_DATABASE -u ESXLCM_BLOBS
load "single node (SQLite, local disk)" "$PORT"
stop_pid "${PIDS[-1]}"
replica "$WORK/node-1"
P1=$PORT
load "cluster, one replica (cold cache)" "$P1"
load "cluster, one replica (warm cache)" "$P1"
replica "$WORK/node-2"
P2=$PORT
LB=$(free_port)
mkdir -p "$WORK/lb/tmp"
cat >"$WORK/lb/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/lb/nginx.pid;
error_log $WORK/lb/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/lb/tmp/body;
    proxy_temp_path $WORK/lb/tmp/proxy;
    upstream replicas { server 127.0.0.1:$P1; server 127.0.0.1:$P2; keepalive 64; }
    server {
        listen 127.0.0.1:$LB;
        location / { proxy_pass http://replicas; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
    }
}
EOF
nginx -p "$WORK/lb" -c "$WORK/lb/nginx.conf" -e "$WORK/lb/error.log" &
PIDS+=($!)
sleep 1
load "cluster, two replicas behind nginx" "$LB"
load "cluster, two replicas behind nginx (again)" "$LB"
