#!/usr/bin/env bash
# Load test of the vLCM-compatible API (the service of `esxlcm serve`) on loopback: 200 clients browsing
# depot content and offline depots over REST/HTTPS (random think time, mean 100 ms) and 10
# administrators editing drafts (create, set a component, validate as a task, delete) for
# 60 s, against an in-process server with a generated depot (GeneratorConfig::default:
# 3 base images, 320 component versions). Prints per-class request counts, errors and
# p50/p90/p99/max latency; exits non-zero on any error. The load generator shares the
# machine with the server: note the machine's other load (uptime) next to the numbers.
# Usage: scripts/bench/api-load.sh [--seconds N] [--readers N] [--editors N] [--think-ms N] [--sessions N]
#                                  [--dialect rest|jsonrpc]   (how readers ask; editors use REST)
# Results go into docs/PERFORMANCE.md ("API load test (crates/server)") by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build --release -q -p esxlcm-server --example api_load
echo "machine: $(nproc) cores; $(uptime)"
exec "${CARGO_TARGET_DIR:-target}/release/examples/api_load" "$@"
