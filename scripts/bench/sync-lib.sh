# Shared by scripts/bench/sync-vs-wget.sh and serve-vs-nginx.sh (sourced, not run): a private nginx
# (Debian nginx-light) on a loopback port serving one directory, and a generated depot.

# start_nginx PREFIX ROOT PORT [WORKERS]: nginx in the foreground of a background job, as a
# static file server the way a site would run one for a depot (sendfile, ETag, autoindex
# for wget --mirror; access log off unless NGINX_ACCESS_LOG=FILE). Sets NGINX_PID.
start_nginx() {
    local prefix=$1 root=$2 port=$3 workers=${4:-2}
    mkdir -p "$prefix/tmp"
    cat >"$prefix/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    access_log ${NGINX_ACCESS_LOG:-off};
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    types { text/xml xml; application/zip zip; application/octet-stream vib; }
    server {
        listen 127.0.0.1:$port;
        root $root;
        etag on;
        autoindex on;
    }
}
EOF
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" &
    NGINX_PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/index.xml" && return 0
        sleep 0.1
    done
    echo "nginx did not start: $(cat "$prefix/error.log")" >&2
    return 1
}

stop_pid() { # stop_pid PID: stop a server this script started
    [ -n "${1:-}" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true
}

# depot DIR PAYLOAD_BYTES: the default generated depot (654 VIBs, 3 base images, 2 add-ons)
# with PAYLOAD_BYTES of incompressible payload per VIB.
depot() {
    local dir=$1 payload=$2
    [ -f "$dir/index.xml" ] && return
    "$ESXLCM" depot generate --seed 1 --payload-bytes "$payload" --out "$dir" >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
