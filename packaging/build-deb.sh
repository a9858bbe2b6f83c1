#!/usr/bin/env bash
# Build the esxlcm .deb (target/debian/esxlcm_VERSION-1_ARCH.deb): the man pages and shell
# completions are made by the binary itself (`esxlcm man`, `esxlcm completions`) into
# target/packaging/, then `cargo deb` packs them with the binary and packaging/*.
#
#   packaging/build-deb.sh                          # the release profile (LTO: ~15 min on 2 cores)
#   PROFILE=dev NO_BUILD=1 packaging/build-deb.sh   # the binary `cargo test` built, stripped (CI)
# Extra arguments go to `cargo deb` (e.g. --fast for quicker, larger compression).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${PROFILE:-release}"
case "$profile" in
    release) dir=release ;;
    dev) dir=debug ;;
    *) echo "PROFILE must be release or dev" >&2; exit 2 ;;
esac
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --profile "$profile" -p esxlcm
fi
bin="$target/$dir/esxlcm"

out="$target/packaging"
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$bin" man --out "$out/man" >/dev/null
gzip -9n "$out/man"/*.1
"$bin" completions bash >"$out/completions/esxlcm.bash"
"$bin" completions zsh >"$out/completions/_esxlcm"
"$bin" completions fish >"$out/completions/esxlcm.fish"

cargo deb -p esxlcm --no-build --profile "$profile" --strip "$@"
