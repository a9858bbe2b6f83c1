#!/usr/bin/env bash
# Benchmark: open and index a generated depot of ~20,000 VIBs / ~5,000 components from
# disk (tree and bundle), wall time and peak RSS, through the library example and the CLI.
# Usage: scripts/bench/index.sh [WORKDIR]. Results go into docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench}
mkdir -p "$WORK"
cargo build --release -q -p esxlcm -p esxlcm-depot --examples --bins
ESXLCM=$PWD/target/release/esxlcm
INDEX=$PWD/target/release/examples/index_depot
[ -d "$WORK/tree-20k" ] || "$ESXLCM" depot generate --preset benchmark --out "$WORK/tree-20k"
[ -f "$WORK/bundle-20k.zip" ] || "$ESXLCM" depot generate --preset benchmark --out "$WORK/bundle-20k.zip"
du -sh "$WORK/tree-20k" "$WORK/bundle-20k.zip"
for src in "$WORK/tree-20k" "$WORK/bundle-20k.zip"; do
    for _ in 1 2 3; do
        /usr/bin/time -f "  wall %e s, peak RSS %M KiB" "$INDEX" "$src"
    done
    /usr/bin/time -f "  CLI inspect --json: wall %e s, peak RSS %M KiB" "$ESXLCM" depot inspect "$src" --json >/dev/null
done
