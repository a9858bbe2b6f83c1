#!/usr/bin/env bash
# Benchmark: write an ESXi-shaped ISO from a ~100 MiB and a ~1 GiB file tree with xorriso
# (the community mkisofs recipe) and with crates/iso (examples/tree_to_iso), wall time and
# peak RSS. Our writer fsyncs its output (atomic write), xorriso does not, so xorriso is also
# timed followed by `sync FILE` (an fsync of the image only).
# Usage: scripts/bench/iso-vs-xorriso.sh [WORKDIR] [RUNS]. Results go into docs/PERFORMANCE.md
# by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
WORK=${1:-/tmp/esxlcm-bench-iso}
RUNS=${2:-3}
mkdir -p "$WORK"
cargo build --release -q -p esxlcm-iso --examples
OURS=$PWD/target/release/examples/tree_to_iso
TIME=(/usr/bin/time -f "wall %e s, peak RSS %M KiB")

# tree DIR MIB: boot files as on ESXi media plus 64 module files of random bytes; about a
# quarter of the bytes in one large payload (like IMGPAYLD.TGZ), the rest spread evenly.
tree() {
    local dir=$1 mib=$2
    [ -f "$dir/.done" ] && return
    rm -rf "$dir"
    mkdir -p "$dir/EFI/BOOT" "$dir/UPGRADE"
    head -c $((40 * 1024)) /dev/urandom >"$dir/ISOLINUX.BIN"
    head -c $((1024 * 1024)) /dev/urandom >"$dir/EFIBOOT.IMG"
    printf 'kernel=/b.b00\nmodules=/s.v00\n' >"$dir/BOOT.CFG"
    cp "$dir/BOOT.CFG" "$dir/EFI/BOOT/BOOT.CFG"
    printf '<esxVersion>8.0.3</esxVersion>\n' >"$dir/UPGRADE/METADATA.XML"
    head -c $((mib * 1024 * 1024 / 4)) /dev/urandom >"$dir/IMGPAYLD.TGZ"
    local each=$((mib * 1024 * 1024 * 3 / 4 / 64))
    for i in $(seq -w 0 63); do
        head -c "$each" /dev/urandom >"$dir/M$i.V00"
    done
    touch "$dir/.done"
}

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
MEASURE_FORMAT='  %-22s wall %6s s, peak RSS %6s KiB\n'

XORRISO=(xorriso -as mkisofs -quiet -relaxed-filenames -J -R -V ESXI-BENCH
    -b ISOLINUX.BIN -c BOOT.CAT -no-emul-boot -boot-load-size 4 -boot-info-table
    -eltorito-alt-boot -e EFIBOOT.IMG -no-emul-boot -m .done)
# The USB-hybrid variant (what `image build` writes by default): isohybrid MBR boot code and
# a GPT whose EFI partition is EFIBOOT.IMG, xorriso's spelling of the same layout.
MBR=/usr/lib/ISOLINUX/isohdpfx.bin
XORRISO_HYBRID=("${XORRISO[@]}" -isohybrid-mbr "$MBR" -isohybrid-gpt-basdat)

echo "baseline: $(xorriso -version 2>/dev/null | head -1)"
for mib in 100 1024; do
    src="$WORK/tree-$mib"
    tree "$src" "$mib"
    rm -f "$WORK"/*.times
    echo "== $mib MiB tree: $(du -sh --exclude=.done "$src" | cut -f1), $(find "$src" -type f ! -name .done | wc -l) files"
    for run in $(seq 1 "$RUNS"); do
        # The 1-minute load average: other builds share the machine; the doc reports it.
        echo " run $run (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        measure xorriso "$WORK/xorriso.iso" "${XORRISO[@]}" -o "$WORK/xorriso.iso" "$src"
        measure xorriso+fsync "$WORK/xorriso.iso" \
            sh -c 'out=$1 src=$2; shift 2; "$@" -o "$out" "$src" && sync "$out"' sh "$WORK/xorriso.iso" "$src" "${XORRISO[@]}"
        # Our example takes every file of the tree: keep the marker file out of it.
        mv "$src/.done" "$WORK/.done-$mib"
        measure esxlcm-iso "$WORK/ours.iso" "$OURS" "$src" "$WORK/ours.iso" ESXI-BENCH
        mv "$WORK/.done-$mib" "$src/.done"
        measure xorriso-hybrid "$WORK/xorriso.iso" "${XORRISO_HYBRID[@]}" -o "$WORK/xorriso.iso" "$src"
        mv "$src/.done" "$WORK/.done-$mib"
        measure esxlcm-iso-hybrid "$WORK/ours.iso" "$OURS" "$src" "$WORK/ours.iso" ESXI-BENCH "$MBR"
        mv "$WORK/.done-$mib" "$src/.done"
    done
    ls -l "$WORK/xorriso.iso" "$WORK/ours.iso" | awk '{ printf "  %s: %s bytes\n", $9, $5 }'
    for label in xorriso xorriso+fsync esxlcm-iso xorriso-hybrid esxlcm-iso-hybrid; do
        printf '  median %-15s %s\n' "$label" "$(median "$label")"
    done
    rm -f "$WORK/xorriso.iso" "$WORK/ours.iso"
done
