#!/usr/bin/env bash
# Drive `esxlcm serve` with the unmodified official vSphere Automation Python SDK
# (tests/sdk). Builds the binary, makes a venv with the pinned packages
# (tests/sdk/requirements.txt) and runs pytest. Extra arguments go to pytest.
#
#   scripts/test-sdk.sh            # venv in target/sdk-venv (reused while requirements are unchanged)
#   SDK_VENV=/path scripts/test-sdk.sh -k upload
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${SDK_VENV:-$target/sdk-venv}"
python="${PYTHON:-python3}"

# `cargo test` passes the binary it built (crates/esxlcm/tests/sdk.rs); alone, build it.
if [ -z "${ESXLCM_BIN:-}" ]; then
    cargo build -p esxlcm
    export ESXLCM_BIN="$target/debug/esxlcm"
fi

stamp="$venv/.requirements"
if ! cmp -s tests/sdk/requirements.txt "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
    cp tests/sdk/requirements.txt "$stamp"
fi

cd tests/sdk
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q "$@"
