#!/usr/bin/env bash
# Benchmark: `esxlcm depot check` on a ~1 GiB offline bundle against the same checksums
# computed with standard tools (unzip -p piped to openssl dgst), side by side, warm cache.
# Usage: scripts/bench/check-vs-openssl.sh [WORKDIR]   (needs unzip, openssl, binutils ar)
# Results are recorded by hand in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
cargo build --release -q -p esxlcm
ESXLCM=$PWD/target/release/esxlcm
BUNDLE=$WORK/check-1g.zip
# 48 VIBs of ~22 MB incompressible payload each: ~1.06 GiB.
[ -f "$BUNDLE" ] || "$ESXLCM" depot generate --preset tiny --payload-bytes 22400000 --out "$BUNDLE"
ls -l "$BUNDLE"
mapfile -t VIBS < <(unzip -Z1 "$BUNDLE" | grep '\.vib$')
export BUNDLE WORK

# What check --no-payloads computes: each VIB file's sha-256 (and its payloads' stored sha-256).
baseline_vib() { unzip -p "$BUNDLE" "$1" | openssl dgst -sha256 >/dev/null; }
# What a full check computes: the VIB's sha-256, each payload's stored sha-256, and the
# sha-256 and sha-1 of the gunzipped payload.
baseline_full() {
    local d; d=$(mktemp -d "$WORK/vib.XXXX")
    unzip -p "$BUNDLE" "$1" | tee "$d/f.vib" | openssl dgst -sha256 >/dev/null
    (cd "$d" && ar x f.vib)
    for p in "$d"/*; do
        case "$(basename "$p")" in f.vib|descriptor.xml|sig.pkcs7) continue ;; esac
        openssl dgst -sha256 "$p" >/dev/null
        gzip -dc "$p" | tee >(openssl dgst -sha1 >/dev/null) | openssl dgst -sha256 >/dev/null
    done
    rm -rf "$d"
}
export -f baseline_vib baseline_full

timeit() { # label, command...
    local label=$1; shift
    local best=
    for _ in $(seq "$RUNS"); do
        local s e t
        s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc)
        if [ -z "$best" ] || (( $(echo "$t < $best" | bc) )); then best=$t; fi
    done
    printf '%-58s %8.2f s\n' "$label" "$best"
}

cat "$BUNDLE" >/dev/null # warm the page cache for everyone
timeit "baseline: unzip -p | openssl sha256, 1 job" bash -c 'for v in "$@"; do baseline_vib "$v"; done' _ "${VIBS[@]}"
timeit "baseline: unzip -p | openssl sha256, 2 jobs" bash -c 'printf "%s\n" "$@" | xargs -P2 -I{} bash -c "baseline_vib {}"' _ "${VIBS[@]}"
timeit "esxlcm depot check --no-payloads --jobs 1" "$ESXLCM" depot check "$BUNDLE" --no-payloads --jobs 1
timeit "esxlcm depot check --no-payloads (2 jobs)" "$ESXLCM" depot check "$BUNDLE" --no-payloads
timeit "baseline full: + ar x, sha256 payload, gunzip|sha1+sha256, 2 jobs" bash -c 'printf "%s\n" "$@" | xargs -P2 -I{} bash -c "baseline_full {}"' _ "${VIBS[@]}"
timeit "esxlcm depot check (full, 2 jobs)" "$ESXLCM" depot check "$BUNDLE"
/usr/bin/time -f "esxlcm depot check (full): peak RSS %M KiB" "$ESXLCM" depot check "$BUNDLE" >/dev/null
