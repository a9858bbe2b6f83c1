#!/usr/bin/env bash
# Validate an OpenAPI document with the reference Python validator (openapi-spec-validator,
# pinned in tests/openapi/requirements.txt), in a venv made once in target/openapi-venv
# (remade when the requirements change).
#
#   scripts/validate-openapi.sh FILE.json
#   curl -s --cacert ca.pem https://127.0.0.1:8443/api/openapi.json > /tmp/o.json && scripts/validate-openapi.sh /tmp/o.json
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${OPENAPI_VENV:-$target/openapi-venv}"
python="${PYTHON:-python3}"
requirements="$root/tests/openapi/requirements.txt"

stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
exec "$venv/bin/openapi-spec-validator" "$@"
