#!/usr/bin/env bash
# Benchmark: `esxlcm image build --bundle` (the image's offline bundle) against `zip -0 -r` of
# the same bytes, for images of ~100 MiB and ~1 GiB, wall time and peak RSS; and the peak RSS
# of `esxlcm image build --iso` for both sizes. esxlcm stores VIBs in bundles (their payloads
# are compressed already), hence `zip -0`. The baseline zips the unpacked content of the
# bundle esxlcm wrote (VIBs, metadata.zip, index files): the same bytes in the same files.
# esxlcm also verifies every VIB's sha-256 and fsyncs its output, zip does neither, so zip
# is also timed followed by `sync FILE`.
# Usage: scripts/bench/build-vs-zip.sh [WORKDIR] [RUNS]   (needs zip, unzip, jq, GNU time;
# about 6 GiB free in WORKDIR). Results go into docs/PERFORMANCE.md by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench-build}
RUNS=${2:-3}
mkdir -p "$WORK"
cargo build --release -q -p esxlcm
ESXLCM=$PWD/target/release/esxlcm

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
MEASURE_FORMAT='  %-16s wall %6s s, peak RSS %7s KiB\n'

# Stand-in bootloader files: the builder copies them as opaque bytes.
BOOT=$WORK/bootloader
mkdir -p "$BOOT"
[ -f "$BOOT/EFIBOOT.IMG" ] || {
    head -c $((40 * 1024)) /dev/urandom >"$BOOT/ISOLINUX.BIN"
    head -c $((100 * 1024)) /dev/urandom >"$BOOT/MBOOT.C32"
    head -c $((1024 * 1024)) /dev/urandom >"$BOOT/EFIBOOT.IMG"
}

# A depot of one base image (12 components) and one add-on: the image's bundle holds all of
# it, 16 components in 25 VIBs; esx-base has the two boot payloads of --boot-modules, so 27
# payloads of the same size, which sets the image size. Payloads are random bytes: gzip
# leaves them as large as they are.
for mib in 100 1024; do
    payload=$((mib * 1024 * 1024 / 28))
    depot="$WORK/depot-$mib.zip"
    [ -f "$depot" ] || "$ESXLCM" depot generate --preset tiny --base-images 1 --addons 1 --boot-modules \
        --payload-bytes "$payload" --out "$depot" >/dev/null
    spec="$WORK/spec-$mib.json"
    "$ESXLCM" depot inspect "$depot" --json |
        jq '{base_image: {version: .base_images[-1].version}, add_on: {name: .addons[0].name, version: .addons[0].version}, components: {}}' >"$spec"
    build=("$ESXLCM" image build --spec "$spec" --depot "$depot" --overwrite)
    # The baseline's input: the bundle's own content, unpacked once.
    tree="$WORK/tree-$mib"
    if [ ! -d "$tree" ]; then
        "${build[@]}" --bundle "$WORK/ref.zip" >/dev/null
        mkdir -p "$tree.tmp"
        unzip -q "$WORK/ref.zip" -d "$tree.tmp"
        mv "$tree.tmp" "$tree"
        rm -f "$WORK/ref.zip"
    fi
    cat "$depot" >/dev/null
    find "$tree" -type f -exec cat {} + >/dev/null # warm the page cache for both sides
    rm -f "$WORK"/*.times
    echo "== ~$mib MiB image: depot $(du -h "$depot" | cut -f1), bundle content $(du -sh "$tree" | cut -f1)" \
        "in $(find "$tree" -name '*.vib' | wc -l) VIBs"
    for run in $(seq 1 "$RUNS"); do
        echo " run $run (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        measure esxlcm-bundle "$WORK/ours.zip" "${build[@]}" --bundle "$WORK/ours.zip"
        measure zip "$WORK/zip.zip" sh -c 'cd "$1" && zip -0 -r -q -X "$2" .' sh "$tree" "$WORK/zip.zip"
        measure zip+fsync "$WORK/zip.zip" \
            sh -c 'cd "$1" && zip -0 -r -q -X "$2" . && sync "$2"' sh "$tree" "$WORK/zip.zip"
        measure esxlcm-iso "$WORK/ours.iso" "${build[@]}" --iso "$WORK/ours.iso" --bootloader-dir "$BOOT"
    done
    ls -l "$WORK/ours.zip" "$WORK/zip.zip" "$WORK/ours.iso" | awk '{ printf "  %s: %s bytes\n", $9, $5 }'
    for label in esxlcm-bundle zip zip+fsync esxlcm-iso; do
        printf '  median %-15s %s\n' "$label" "$(median "$label")"
    done
    rm -f "$WORK/ours.zip" "$WORK/zip.zip" "$WORK/ours.iso"
done
